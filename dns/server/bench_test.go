package server

import (
	"net/netip"
	"testing"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/meridian-dns/meridian/metrics"
)

// benchServe answers the packed query q from client over UDP b.N times,
// with the handler's metrics off and on, so the two results side by side
// are the hot-path cost of the metrics.
func benchServe(b *testing.B, h *Handler, q []byte, client netip.Addr) {
	b.Helper()
	buf := make([]byte, 65535)
	check := func(b *testing.B) {
		out := h.Serve(q, client, UDP, buf)
		r := new(dns.Msg)
		if err := r.Unpack(out); err != nil || r.Rcode != dns.RcodeSuccess || len(r.Answer) == 0 {
			b.Fatalf("bad reply (%v): %v", err, r)
		}
	}
	run := func(b *testing.B) {
		check(b)
		b.ReportAllocs()
		for b.Loop() {
			h.Serve(q, client, UDP, buf)
		}
	}
	b.Run("metrics=off", func(b *testing.B) {
		h.Metrics = nil
		run(b)
	})
	b.Run("metrics=on", func(b *testing.B) {
		h.Metrics = metrics.New(prometheus.NewRegistry(), "bench")
		run(b)
	})
}

// BenchmarkServeStatic answers an A record from the zone data.
func BenchmarkServeStatic(b *testing.B) {
	h := newTestHandler(b, Options{})
	m := query("www.example.com.", dns.TypeA)
	q, err := m.Pack()
	if err != nil {
		b.Fatal(err)
	}
	benchServe(b, h, q, testClient)
}

// BenchmarkServeService answers a service's A query, routed by the
// resolver's address.
func BenchmarkServeService(b *testing.B) {
	h, _ := newMetricsHandler(b, Options{}, nil)
	q, err := query("www.example.com.", dns.TypeA).Pack()
	if err != nil {
		b.Fatal(err)
	}
	benchServe(b, h, q, netip.MustParseAddr("192.0.2.1"))
}

// BenchmarkServeServiceECS answers a service's A query routed by the
// query's Client Subnet option.
func BenchmarkServeServiceECS(b *testing.B) {
	h, _ := newMetricsHandler(b, Options{ECS: true}, nil)
	q, err := subnetQuery("www.example.com.", dns.TypeA, "198.51.100.0/24").Pack()
	if err != nil {
		b.Fatal(err)
	}
	benchServe(b, h, q, netip.MustParseAddr("192.0.2.1"))
}
