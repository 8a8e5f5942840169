package server

import (
	"bytes"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/meridian-dns/meridian/dns/rrl"
	"github.com/meridian-dns/meridian/geo"
	"github.com/meridian-dns/meridian/geo/geotest"
	"github.com/meridian-dns/meridian/geo/mmdbbuild"
	"github.com/meridian-dns/meridian/metrics"
	"github.com/meridian-dns/meridian/routing"
	"github.com/meridian-dns/meridian/zones"
)

// corpusZone exercises every kind of answer: static data of many types,
// additional-section processing, wildcards, CNAME chains, a delegation,
// and services with every selection policy, both families, failover and
// the all_down modes.
var corpusZone = `
zone: example.com.
soa: {mname: ns1.example.com., rname: hostmaster.example.com., serial: 42, minimum: 300, ttl: 3600}
ns: [ns1.example.com., ns2.example.com.]
records: |
  ns1          IN A     192.0.2.53
  ns1          IN AAAA  2001:db8::53
  ns2          IN A     192.0.2.54
  @            IN MX 10 mail
  @            IN MX 20 mail2.example.net.
  @            IN TXT   "v=spf1 -all"
  mail         IN A     192.0.2.25
  mail         IN AAAA  2001:db8::25
  static       IN A     192.0.2.80
  static       IN A     192.0.2.81
  static       IN AAAA  2001:db8::80
  alias        IN CNAME static
  chain        IN CNAME alias
  out          IN CNAME elsewhere.example.net.
  svc-alias    IN CNAME geo
  *.wild       IN A     192.0.2.99
  *.wild       IN TXT   "wildcard"
  _sip._tcp    IN SRV   10 60 5060 sip
  sip          IN A     192.0.2.60
  big          IN TXT   "` + strings.Repeat("x", 200) + `"
  big          IN TXT   "` + strings.Repeat("y", 200) + `"
  big          IN TXT   "` + strings.Repeat("z", 200) + `"
  sub          IN NS    ns.sub
  sub          IN DS    12345 13 2 ` + strings.Repeat("ab", 32) + `
  ns.sub       IN A     192.0.2.200
  geo          IN TXT   "static text beside a service"
regions:
  us-east:  { location: [39.04, -77.49], countries: [US, CA] }
  eu-west:  { location: [53.35, -6.26],  continents: [EU] }
  ap-south: { location: [1.35, 103.82],  networks: [203.0.113.0/25] }
  sa-east:  { location: [-23.55, -46.63] }
services:
  geo:
    ttl: 30
    answers: 2
    degraded_ttl: 10
    endpoints:
      - { region: us-east, address: 192.0.2.10, weight: 3 }
      - { region: us-east, address: 192.0.2.11 }
      - { region: us-east, address: 192.0.2.12, weight: 0 }
      - { region: us-east, address: "2001:db8::10" }
      - { region: eu-west, address: 198.51.100.10 }
      - { region: eu-west, address: 198.51.100.11 }
      - { region: eu-west, address: "2001:db8:e::10" }
      - { region: ap-south, address: 203.0.113.10 }
      - { region: sa-east, address: 192.0.2.40 }
  rr:
    select: round_robin
    answers: 2
    endpoints:
      - { region: us-east, address: 192.0.2.20 }
      - { region: us-east, address: 192.0.2.21 }
      - { region: us-east, address: 192.0.2.22 }
      - { region: eu-west, address: 198.51.100.20 }
  rnd:
    select: random
    answers: 2
    endpoints:
      - { region: us-east, address: 192.0.2.30 }
      - { region: us-east, address: 192.0.2.31 }
      - { region: us-east, address: 192.0.2.32 }
      - { region: eu-west, address: 198.51.100.30 }
  sticky:
    select: hash
    answers: 1
    endpoints:
      - { region: us-east, address: 192.0.2.50 }
      - { region: us-east, address: 192.0.2.51 }
      - { region: eu-west, address: 198.51.100.50 }
      - { region: eu-west, address: 198.51.100.51 }
      - { region: eu-west, address: "2001:db8:e::50" }
  firsts:
    select: first
    answers: 1
    endpoints:
      - { region: us-east, address: 192.0.2.60 }
      - { region: us-east, address: 192.0.2.61 }
  every:
    select: all
    routing: weighted
    endpoints:
      - { region: us-east, address: 192.0.2.70, weight: 2 }
      - { region: eu-west, address: 198.51.100.70 }
      - { region: ap-south, address: "2001:db8:a::70" }
  fast:
    select: fastest
    answers: 1
    endpoints:
      - { region: us-east, address: 192.0.2.90 }
      - { region: us-east, address: 192.0.2.91 }
  least:
    select: least_loaded
    endpoints:
      - { region: us-east, address: 192.0.2.100 }
      - { region: us-east, address: 192.0.2.101 }
  failed:
    routing: failover
    fallback: [us-east, eu-west]
    endpoints:
      - { region: us-east, address: 192.0.2.110 }
      - { region: eu-west, address: 198.51.100.110 }
  dead:
    endpoints:
      - { region: us-east, address: 192.0.2.120 }
      - { region: eu-west, address: 198.51.100.120 }
  deadnodata:
    all_down: nodata
    endpoints:
      - { region: us-east, address: 192.0.2.121 }
  deadfallback:
    all_down: fallback
    fallback_addresses: [192.0.2.250]
    endpoints:
      - { region: us-east, address: 192.0.2.122 }
  many:
    select: all
    endpoints:
` + manyEndpoints(40) + `
  withcname:
    endpoints:
      - { region: us-east, address: 192.0.2.130 }
      - { region: eu-west, cname: lb.example.net. }
  "*.cdn":
    routing: failover
    fallback: [eu-west, us-east]
    endpoints:
      - { region: eu-west, address: 198.51.100.77 }
      - { region: us-east, address: 192.0.2.77 }
`

// manyEndpoints is n endpoints in us-east: an answer too big for 512
// bytes.
func manyEndpoints(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "      - { region: us-east, address: 192.0.2.%d }\n", 140+i)
	}
	return b.String()
}

// corpusHealth is the health the corpus is answered under: the us-east
// endpoints of failed and everything of the dead services down, latencies
// and loads for fastest and least_loaded.
var corpusHealth = staticHealth{
	"failed.example.com./192.0.2.110":       {Up: false, Load: -1},
	"dead.example.com./192.0.2.120":         {Up: false, Load: -1},
	"dead.example.com./198.51.100.120":      {Up: false, Load: -1},
	"deadnodata.example.com./192.0.2.121":   {Up: false, Load: -1},
	"deadfallback.example.com./192.0.2.122": {Up: false, Load: -1},
	"fast.example.com./192.0.2.90":          {Up: true, Latency: 0.030, Load: -1},
	"fast.example.com./192.0.2.91":          {Up: true, Latency: 0.010, Load: -1},
	"least.example.com./192.0.2.100":        {Up: true, Load: 0.9},
	"least.example.com./192.0.2.101":        {Up: true, Load: 0.2},
}

// staticHealth is a routing.Health from a fixed table of endpoint states
// by key; endpoints not in it are up.
type staticHealth map[string]routing.EndpointState

func (h staticHealth) Endpoint(ep *zones.Endpoint) routing.EndpointState {
	if st, ok := h[ep.Key]; ok {
		return st
	}
	return routing.EndpointState{Up: true, Load: -1}
}

func (staticHealth) MinHealthy(*zones.Service, int) int { return 1 }

// corpusNetworks places the corpus's clients.
var corpusNetworks = append([]mmdbbuild.Entry{
	{Network: netip.MustParsePrefix("100.64.0.0/10"), Country: "BR", Continent: "SA", Latitude: -15.8, Longitude: -47.9, HasCoordinates: true},
	{Network: netip.MustParsePrefix("41.0.0.0/8"), Country: "ZA", Continent: "AF", Latitude: -26.2, Longitude: 28.0, HasCoordinates: true},
}, geoNetworks...)

// pathPair is a handler with the fast path and one without, over
// snapshots of the same zone files, with identically seeded routers that
// see the same health.
type pathPair struct {
	fast, full       *Handler
	fastReg, fullReg *prometheus.Registry
	fastLog, fullLog *recordLog
	// dir holds the zone files; snaps are the handlers' snapshot pointers,
	// which reload swaps; health is what both routers see.
	dir    string
	snaps  []*atomic.Pointer[zones.Snapshot]
	health *changingHealth
}

// reload loads the zone files again into both handlers, as a reload does.
func (p *pathPair) reload(t *testing.T) {
	t.Helper()
	for _, ptr := range p.snaps {
		snap, err := zones.Load(p.dir, nil)
		if err != nil {
			t.Fatal(err)
		}
		ptr.Store(snap)
	}
}

// changingHealth is corpusHealth with, when down is set, every endpoint in
// down failed too: a health change between two steps of a test.
type changingHealth struct {
	down atomic.Pointer[netip.Prefix]
}

func (h *changingHealth) Endpoint(ep *zones.Endpoint) routing.EndpointState {
	if d := h.down.Load(); d != nil && d.Contains(ep.Address) {
		return routing.EndpointState{Up: false, Load: -1}
	}
	return corpusHealth.Endpoint(ep)
}

func (h *changingHealth) MinHealthy(s *zones.Service, total int) int {
	return corpusHealth.MinHealthy(s, total)
}

// Version numbers the health's two states, so that the answer cache
// remembers routing decisions, and must forget them when the health
// changes (routing.Versioned).
func (h *changingHealth) Version() uint64 {
	if h.down.Load() != nil {
		return 1
	}
	return 0
}

// recordLog keeps every query log entry, without its duration.
type recordLog struct{ entries []QueryLogEntry }

func (l *recordLog) Log(e QueryLogEntry) {
	e.Duration = 0
	l.entries = append(l.entries, e)
}

func newPathPair(t *testing.T, opts Options, rrlCfg *rrl.Config) *pathPair {
	t.Helper()
	dir := writeZones(t, map[string]string{"example.com.yaml": corpusZone, "example.net.yaml": memoZone})
	src, err := geo.NewSource(geo.Paths{City: geotest.WriteMMDB(t, corpusNetworks)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	pair := &pathPair{fastReg: prometheus.NewRegistry(), fullReg: prometheus.NewRegistry(), fastLog: &recordLog{}, fullLog: &recordLog{},
		dir: dir, health: &changingHealth{}}
	mk := func(full bool, reg *prometheus.Registry, log *recordLog) *Handler {
		// Each handler has a snapshot of its own, since selection state
		// (round robin counters) lives in the snapshot.
		snap, err := zones.Load(dir, nil)
		if err != nil {
			t.Fatal(err)
		}
		p := new(atomic.Pointer[zones.Snapshot])
		p.Store(snap)
		pair.snaps = append(pair.snaps, p)
		o := opts
		o.FullPathOnly = full
		r := routing.New(src, pair.health)
		r.SetRand(rand.New(rand.NewPCG(7, 11)).Uint64)
		h := NewHandler(p, r, o, slog.New(slog.DiscardHandler))
		h.Metrics = metrics.New(reg, "test")
		h.QueryLog = log
		if rrlCfg != nil {
			h.RRL = rrl.New(*rrlCfg)
		}
		return h
	}
	pair.fast, pair.full = mk(false, pair.fastReg, pair.fastLog), mk(true, pair.fullReg, pair.fullLog)
	return pair
}

// memoZone is corpusZone as example.net, without the networks entry that
// makes example.com's routing depend on a client's address beyond its
// location: the answer cache remembers its services' routing decisions
// (routing.Memo), and the corpus holds those to the full path's too.
var memoZone = strings.NewReplacer("example.com.", "example.net.", "networks: [203.0.113.0/25]", "continents: [AS]").Replace(corpusZone)

// corpusQuery is one query of the corpus.
type corpusQuery struct {
	name      string
	qtype     uint16
	edns      bool
	do        bool
	size      uint16
	subnet    string // ECS network, "" for none
	resolver  string
	transport Transport
	rd, cd    bool
}

func (c corpusQuery) String() string {
	return fmt.Sprintf("%s %s edns=%v do=%v size=%d ecs=%q from %s over %s",
		c.name, dns.TypeToString[c.qtype], c.edns, c.do, c.size, c.subnet, c.resolver, c.transport)
}

func (c corpusQuery) pack(t *testing.T, id uint16) []byte {
	m := query(c.name, c.qtype)
	m.Id = id
	m.RecursionDesired = c.rd
	m.CheckingDisabled = c.cd
	if c.edns {
		m.SetEdns0(c.size, c.do)
		if c.subnet != "" {
			m.IsEdns0().Option = []dns.EDNS0{ecsOption(c.subnet)}
		}
	}
	return mustPack(t, m)
}

// corpus is every name and type of corpusZone asked in several ways.
func corpus() []corpusQuery {
	names := []string{
		"example.com.", "www.example.com.", "ns1.example.com.", "mail.example.com.",
		"static.example.com.", "STATIC.Example.COM.", "alias.example.com.", "chain.example.com.",
		"out.example.com.", "svc-alias.example.com.", "a.wild.example.com.", "x.y.wild.example.com.",
		"_sip._tcp.example.com.", "big.example.com.", "sub.example.com.", "deep.sub.example.com.",
		"nothere.example.com.", "example.org.", ".", "geo.example.com.", "GeO.example.com.",
		"rr.example.com.", "rnd.example.com.", "sticky.example.com.", "firsts.example.com.",
		"every.example.com.", "fast.example.com.", "least.example.com.", "failed.example.com.",
		"dead.example.com.", "deadnodata.example.com.", "deadfallback.example.com.",
		"many.example.com.", "withcname.example.com.", "img.cdn.example.com.", "_explain.geo.example.com.",
		"geo.example.net.", "firsts.example.net.", "every.example.net.", "fast.example.net.",
		"dead.example.net.", "deadnodata.example.net.", "deadfallback.example.net.",
	}
	types := []uint16{dns.TypeA, dns.TypeAAAA, dns.TypeMX, dns.TypeTXT, dns.TypeNS, dns.TypeSOA, dns.TypeSRV, dns.TypeDS, dns.TypeCNAME}
	clients := []struct{ resolver, subnet string }{
		{"127.0.0.1", ""},
		{"192.0.2.1", ""},
		{"198.51.100.7", ""},
		{"127.0.0.1", "203.0.113.0/24"},
		{"127.0.0.1", "203.0.113.0/25"},
		{"127.0.0.1", "198.51.100.0/24"},
		{"127.0.0.1", "20.4.5.0/24"},
		{"127.0.0.1", "100.70.1.0/24"},
		{"127.0.0.1", "41.1.2.0/24"},
		{"127.0.0.1", "2001:db8:2::/56"},
		{"127.0.0.1", "10.0.0.0/8"},
		{"127.0.0.1", "0.0.0.0/0"},
		{"::1", ""},
	}
	var out []corpusQuery
	for i, name := range names {
		for j, qt := range types {
			for k, c := range clients {
				// Every combination of name and type; clients, EDNS shapes
				// and transports varied among them.
				if (i+j+k)%4 != 0 && c.subnet != "" {
					continue
				}
				q := corpusQuery{name: name, qtype: qt, resolver: c.resolver, subnet: c.subnet,
					edns: c.subnet != "" || (i+k)%3 != 0, do: (j+k)%2 == 0, size: []uint16{512, 1232, 4096, 700}[(i+j)%4],
					transport: Transport((i + j + k) % 5 / 4), rd: k%2 == 0, cd: j%3 == 0}
				out = append(out, q)
			}
		}
	}
	return out
}

// TestFastPathMatchesFullPath answers the corpus five times through a
// handler with the answer cache and through one without, and requires the
// same bytes every time. The first round fills the cache and the second
// answers from it; before the third, every us-east endpoint fails (cached
// answers must follow the health change); before the fourth, the zones
// are reloaded with changed data (a new snapshot, a new, empty cache);
// before the fifth, the endpoints recover.
func TestFastPathMatchesFullPath(t *testing.T) {
	usEast := netip.MustParsePrefix("192.0.2.0/24")
	for _, ecsOn := range []bool{true, false} {
		t.Run(fmt.Sprintf("ecs=%v", ecsOn), func(t *testing.T) {
			p := newPathPair(t, Options{ECS: ecsOn, ServerID: "ns-test", DebugNetworks: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}, nil)
			qs := corpus()
			compared := 0
			fresh := true // the cache is empty at the start of the round
			last := make([][]byte, len(qs))
			for round := range 5 {
				switch round {
				case 2:
					p.health.down.Store(&usEast)
				case 3:
					zone := filepath.Join(p.dir, "example.com.yaml")
					src, err := os.ReadFile(zone)
					if err != nil {
						t.Fatal(err)
					}
					changed := strings.NewReplacer("serial: 42", "serial: 43", "192.0.2.80", "192.0.2.82", "ttl: 30", "ttl: 45").Replace(string(src))
					if err := os.WriteFile(zone, []byte(changed), 0o644); err != nil {
						t.Fatal(err)
					}
					p.reload(t)
					fresh = true
				case 4:
					p.health.down.Store(nil)
				}
				before := fastAnswers(t, p.fast)
				changed := 0 // replies other than the last round's, IDs aside
				for i, c := range qs {
					wire := c.pack(t, uint16(round*len(qs)+i))
					client := netip.MustParseAddr(c.resolver)
					got := p.fast.Serve(wire, client, c.transport, make([]byte, 0, 4096))
					want := p.full.Serve(wire, client, c.transport, make([]byte, 0, 4096))
					if !bytes.Equal(got, want) {
						t.Fatalf("round %d: %v\nfast: %x\nfull: %x\nfast reply:\n%v\nfull reply:\n%v", round, c, got, want, unpacked(got), unpacked(want))
					}
					if len(got) > 2 && !bytes.Equal(got[2:], last[i]) {
						changed++
					}
					last[i] = append(last[i][:0], got[min(2, len(got)):]...)
					compared++
				}
				answered := fastAnswers(t, p.fast) - before
				t.Logf("round %d: %d of %d queries answered by the fast path, %d replies changed", round, answered, len(qs), changed)
				// Rounds 2 to 4 follow a health change or a reload, which
				// must show in the replies.
				if round >= 2 && changed < 40 { // random and round robin answers change about 25 a round
					t.Errorf("round %d: only %d replies changed after the health change or reload", round, changed)
				}
				// The corpus asks each question several times (from several
				// clients) in a round: only the first asks miss.
				if fresh && answered >= uint64(len(qs)) {
					t.Errorf("round %d answered all %d queries from an empty cache", round, answered)
				}
				// Most of the corpus is plain: once the cache is filled it
				// must answer the bulk of it.
				if !fresh && answered < uint64(len(qs))*6/10 {
					t.Errorf("round %d: only %d of %d queries were answered from the cache", round, answered, len(qs))
				}
				fresh = false
			}
			for _, name := range []string{"meridian_dns_queries_total", "meridian_dns_responses_total", "meridian_geo_answers_total",
				"meridian_geo_failovers_total", "meridian_geo_all_down_answers_total", "meridian_dns_ecs_queries_total",
				"meridian_dns_truncated_responses_total", "meridian_dns_request_duration_seconds"} {
				got, want := series(t, p.fastReg, name), series(t, p.fullReg, name)
				total := 0.0
				for _, v := range want {
					total += v
				}
				if total == 0 && (ecsOn || name != "meridian_dns_ecs_queries_total") {
					t.Errorf("metric %s: the corpus counted nothing in it", name)
				}
				if fmt.Sprint(got) != fmt.Sprint(want) {
					t.Errorf("metric %s differs:\nfast %v\nfull %v", name, got, want)
				}
			}
			if len(p.fullLog.entries) != compared {
				t.Errorf("the full path logged %d of %d queries", len(p.fullLog.entries), compared)
			}
			if fmt.Sprint(p.fastLog.entries) != fmt.Sprint(p.fullLog.entries) {
				for i := range min(len(p.fastLog.entries), len(p.fullLog.entries)) {
					if f, g := p.fastLog.entries[i], p.fullLog.entries[i]; fmt.Sprint(f) != fmt.Sprint(g) {
						t.Errorf("query log entry %d differs:\nfast %+v\nfull %+v", i, f, g)
						break
					}
				}
				t.Errorf("query logs differ: %d and %d entries", len(p.fastLog.entries), len(p.fullLog.entries))
			}
			t.Logf("%d replies and query log entries compared", compared)
		})
	}
}

// TestFastPathRRL compares the two paths under response rate limiting:
// every reply after the first per client is dropped or slipped, the same
// on both.
func TestFastPathRRL(t *testing.T) {
	p := newPathPair(t, Options{ECS: true}, &rrl.Config{ResponsesPerSecond: 1, Slip: 2})
	qs := []corpusQuery{
		{name: "static.example.com.", qtype: dns.TypeA, resolver: "192.0.2.1"},
		{name: "geo.example.com.", qtype: dns.TypeA, resolver: "192.0.2.1", edns: true, size: 1232, subnet: "198.51.100.0/24"},
		{name: "nothere.example.com.", qtype: dns.TypeA, resolver: "192.0.2.1", edns: true, size: 1232},
	}
	var slipped, dropped int
	for round := range 6 {
		for i, c := range qs {
			wire := c.pack(t, uint16(round*10+i))
			client := netip.MustParseAddr(c.resolver)
			got := p.fast.Serve(wire, client, UDP, nil)
			want := p.full.Serve(wire, client, UDP, nil)
			if !bytes.Equal(got, want) {
				t.Fatalf("round %d: %v\nfast: %x\nfull: %x", round, c, got, want)
			}
			switch {
			case got == nil:
				dropped++
			case got[2]&0x02 != 0:
				slipped++
			}
		}
	}
	if slipped == 0 || dropped == 0 {
		t.Errorf("slipped %d, dropped %d: the corpus should see both", slipped, dropped)
	}
	if fastAnswers(t, p.fast) == 0 {
		t.Error("no query took the fast path")
	}
	for _, name := range []string{"meridian_dns_queries_total", "meridian_dns_responses_total", "meridian_rrl_limited_responses_total"} {
		got, want := series(t, p.fastReg, name), series(t, p.fullReg, name)
		if len(want) == 0 {
			t.Errorf("metric %s: no series at all", name)
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("metric %s differs:\nfast %v\nfull %v", name, got, want)
		}
	}
}

// TestFastPathFollowsReload checks that answers cached from one snapshot
// are not served from the next.
func TestFastPathFollowsReload(t *testing.T) {
	dir := writeZones(t, map[string]string{"example.com.yaml": testZones["example.com.yaml"]})
	snap, err := zones.Load(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	var p atomic.Pointer[zones.Snapshot]
	p.Store(snap)
	h := withMetrics(NewHandler(&p, nil, Options{}, nil))
	ask := func() *dns.Msg {
		r := new(dns.Msg)
		if err := r.Unpack(h.Serve(mustPack(t, query("www.example.com.", dns.TypeTXT)), testClient, UDP, nil)); err != nil {
			t.Fatal(err)
		}
		return r
	}
	first := ask()
	ask()
	if fastAnswers(t, h) != 1 {
		t.Fatalf("fast answers = %d, want 1", fastAnswers(t, h))
	}
	changed := strings.Replace(testZones["example.com.yaml"], "records: |", "records: |\n  www IN TXT \"added by reload\"", 1)
	snap2, err := zones.Load(writeZones(t, map[string]string{"example.com.yaml": changed}), snap)
	if err != nil {
		t.Fatal(err)
	}
	p.Store(snap2)
	second := ask()
	if len(second.Answer) != len(first.Answer)+1 {
		t.Errorf("after reload: %d TXT records, want %d:\n%v", len(second.Answer), len(first.Answer)+1, second)
	}
}

// TestParseFastDeclines lists queries the fast path must leave to the full
// path.
func TestParseFastDeclines(t *testing.T) {
	base := func() *dns.Msg { return query("www.example.com.", dns.TypeA) }
	cases := map[string]func() []byte{
		"opcode notify": func() []byte { m := base(); m.Opcode = dns.OpcodeNotify; return mustPack(t, m) },
		"two questions": func() []byte {
			m := base()
			m.Question = append(m.Question, m.Question[0])
			return mustPack(t, m)
		},
		"class CH": func() []byte { m := base(); m.Question[0].Qclass = dns.ClassCHAOS; return mustPack(t, m) },
		"ANY":      func() []byte { return mustPack(t, query("www.example.com.", dns.TypeANY)) },
		"AXFR":     func() []byte { return mustPack(t, query("example.com.", dns.TypeAXFR)) },
		"EDNS version 1": func() []byte {
			m := base()
			m.SetEdns0(1232, false)
			m.IsEdns0().SetVersion(1)
			return mustPack(t, m)
		},
		"two ECS": func() []byte {
			return mustPack(t, ednsQuery("www.example.com.", dns.TypeA, ecsOption("198.51.100.0/24"), ecsOption("203.0.113.0/24")))
		},
		"bad ECS": func() []byte {
			o := ecsOption("198.51.100.0/24")
			o.SourceScope = 40 // longer than an IPv4 address
			return mustPack(t, ednsQuery("www.example.com.", dns.TypeA, o))
		},
		"trailing byte": func() []byte { return append(mustPack(t, base()), 0) },
		"compressed name": func() []byte {
			// The question name is a pointer to itself's first label:
			// compression in a question is legal but not plain.
			w := mustPack(t, base())
			return append(w[:12], 0x03, 'w', 'w', 'w', 0xC0, 12+4, 0, 1, 0, 1)
		},
		"OPT not at root": func() []byte {
			w := mustPack(t, base())
			w[11] = 1
			return append(w, 1, 'x', 0, 0, 41, 4, 0xd0, 0, 0, 0, 0, 0, 0)
		},
	}
	for name, mk := range cases {
		if _, ok := parsePlain(mk(), true); ok {
			t.Errorf("%s: parsePlain accepted it", name)
		}
	}
	// Questions read plain but never remembered, so never replayed: the
	// full path answers each time.
	h := withMetrics(newTestHandler(t, Options{}))
	for name, m := range map[string]*dns.Msg{
		"escaped dot": query(`a\.b.example.com.`, dns.TypeA),
		"space":       query(`a\032b.example.com.`, dns.TypeA),
		"explain":     query("_EXPLAIN.www.example.com.", dns.TypeTXT),
		"upper case":  query("WWW.example.com.", dns.TypeA),
		"mixed case":  query("wWw.example.com.", dns.TypeA),
	} {
		if q, ok := parsePlain(mustPack(t, m), true); ok && q.rememberable() {
			t.Errorf("%s: rememberable", name)
		}
		before := fastAnswers(t, h)
		for range 3 {
			exchange(t, h, m, UDP)
		}
		if n := fastAnswers(t, h) - before; n != 0 {
			t.Errorf("%s: %d answers replayed from the cache", name, n)
		}
	}
	if q, ok := parsePlain(mustPack(t, query("www.example.com.", dns.TypeA)), true); !ok || !q.rememberable() {
		t.Error("a lower-case plain question must be rememberable")
	}
	if _, ok := parsePlain(mustPack(t, ednsQuery("www.example.com.", dns.TypeA, ecsOption("198.51.100.0/24"), &dns.EDNS0_COOKIE{Code: dns.EDNS0COOKIE, Cookie: "0102030405060708"})), true); !ok {
		t.Error("a query with ECS and a cookie must be read plain")
	}
	q, ok := parsePlain(mustPack(t, ednsQuery("www.example.com.", dns.TypeA, &dns.EDNS0_NSID{Code: dns.EDNS0NSID})), true)
	if !ok || !q.edns.nsid {
		t.Error("a query asking for NSID must be read plain, with nsid set")
	}
}

// fastAnswers is how many queries h answered from its answer cache, from
// its fast_path_answers metric.
func fastAnswers(t *testing.T, h *Handler) uint64 {
	t.Helper()
	if h.Metrics == nil {
		t.Fatal("the handler has no metrics")
	}
	var m dto.Metric
	if err := h.Metrics.FastAnswers.Write(&m); err != nil {
		t.Fatal(err)
	}
	return uint64(m.GetCounter().GetValue())
}

// withMetrics gives h metrics on a registry of its own.
func withMetrics(h *Handler) *Handler {
	h.Metrics = metrics.New(prometheus.NewRegistry(), "test")
	return h
}

// unpacked renders a reply for failure messages.
func unpacked(b []byte) string {
	if b == nil {
		return "<dropped>"
	}
	m := new(dns.Msg)
	if err := m.Unpack(b); err != nil {
		return fmt.Sprintf("<%v>", err)
	}
	return m.String()
}

// TestFastPathMixedCase: questions with upper-case letters (0x20
// resolvers randomise them) are answered by the full path and never
// remembered, so they cannot crowd the cache; lower-case ones are.
func TestFastPathMixedCase(t *testing.T) {
	h := withMetrics(newTestHandler(t, Options{}))
	ask := func(name string) {
		t.Helper()
		if out := h.Serve(mustPack(t, query(name, dns.TypeTXT)), testClient, UDP, nil); out == nil {
			t.Fatal("no reply")
		}
	}
	for range 3 {
		ask("WwW.example.COM.")
	}
	if n := fastAnswers(t, h); n != 0 {
		t.Errorf("mixed case: %d fast answers, want 0", n)
	}
	for range 3 {
		ask("www.example.com.")
	}
	if n := fastAnswers(t, h); n != 2 {
		t.Errorf("lower case: %d fast answers, want 2 (the first ask fills the cache)", n)
	}
}

// TestAnswerCacheFront: the front table hands out only the template of
// the key asked, through keys that share a front slot asked by turns,
// keys never put, and keys shorter than a window.
func TestAnswerCacheFront(t *testing.T) {
	c := newAnswerCache(nil)
	var keys [][]byte
	for i := range 3000 {
		keys = append(keys, mustPack(t, query(fmt.Sprintf("h%d.example.com.", i), dns.TypeA))[headerLen:])
	}
	keys = append(keys, []byte{0, 0, 1, 0, 1}, []byte{0, 0, 1, 0, 1, 0x80}, []byte{1, 'a', 0, 0, 1, 0, 1})
	for _, k := range keys[:len(keys)-1] { // the last is never put
		c.put(k, &template{}, 1<<20)
	}
	bySlot := map[int][][]byte{}
	for _, k := range keys {
		bySlot[frontSlot(k)] = append(bySlot[frontSlot(k)], k)
	}
	shared := 0
	for _, ks := range bySlot {
		if len(ks) < 2 {
			continue
		}
		shared++
		for i := range 64 {
			k := ks[i%len(ks)]
			got := c.get(k)
			if string(k) == string(keys[len(keys)-1]) {
				if got != nil {
					t.Fatalf("key %q was never put, got the template of %q", k, got.key)
				}
				continue
			}
			if got == nil || got.key != string(k) {
				t.Fatalf("key %q: got %v", k, got)
			}
		}
	}
	if shared == 0 {
		t.Fatal("no keys share a front slot: the test proves nothing")
	}
	if got := c.get(keys[len(keys)-1]); got != nil {
		t.Errorf("a key never put got the template of %q", got.key)
	}
}

// parsePlain reads msg as a plain query (plainQuery.parse) into a new
// plainQuery.
func parsePlain(msg []byte, withECS bool) (plainQuery, bool) {
	var q plainQuery
	ok := q.parse(msg, withECS)
	return q, ok
}
