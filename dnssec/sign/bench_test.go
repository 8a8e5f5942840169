package sign

import (
	"testing"

	"github.com/miekg/dns"
)

// BenchmarkSign measures one signature, without the cache.
func BenchmarkSign(b *testing.B) {
	for _, alg := range algorithms {
		b.Run(dns.AlgorithmToString[alg], func(b *testing.B) {
			ks, _, _ := newCSK(b, "example.com.", alg)
			s := New(Bounds{})
			rrset := rrs(b, "api.example.com. 30 IN A 192.0.2.1", "api.example.com. 30 IN A 192.0.2.2")
			w := WindowAt(now)
			for b.Loop() {
				if _, err := s.SignUncached(ks, rrset, w); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkSignCached measures Sign when the cache holds the signature: the
// cost a service answer pays per query in steady state.
func BenchmarkSignCached(b *testing.B) {
	ks, _, _ := newCSK(b, "example.com.", dns.ECDSAP256SHA256)
	s := New(Bounds{})
	rrset := rrs(b, "api.example.com. 30 IN A 192.0.2.1", "api.example.com. 30 IN A 192.0.2.2")
	w := WindowAt(now)
	if _, err := s.Sign(ks, rrset, w); err != nil {
		b.Fatal(err)
	}
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := s.Sign(ks, rrset, w); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := s.Sign(ks, rrset, w); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

// BenchmarkSignAll measures signing a zone of 10,000 RRsets, and signing it
// again after one RRset changed (one signature).
func BenchmarkSignAll(b *testing.B) {
	const n = 10000
	for _, alg := range algorithms {
		ks, dnskey, _ := newCSK(b, "example.com.", alg)
		rrsets := zoneRRsets(b, []dns.RR{dnskey}, n)
		w := WindowAt(now)
		s := New(Bounds{})
		b.Run(dns.AlgorithmToString[alg]+"/all", func(b *testing.B) {
			for b.Loop() {
				if _, err := s.SignAll(nil, ks, rrsets, w); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/RRset")
		})
		b.Run(dns.AlgorithmToString[alg]+"/one-changed", func(b *testing.B) {
			prev, err := s.SignAll(nil, ks, rrsets, w)
			if err != nil {
				b.Fatal(err)
			}
			changed := make([][]dns.RR, len(rrsets))
			copy(changed, rrsets)
			changed[n/2] = rrs(b, "changed.example.com. 300 IN A 203.0.113.1")
			signed := 0
			for b.Loop() {
				set, err := s.SignAll(prev, ks, changed, w)
				if err != nil {
					b.Fatal(err)
				}
				signed += set.Signed()
			}
			b.ReportMetric(float64(signed)/float64(b.N), "signatures/op")
		})
	}
}
