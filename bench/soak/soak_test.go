package main

import (
	"bytes"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/meridian-dns/meridian/bench/dnsperfinput"
	"github.com/meridian-dns/meridian/zones"
)

func TestCommittedQueryMix(t *testing.T) {
	qs, err := dnsperfinput.ReadSpec(filepath.Join("..", "queries", "soak.txt"))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := dnsperfinput.WriteBinary(&buf, qs); err != nil {
		t.Fatal(err)
	}
	msgs, err := dnsperfinput.ReadBinary(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if n := len(msgs); n != len(qs) {
		t.Fatalf("packed %d of %d queries", n, len(qs))
	}
	nets := map[netip.Prefix]bool{}
	var v6, aaaa, www, api int
	for _, q := range qs {
		if q.Subnet.IsValid() {
			nets[q.Subnet] = true
			if q.Subnet.Addr().Is6() {
				v6++
			}
		}
		if q.Type == dns.TypeAAAA {
			aaaa++
		}
		switch q.Name {
		case "www.example.com.":
			www++
		case "api.example.com.":
			api++
		}
	}
	if len(qs) < 200 || len(nets) < 30 || v6 == 0 || aaaa == 0 || www == 0 || api == 0 {
		t.Errorf("query mix too thin: %d lines, %d ECS networks (%d IPv6 queries), %d AAAA, %d www, %d api",
			len(qs), len(nets), v6, aaaa, www, api)
	}
}

// TestSoakZoneLoads loads the soak's zone through Meridian's zone loader, so
// a change to the zone format breaks this test rather than a soak run.
func TestSoakZoneLoads(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []int{0, 1, 2} {
		zone, err := renderZone(n, 8080, checkAddrs)
		if err != nil {
			t.Fatal(err)
		}
		if err := writeFileAtomic(filepath.Join(dir, "example.com.yaml"), zone); err != nil {
			t.Fatal(err)
		}
		snap, err := zones.Load(dir, nil)
		if err != nil {
			t.Fatalf("rewrite %d: %v\n%s", n, err, zone)
		}
		probed := map[string]bool{}
		for _, tg := range snap.Targets() {
			probed[tg.Address.String()] = true
		}
		for _, a := range checkAddrs {
			if !probed[a] {
				t.Errorf("rewrite %d: %s is not probed; targets %v", n, a, snap.Targets())
			}
		}
	}
}

func TestDnsperfParse(t *testing.T) {
	out := `DNS Performance Testing Tool
Version 2.10.0

[Status] Command line: dnsperf -s 127.0.0.1 -p 55889 -B -d q.bin -l 1 -Q 200 -c 4 -t 2 -v
[Status] Sending queries (to 127.0.0.1:55889)
> NOERROR binary input 0.001259
> NXDOMAIN www.example.com A 0.000100
> SERVFAIL binary input 0.000300
> NOERROR binary input 0.002000
> T binary input
[Status] Testing complete (time limit)

Statistics:

  Queries sent:         5
  Queries completed:    4 (80.00%)
  Queries lost:         1 (20.00%)
  Unexpected IDs:       3 (60.00%)

  Response codes:       NOERROR 2 (50.00%), NXDOMAIN 1 (25.00%), SERVFAIL 1 (25.00%)
  Average packet size:  request 53, response 94
  Run time (s):         1.194319
  Queries per second:   3.349189

  Average Latency (s):  0.000915 (min 0.000100, max 0.002000)
`
	r := &dnsperfResult{Rcodes: map[string]int64{}}
	var lineNo time.Duration
	clock := func() time.Duration { lineNo += time.Second; return lineNo }
	if err := r.parse(strings.NewReader(out), clock); err != nil {
		t.Fatal(err)
	}
	if r.Responses != 4 || r.Timeouts != 1 || r.Sent != 5 || r.Completed != 4 || r.Lost != 1 || r.Unexpected != 3 || r.Interrupted != 0 || !r.StatsSeen {
		t.Errorf("counts: %+v", r)
	}
	if r.Rcodes["NOERROR"] != 2 || r.Rcodes["NXDOMAIN"] != 1 || r.Rcodes["SERVFAIL"] != 1 {
		t.Errorf("rcodes: %v", r.Rcodes)
	}
	if r.RunTime != 1.194319 || r.QPS != 3.349189 {
		t.Errorf("run time %v, QPS %v", r.RunTime, r.QPS)
	}
	p50, p99, maxMs := r.latencyPercentiles()
	if p50 != 0.3 || p99 != 2 || maxMs != 2 {
		t.Errorf("p50 %v p99 %v max %v ms, want 0.3, 2, 2", p50, p99, maxMs)
	}
	want := []slowResponse{{4 * time.Second, 2 * time.Millisecond}, {time.Second, 1259 * time.Microsecond},
		{3 * time.Second, 300 * time.Microsecond}, {2 * time.Second, 100 * time.Microsecond}}
	if !slices.Equal(r.Slowest, want) {
		t.Errorf("slowest %v, want %v", r.Slowest, want)
	}
}

func TestEvaluateRSS(t *testing.T) {
	const mb = 1 << 20
	series := func(d time.Duration, rss func(at time.Duration) int64) []rssSample {
		var s []rssSample
		for at := time.Duration(0); at <= d; at += time.Second {
			s = append(s, rssSample{At: at, RSS: rss(at), Valid: true})
		}
		return s
	}
	d := 100 * time.Second
	for _, tc := range []struct {
		name string
		rss  func(time.Duration) int64
		want bool
	}{
		{"flat", func(time.Duration) int64 { return 20 * mb }, false},
		{"warm-up only", func(at time.Duration) int64 {
			if at < warmup {
				return 5 * mb
			}
			return 60 * mb
		}, false},
		{"doubles but stays small", func(at time.Duration) int64 { return 10*mb + int64(at/time.Second)*mb/5 }, false},
		{"leaks", func(at time.Duration) int64 { return 20*mb + int64(at/time.Second)*mb }, true},
	} {
		w := evaluateRSS(series(d, tc.rss), d)
		if w.Unbounded != tc.want {
			t.Errorf("%s: unbounded = %v (baseline %.1f MiB, final %.1f MiB), want %v",
				tc.name, w.Unbounded, mib(w.Baseline), mib(w.Final), tc.want)
		}
	}
}

func TestParseStartedLine(t *testing.T) {
	m := &meridian{}
	m.parseStarted(`time=2026-11-29T15:21:46.970Z level=INFO msg="meridian started" version=dev listen=[127.0.0.1:55889] zones=2 records=22 admin=127.0.0.1:44825`)
	if m.startErr != nil || m.DNS != netip.MustParseAddrPort("127.0.0.1:55889") || m.Admin != "127.0.0.1:44825" {
		t.Errorf("DNS %s admin %q err %v", m.DNS, m.Admin, m.startErr)
	}
	m = &meridian{}
	m.parseStarted(`level=INFO msg="meridian started" listen="[192.0.2.1:53 [::1]:53]"`)
	if m.startErr == nil {
		t.Error("a non-loopback DNS address was accepted")
	}
}

func TestParseMetrics(t *testing.T) {
	m, err := parseMetrics(strings.NewReader(`# HELP meridian_dns_responses_total x
# TYPE meridian_dns_responses_total counter
meridian_dns_responses_total{rcode="NOERROR",zone="example.com."} 10
meridian_dns_responses_total{rcode="SERVFAIL",zone="example.com."} 2
meridian_health_transitions_total{target="a",to="down"} 3
meridian_health_transitions_total{target="a",to="up"} 4
meridian_dns_request_duration_seconds_bucket{le="0.0001"} 900
meridian_dns_request_duration_seconds_bucket{le="0.00025"} 991
meridian_dns_request_duration_seconds_bucket{le="0.0005"} 999
meridian_dns_request_duration_seconds_bucket{le="+Inf"} 1000
meridian_dns_request_duration_seconds_sum 0.05
meridian_dns_request_duration_seconds_count 1000
process_cpu_seconds_total 1.5
`))
	if err != nil {
		t.Fatal(err)
	}
	r := &Report{}
	r.setMetrics(m)
	if r.ServerServFail != 2 || r.HealthTransitions != 7 || m["meridian_dns_responses_total"] != 12 {
		t.Errorf("servfail %v transitions %v responses %v", r.ServerServFail, r.HealthTransitions, m["meridian_dns_responses_total"])
	}
	if r.ServerAnswerMeanMicros != 50 || r.ServerAnswerP99Millis != 0.25 || r.ServerCPUSeconds != 1.5 {
		t.Errorf("answer time mean %v µs, p99 %v ms, CPU %v s; want 50, 0.25, 1.5", r.ServerAnswerMeanMicros, r.ServerAnswerP99Millis, r.ServerCPUSeconds)
	}
}

func TestReadLogCounts(t *testing.T) {
	m := &meridian{started: make(chan struct{}), healthChanges: map[string]int{}}
	m.readLog(strings.NewReader(`time=t level=INFO msg="meridian started" listen=[127.0.0.1:5353] admin=127.0.0.1:9153
time=t level=INFO msg="zones reloaded" reason="file change" zones=1 records=20
time=t level=INFO msg="geoip database loaded" file=/tmp/x/city.mmdb role=city
time=t level=WARN msg="endpoint health changed" target=http://127.0.0.42:8080/healthz from=up to=down reason="1 consecutive failures, last: status 500, want 200-399"
time=t level=INFO msg="endpoint health changed" target=http://127.0.0.42:8080/healthz from=down to=up reason="1 consecutive successes"
time=t level=ERROR msg="zone reload failed; still serving the previous zones" error=boom
`))
	c := m.counts()
	if c.ZoneReloads != 1 || c.GeoIPReloads != 1 || c.ErrorLines != 1 || c.WarnLines != 1 ||
		c.HealthChanges["127.0.0.42 down"] != 1 || c.HealthChanges["127.0.0.42 up"] != 1 {
		t.Errorf("counts %+v", c)
	}
	if m.DNS.String() != "127.0.0.1:5353" {
		t.Errorf("DNS address %s", m.DNS)
	}
}

func TestNoteSlowKeepsTheSlowest(t *testing.T) {
	r := &dnsperfResult{}
	clock := func() time.Duration { return 0 }
	for _, us := range []int{5, 90, 1, 40, 70, 3, 100, 20, 60, 10, 80, 30, 50, 2} {
		r.noteSlow(time.Duration(us)*time.Microsecond, clock)
	}
	var got []int
	for _, s := range r.Slowest {
		got = append(got, int(s.Latency/time.Microsecond))
	}
	if want := []int{100, 90, 80, 70, 60, 50, 40, 30, 20, 10}; !slices.Equal(got, want) {
		t.Errorf("slowest %v, want %v", got, want)
	}
}
