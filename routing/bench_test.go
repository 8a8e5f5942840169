package routing

import (
	"fmt"
	"strings"
	"testing"

	"github.com/miekg/dns"

	"github.com/meridian-dns/meridian/geo"
	"github.com/meridian-dns/meridian/zones"
)

// BenchmarkDecide measures one service decision the way the DNS path makes
// it: a GeoIP lookup of an ECS client, the explicit maps, distance, health
// and selection.
func BenchmarkDecide(b *testing.B) {
	z := testZone(b)
	r := newRouter(b, testGeo(b), nil)
	benchmarks := []struct {
		name    string
		service string
		qtype   uint16
		client  Client
	}{
		{"nearest/continent/ecs", "www", dns.TypeA, client("20.4.1.0", 24)},
		{"nearest/distance/ecs", "near", dns.TypeA, client("20.5.1.0", 24)},
		{"nearest/network/ecs", "www", dns.TypeA, client("203.0.113.0", 24)},
		{"nearest/ipv6/ecs", "www", dns.TypeAAAA, client("2001:db8:2:1200::", 56)},
		{"nearest/resolver", "www", dns.TypeA, client("20.4.1.1", -1)},
		{"hash/ecs", "sticky", dns.TypeA, client("20.4.1.0", 24)},
	}
	for _, bm := range benchmarks {
		s := service(b, z, bm.service)
		b.Run(bm.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				d := r.Decide(s, bm.qtype, bm.client, false)
				if d.Region == nil {
					b.Fatal("no region")
				}
			}
		})
	}
}

// policies are the selection policies, in zone-file spelling.
var policies = []string{"weighted", "round_robin", "random", "hash", "first", "all", "fastest", "least_loaded"}

// poolSizes are the region sizes the selection benchmarks and the
// allocation test use: up to stackEndpoints, the largest that decides
// without the heap, and one above it.
var poolSizes = []int{4, 16, 32, 64}

// selectionZone is the test zone plus, for every policy, pool size and
// answer count of 1 and 2, a service "<policy>-<size>-<answers>" with that
// many endpoints of mixed weights in us-east.
func selectionZone(t testing.TB) *zones.Zone {
	var b strings.Builder
	b.WriteString(testRegions + testServices)
	for _, p := range policies {
		for _, size := range poolSizes {
			for _, answers := range []int{1, 2} {
				fmt.Fprintf(&b, "  %s-%d-%d:\n    select: %s\n    answers: %d\n    endpoints:\n", p, size, answers, p, answers)
				for i := range size {
					fmt.Fprintf(&b, "      - { region: us-east, address: 10.%d.%d.%d, weight: %d }\n", size, answers, i+1, 1+i%3)
				}
			}
		}
	}
	return loadZone(t, b.String())
}

// probed is a Health with every endpoint up and a latency and load that
// vary with its position, as probes would report them, without the cost of
// a lookup.
type probed struct{}

func (probed) Endpoint(ep *zones.Endpoint) EndpointState {
	return EndpointState{Up: true, Latency: float64(1+(ep.Index*7)%11) / 1000, Load: float64(ep.Index%10) / 10}
}

func (probed) MinHealthy(*zones.Service, int) int { return 1 }

// locate returns where the test GeoIP data places a client.
func locate(t testing.TB, db *geo.Databases, c Client) *geo.Location {
	t.Helper()
	return db.Locate(c.Addr)
}

// decideCase is one routing decision of the benchmarks and the allocation
// test.
type decideCase struct {
	name    string
	service string
	qtype   uint16
	client  Client
	health  Health
	// allocs is the most heap allocations the decision may make.
	allocs float64
}

// decideCases are the decisions benchmarked and held allocation-free:
// every way of choosing a region, and every selection policy at every pool
// size, with one answer and with two. Answers that are a run of the
// region's endpoints are slices of the snapshot; other answers of two
// endpoints need their own slice, and pools above stackEndpoints spill
// their working lists to the heap.
func decideCases() []decideCase {
	ecs := client("20.4.1.0", 24)
	cases := []decideCase{
		{name: "nearest/network", service: "www", qtype: dns.TypeA, client: client("203.0.113.0", 24)},
		{name: "nearest/asn", service: "www", qtype: dns.TypeA, client: client("20.6.1.0", 24)},
		{name: "nearest/subdivision", service: "www", qtype: dns.TypeA, client: client("20.2.2.0", 24)},
		{name: "nearest/country", service: "www", qtype: dns.TypeA, client: client("20.8.1.0", 24)},
		{name: "nearest/continent", service: "www", qtype: dns.TypeA, client: ecs},
		{name: "nearest/continent/ipv6", service: "www", qtype: dns.TypeAAAA, client: client("2001:db8:2:1200::", 56)},
		{name: "nearest/distance", service: "near", qtype: dns.TypeA, client: client("20.5.1.0", 24)},
		{name: "nearest/default", service: "near", qtype: dns.TypeA, client: client("30.0.0.0", 24)},
		{name: "nearest/resolver", service: "www", qtype: dns.TypeA, client: client("20.4.1.1", -1)},
		{name: "failover", service: "fo", qtype: dns.TypeA, client: ecs},
		{name: "weighted-routing", service: "wr", qtype: dns.TypeA, client: ecs},
		{name: "failover-after-down", service: "near", qtype: dns.TypeA, client: ecs,
			health: newTestHealth("near", []string{"198.51.100.30"}, nil)},
		{name: "select/weighted-16-1/reweighted", service: "weighted-16-1", qtype: dns.TypeA,
			client: client("30.0.0.0", 24), health: reweighted{"10.16.1.1": 0, "10.16.1.2": 50}},
		{name: "select/hash-16-1/reweighted", service: "hash-16-1", qtype: dns.TypeA,
			client: client("30.0.0.0", 24), health: reweighted{"10.16.1.1": 0, "10.16.1.2": 50}},
	}
	for _, p := range policies {
		var health Health
		if p == "fastest" || p == "least_loaded" {
			health = probed{}
		}
		for _, size := range poolSizes {
			for _, answers := range []int{1, 2} {
				name := fmt.Sprintf("%s-%d-%d", p, size, answers)
				allocs := 0.0
				if answers == 2 && p != "round_robin" && p != "first" && p != "all" {
					allocs = 1
				}
				if size > stackEndpoints {
					allocs = -1
				}
				cases = append(cases, decideCase{name: "select/" + name, service: name, qtype: dns.TypeA,
					client: client("30.0.0.0", 24), health: health, allocs: allocs})
			}
		}
	}
	return cases
}

// BenchmarkDecideAt measures the routing decision alone, for a client
// whose location is known: the part of a query that routing owns.
func BenchmarkDecideAt(b *testing.B) {
	z := selectionZone(b)
	db := testGeo(b)
	for _, bm := range decideCases() {
		r := newRouter(b, nil, bm.health)
		s := service(b, z, bm.service)
		loc := locate(b, db, bm.client)
		b.Run(bm.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				d := r.DecideAt(s, bm.qtype, bm.client, loc, false)
				if d.Region == nil {
					b.Fatal("no region")
				}
			}
		})
	}
}

// BenchmarkDecideExplain measures a decision with explain set, which
// works out and reports every candidate region.
func BenchmarkDecideExplain(b *testing.B) {
	z := testZone(b)
	r := newRouter(b, nil, nil)
	s := service(b, z, "www")
	c := client("20.4.1.0", 24)
	loc := locate(b, testGeo(b), c)
	b.ReportAllocs()
	for b.Loop() {
		if d := r.DecideAt(s, dns.TypeA, c, loc, true); len(d.Candidates) == 0 {
			b.Fatal("no candidates")
		}
	}
}
