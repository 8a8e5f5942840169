package routing

import (
	"testing"

	"github.com/miekg/dns"
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
