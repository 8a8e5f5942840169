package server

import (
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/meridian-dns/meridian/metrics"
	"github.com/meridian-dns/meridian/routing"
	"github.com/meridian-dns/meridian/zones"
)

// metricsZone has a www service in two regions that clients are placed in
// by network (no GeoIP database is needed): 192.0.2.0/24 in us-east,
// 198.51.100.0/24 in eu-west. Everyone else is in us-east, the first
// region. big is too large for a UDP reply without EDNS.
var metricsZone = `
zone: example.com.
soa: {mname: ns1.example.com., rname: hostmaster.example.com., serial: 1, minimum: 300}
ns: [ns1.example.com.]
records: |
  ns1  IN A    192.0.2.53
  @    IN MX 10 ns1
  big  IN TXT  "` + strings.Repeat("x", 200) + `"
  big  IN TXT  "` + strings.Repeat("y", 200) + `"
  big  IN TXT  "` + strings.Repeat("z", 200) + `"
regions:
  us-east: { location: [39.04, -77.49], networks: [192.0.2.0/24] }
  eu-west: { location: [53.35, -6.26], networks: [198.51.100.0/24] }
services:
  www:
    ttl: 30
    select: all
    fallback: [us-east, eu-west]
    endpoints:
      - { region: us-east, address: 192.0.2.10 }
      - { region: eu-west, address: 198.51.100.10 }
`

// downHealth is a routing.Health reporting the endpoints whose keys it
// holds as down. It is read-only once built, so safe for concurrent use.
type downHealth map[string]bool

func (h downHealth) Endpoint(ep *zones.Endpoint) routing.EndpointState {
	return routing.EndpointState{Up: !h[ep.Key], Load: -1}
}

func (downHealth) MinHealthy(*zones.Service, int) int { return 1 }

// newMetricsHandler returns a handler over metricsZone with health and
// metrics on a fresh registry.
func newMetricsHandler(t testing.TB, opts Options, health routing.Health) (*Handler, *prometheus.Registry) {
	t.Helper()
	snap, err := zones.Load(writeZones(t, map[string]string{"example.com.yaml": metricsZone}), nil)
	if err != nil {
		t.Fatal(err)
	}
	var p atomic.Pointer[zones.Snapshot]
	p.Store(snap)
	h := NewHandler(&p, routing.New(nil, health), opts, slog.New(slog.DiscardHandler))
	reg := prometheus.NewRegistry()
	h.Metrics = metrics.New(reg, "test")
	return h, reg
}

// serveQuery answers m as if it came from resolver over tr.
func serveQuery(t *testing.T, h *Handler, m *dns.Msg, resolver string, tr Transport) *dns.Msg {
	t.Helper()
	out := h.Serve(mustPack(t, m), netip.MustParseAddr(resolver), tr, nil)
	if out == nil {
		t.Fatal("query dropped")
	}
	r := new(dns.Msg)
	if err := r.Unpack(out); err != nil {
		t.Fatalf("reply does not unpack: %v", err)
	}
	return r
}

// subnetQuery is an EDNS query for name carrying a Client Subnet option
// for the IPv4 network p.
func subnetQuery(name string, qtype uint16, p string) *dns.Msg {
	pr := netip.MustParsePrefix(p)
	m := query(name, qtype)
	m.SetEdns0(1232, false)
	m.IsEdns0().Option = []dns.EDNS0{&dns.EDNS0_SUBNET{Code: dns.EDNS0SUBNET, Family: 1,
		SourceNetmask: uint8(pr.Bits()), Address: net.IP(pr.Addr().AsSlice())}}
	return m
}

// series returns the values of the metric family name in reg, keyed by
// its labels as `k=v,k=v` in name order ("" for a metric without labels).
// Histograms are reported by their sample count.
func series(t *testing.T, reg *prometheus.Registry, name string) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName()+"="+l.GetValue())
			}
			sort.Strings(labels)
			v := m.GetCounter().GetValue() + m.GetGauge().GetValue() + float64(m.GetHistogram().GetSampleCount())
			out[strings.Join(labels, ",")] = v
		}
	}
	return out
}

func expectSeries(t *testing.T, reg *prometheus.Registry, name string, want map[string]float64) {
	t.Helper()
	got := series(t, reg, name)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("%s\n got %v\nwant %v", name, got, want)
	}
}

func TestMetricsQueries(t *testing.T) {
	h, reg := newMetricsHandler(t, Options{ECS: true}, nil)

	serveQuery(t, h, query("www.example.com.", dns.TypeA), "192.0.2.1", UDP)
	serveQuery(t, h, query("www.example.com.", dns.TypeA), "198.51.100.1", TCP)
	serveQuery(t, h, query("example.com.", dns.TypeMX), "192.0.2.1", TCP)
	serveQuery(t, h, query("nope.example.com.", dns.TypeA), "192.0.2.1", UDP)
	serveQuery(t, h, query("www.example.org.", dns.TypeA), "192.0.2.1", UDP)
	if r := serveQuery(t, h, query("big.example.com.", dns.TypeTXT), "192.0.2.1", UDP); !r.Truncated {
		t.Error("big TXT over UDP was not truncated")
	}
	if r := serveQuery(t, h, query("big.example.com.", dns.TypeTXT), "192.0.2.1", TCP); r.Truncated {
		t.Error("big TXT over TCP was truncated")
	}
	// The resolver is in us-east; its client subnet is in eu-west.
	r := serveQuery(t, h, subnetQuery("www.example.com.", dns.TypeA, "198.51.100.0/24"), "192.0.2.1", UDP)
	if len(r.Answer) != 1 || r.Answer[0].(*dns.A).A.String() != "198.51.100.10" {
		t.Errorf("ECS answer %v, want eu-west", r.Answer)
	}
	// A header followed by garbage: FORMERR, outside any zone.
	garbage := append(mustPack(t, query("www.example.com.", dns.TypeA))[:12:12], 0xff, 0xff, 0xff)
	garbage[5] = 1
	if out := h.Serve(garbage, testClient, UDP, nil); out == nil || out[3]&0xf != dns.RcodeFormatError {
		t.Fatalf("garbage answered %x, want FORMERR", out)
	}

	expectSeries(t, reg, "meridian_dns_queries_total", map[string]float64{
		"qtype=A,transport=udp,zone=example.com.":   3,
		"qtype=A,transport=tcp,zone=example.com.":   1,
		"qtype=MX,transport=tcp,zone=example.com.":  1,
		"qtype=TXT,transport=udp,zone=example.com.": 1,
		"qtype=TXT,transport=tcp,zone=example.com.": 1,
		"qtype=A,transport=udp,zone=":               1,
		"qtype=none,transport=udp,zone=":            1,
	})
	expectSeries(t, reg, "meridian_dns_responses_total", map[string]float64{
		"rcode=NOERROR,zone=example.com.":  6,
		"rcode=NXDOMAIN,zone=example.com.": 1,
		"rcode=REFUSED,zone=":              1,
		"rcode=FORMERR,zone=":              1,
	})
	expectSeries(t, reg, "meridian_dns_request_duration_seconds", map[string]float64{"": 9})
	expectSeries(t, reg, "meridian_dns_truncated_responses_total", map[string]float64{"": 1})
	expectSeries(t, reg, "meridian_dns_ecs_queries_total", map[string]float64{"": 1})
	expectSeries(t, reg, "meridian_geo_answers_total", map[string]float64{
		"region=us-east,service=www.example.com.,zone=example.com.": 1,
		"region=eu-west,service=www.example.com.,zone=example.com.": 2,
	})
	expectSeries(t, reg, "meridian_geo_failovers_total", map[string]float64{})
	expectSeries(t, reg, "meridian_geo_all_down_answers_total", map[string]float64{})
	expectSeries(t, reg, "meridian_dns_panics_total", map[string]float64{"": 0})
}

func TestMetricsFailover(t *testing.T) {
	h, reg := newMetricsHandler(t, Options{}, downHealth{"www.example.com./192.0.2.10": true})
	for range 3 {
		r := serveQuery(t, h, query("www.example.com.", dns.TypeA), "192.0.2.1", UDP)
		if len(r.Answer) != 1 || r.Answer[0].(*dns.A).A.String() != "198.51.100.10" {
			t.Fatalf("answer %v with us-east down, want eu-west", r.Answer)
		}
	}
	// A client that prefers eu-west is no failover.
	serveQuery(t, h, query("www.example.com.", dns.TypeA), "198.51.100.1", UDP)

	expectSeries(t, reg, "meridian_geo_failovers_total", map[string]float64{
		"from=us-east,service=www.example.com.,to=eu-west": 3,
	})
	expectSeries(t, reg, "meridian_geo_answers_total", map[string]float64{
		"region=eu-west,service=www.example.com.,zone=example.com.": 4,
	})
	expectSeries(t, reg, "meridian_geo_all_down_answers_total", map[string]float64{})
}

func TestMetricsAllDown(t *testing.T) {
	h, reg := newMetricsHandler(t, Options{}, downHealth{"www.example.com./192.0.2.10": true, "www.example.com./198.51.100.10": true})
	r := serveQuery(t, h, query("www.example.com.", dns.TypeA), "192.0.2.1", UDP)
	if len(r.Answer) != 1 || r.Answer[0].(*dns.A).A.String() != "192.0.2.10" {
		t.Fatalf("all-down answer %v, want the preferred region served anyway", r.Answer)
	}
	expectSeries(t, reg, "meridian_geo_all_down_answers_total", map[string]float64{
		"mode=serve_all,service=www.example.com.": 1,
	})
	expectSeries(t, reg, "meridian_geo_answers_total", map[string]float64{
		"region=us-east,service=www.example.com.,zone=example.com.": 1,
	})
	expectSeries(t, reg, "meridian_geo_failovers_total", map[string]float64{})
}

// TestMetricsCardinality sends queries a client controls entirely (random
// names, random types, in and out of our zones) and checks the labels stay
// within small fixed sets: nothing is labelled by query name or client.
func TestMetricsCardinality(t *testing.T) {
	h, reg := newMetricsHandler(t, Options{ECS: true}, nil)
	rnd := rand.New(rand.NewPCG(1, 2))
	label := func() string {
		b := make([]byte, 1+rnd.IntN(20))
		for i := range b {
			b[i] = "abcdefghijklmnopqrstuvwxyz0123456789-"[rnd.IntN(37)]
		}
		return "q" + string(b)
	}
	names := map[string]bool{}
	for i := range 1000 {
		name := label() + ".example.com."
		if i%2 == 1 {
			name = label() + "." + label() + "."
		}
		names[strings.TrimSuffix(name, ".")] = true
		// Half the types are drawn from the low range where the named
		// types are, half from the whole range.
		qtype := uint16(rnd.IntN(300))
		if i%4 >= 2 {
			qtype = uint16(rnd.Uint32())
		}
		m := query(name, qtype)
		tr := UDP
		if i%3 == 0 {
			tr = TCP
		}
		client := netip.AddrFrom4([4]byte{byte(rnd.Uint32()), byte(rnd.Uint32()), byte(rnd.Uint32()), byte(rnd.Uint32())})
		h.Serve(mustPack(t, m), client, tr, nil)
	}

	knownQType := map[string]bool{"none": true}
	for qt := range 1 << 16 {
		knownQType[metrics.QType(uint16(qt))] = true
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	values := map[string]map[string]bool{}
	total := 0
	for _, mf := range mfs {
		if !strings.HasPrefix(mf.GetName(), "meridian_") {
			continue
		}
		for _, m := range mf.GetMetric() {
			total++
			for _, l := range m.GetLabel() {
				switch l.GetName() {
				case "qname", "name", "client", "ecs", "address":
					t.Errorf("%s has a %s label", mf.GetName(), l.GetName())
				}
				if names[strings.TrimSuffix(l.GetValue(), ".")] {
					t.Errorf("%s carries the query name %s in label %s", mf.GetName(), l.GetValue(), l.GetName())
				}
				if values[l.GetName()] == nil {
					values[l.GetName()] = map[string]bool{}
				}
				values[l.GetName()][l.GetValue()] = true
			}
		}
	}
	for v := range values["qtype"] {
		if !knownQType[v] {
			t.Errorf("qtype label value %q is outside the fixed set", v)
		}
	}
	if n := len(values["qtype"]); n > len(knownQType) || n < 10 {
		t.Errorf("%d qtype label values", n)
	}
	for v := range values["zone"] {
		if v != "example.com." && v != "" {
			t.Errorf("zone label value %q is not one of our zones", v)
		}
	}
	for v := range values["transport"] {
		if v != "udp" && v != "tcp" {
			t.Errorf("transport label value %q", v)
		}
	}
	if n := len(values["rcode"]); n > 6 {
		t.Errorf("%d rcode label values: %v", n, values["rcode"])
	}
	// Every qtype on both zones and transports, every rcode on both zones,
	// and a few more: far below one series per query.
	if limit := 2*2*len(knownQType) + 2*6 + 10; total > limit {
		t.Errorf("%d meridian series after 1000 random queries, want at most %d", total, limit)
	}
	t.Logf("%d series; qtype values %d, rcode values %v", total, len(values["qtype"]), values["rcode"])
}

// lineWriter hands every write (one per log record) to a channel, so tests
// wait for records instead of sleeping.
type lineWriter chan string

func (w lineWriter) Write(p []byte) (int, error) {
	w <- string(p)
	return len(p), nil
}

// nextLine returns the next log record written to w.
func nextLine(t *testing.T, w lineWriter) string {
	t.Helper()
	select {
	case line := <-w:
		return line
	case <-time.After(10 * time.Second):
		t.Fatal("no query log record written")
		return ""
	}
}

// sentinel queues an entry behind everything logged so far, bypassing
// sampling: once its record is written, every earlier entry has been.
func sentinel(l *SampledLog) {
	l.entries <- QueryLogEntry{Name: "sentinel."}
}

func TestQueryLog(t *testing.T) {
	h, _ := newMetricsHandler(t, Options{ECS: true}, nil)
	w := make(lineWriter, 16)
	l := NewSampledLog(slog.New(slog.NewTextHandler(w, nil)), 1)
	t.Cleanup(l.Close)
	h.QueryLog = l

	serveQuery(t, h, subnetQuery("www.example.com.", dns.TypeA, "198.51.100.0/24"), "127.0.0.1", UDP)
	serveQuery(t, h, query("nope.example.com.", dns.TypeAAAA), "2001:db8::53", TCP)

	first := nextLine(t, w)
	for _, want := range []string{"msg=query", "client=127.0.0.1", "qname=www.example.com.", "qtype=A ", "transport=udp",
		"rcode=NOERROR", "answers=1", "duration=", "ecs=198.51.100.0/24", "region=eu-west"} {
		if !strings.Contains(first, want) {
			t.Errorf("query log record lacks %q:\n%s", want, first)
		}
	}
	second := nextLine(t, w)
	for _, want := range []string{"client=2001:db8::53", "qname=nope.example.com.", "qtype=AAAA", "transport=tcp", "rcode=NXDOMAIN", "answers=0"} {
		if !strings.Contains(second, want) {
			t.Errorf("query log record lacks %q:\n%s", want, second)
		}
	}
	for _, absent := range []string{"ecs=", "region="} {
		if strings.Contains(second, absent) {
			t.Errorf("record of a static answer without ECS has %s:\n%s", absent, second)
		}
	}
	if d := l.Dropped.Load(); d != 0 {
		t.Errorf("%d entries dropped", d)
	}
}

func TestQueryLogSample(t *testing.T) {
	entry := QueryLogEntry{Client: testClient, Name: "www.example.com.", Type: dns.TypeA}
	for _, tc := range []struct {
		sample   float64
		n        int
		min, max int
	}{
		{sample: 0, n: 1000, min: 0, max: 0},
		{sample: 0.5, n: 2000, min: 800, max: 1200},
		{sample: 1, n: 1000, min: 1000, max: 1000},
	} {
		t.Run(fmt.Sprint(tc.sample), func(t *testing.T) {
			w := make(lineWriter, tc.n+1)
			l := NewSampledLog(slog.New(slog.NewTextHandler(w, nil)), tc.sample)
			t.Cleanup(l.Close)
			for range tc.n {
				if l.Sample() {
					l.Log(entry)
				}
			}
			sentinel(l)
			written := 0
			for {
				line := nextLine(t, w)
				if strings.Contains(line, "qname=sentinel.") {
					break
				}
				written++
			}
			if written < tc.min || written > tc.max {
				t.Errorf("sample %v: %d of %d entries written, want %d to %d", tc.sample, written, tc.n, tc.min, tc.max)
			}
			if d := l.Dropped.Load(); d != 0 {
				t.Errorf("%d entries dropped", d)
			}
		})
	}
}

// blockedWriter never returns from Write until gate is closed: a log
// destination that has stopped draining.
type blockedWriter struct{ gate chan struct{} }

func (w blockedWriter) Write(p []byte) (int, error) {
	<-w.gate
	return len(p), nil
}

// TestQueryLogNeverBlocks checks that a stuck log destination costs the
// query path dropped entries, not waiting.
func TestQueryLogNeverBlocks(t *testing.T) {
	w := blockedWriter{gate: make(chan struct{})}
	l := NewSampledLog(slog.New(slog.NewTextHandler(w, nil)), 1)
	t.Cleanup(func() {
		close(w.gate)
		l.Close()
	})
	const n = 10000
	returned := make(chan struct{})
	go func() {
		defer close(returned)
		for i := range n {
			l.Log(QueryLogEntry{Client: testClient, Name: fmt.Sprintf("q%d.example.com.", i), Type: dns.TypeA})
		}
	}()
	select {
	case <-returned:
	case <-time.After(30 * time.Second):
		t.Fatal("Log blocked behind a stuck writer")
	}
	// At most the buffer and the record being written are held.
	if d := l.Dropped.Load(); d < n-uint64(cap(l.entries))-1 {
		t.Errorf("%d of %d entries dropped, want at least %d", d, n, n-cap(l.entries)-1)
	}

	// The handler keeps answering while the log is stuck.
	h, _ := newMetricsHandler(t, Options{}, nil)
	h.QueryLog = l
	for range 100 {
		if r := serveQuery(t, h, query("www.example.com.", dns.TypeA), "192.0.2.1", UDP); r.Rcode != dns.RcodeSuccess {
			t.Fatalf("rcode %s", dns.RcodeToString[r.Rcode])
		}
	}
	if d := l.Dropped.Load(); d < n-uint64(cap(l.entries))-1+100 {
		t.Errorf("queries answered while the log is stuck were not dropped: %d dropped", d)
	}
}

// TestQueryLogConcurrent logs from many goroutines while the writer runs
// (for -race).
func TestQueryLogConcurrent(t *testing.T) {
	h, reg := newMetricsHandler(t, Options{ECS: true}, nil)
	w := make(lineWriter, 8*200)
	l := NewSampledLog(slog.New(slog.NewTextHandler(w, nil)), 1)
	t.Cleanup(l.Close)
	h.QueryLog = l
	queries := [][]byte{
		mustPack(t, query("www.example.com.", dns.TypeA)),
		mustPack(t, subnetQuery("www.example.com.", dns.TypeA, "198.51.100.0/24")),
		mustPack(t, query("nope.example.com.", dns.TypeA)),
	}
	done := make(chan struct{})
	for g := range 8 {
		go func() {
			defer func() { done <- struct{}{} }()
			buf := make([]byte, 4096)
			for i := range 200 {
				h.Serve(queries[(g+i)%len(queries)], testClient, UDP, buf)
			}
		}()
	}
	for range 8 {
		<-done
	}
	got := series(t, reg, "meridian_dns_queries_total")
	if got["qtype=A,transport=udp,zone=example.com."] != 1600 {
		t.Errorf("queries %v, want 1600", got)
	}
	sentinel(l)
	written := 0
	for !strings.Contains(nextLine(t, w), "qname=sentinel.") {
		written++
	}
	if written+int(l.Dropped.Load()) != 1600 {
		t.Errorf("%d written + %d dropped, want 1600", written, l.Dropped.Load())
	}
}
