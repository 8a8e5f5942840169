package server

import (
	"net/netip"
	"testing"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/meridian-dns/meridian/dns/rrl"
	"github.com/meridian-dns/meridian/metrics"
	"github.com/meridian-dns/meridian/routing"
	"github.com/meridian-dns/meridian/zones"
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

// BenchmarkServeRRL is BenchmarkServeStatic and BenchmarkServeServiceECS
// with response rate limiting on, as it is by default, from clients of
// many networks (so that each answer is sent, not limited): the cost of
// rate limiting per reply.
func BenchmarkServeRRL(b *testing.B) {
	for _, bc := range []struct {
		name string
		h    *Handler
		m    *dns.Msg
	}{
		{"static", newTestHandler(b, Options{}), query("www.example.com.", dns.TypeA)},
		{"service-ecs", func() *Handler { h, _ := newMetricsHandler(b, Options{ECS: true}, nil); return h }(),
			subnetQuery("www.example.com.", dns.TypeA, "198.51.100.0/24")},
	} {
		b.Run(bc.name, func(b *testing.B) {
			q, err := bc.m.Pack()
			if err != nil {
				b.Fatal(err)
			}
			bc.h.RRL = rrl.New(rrl.Config{ResponsesPerSecond: 100, Slip: 2})
			clients := make([]netip.Addr, 1<<16)
			for i := range clients {
				clients[i] = netip.AddrFrom4([4]byte{100, byte(i >> 8), byte(i), 1})
			}
			buf := make([]byte, 0, 4096)
			bc.h.Serve(q, clients[0], UDP, buf) // fill the answer cache
			b.ReportAllocs()
			i, dropped := 0, 0
			for b.Loop() {
				i++
				if bc.h.Serve(q, clients[i%len(clients)], UDP, buf) == nil {
					dropped++
				}
			}
			b.ReportMetric(float64(dropped)/float64(i), "dropped/op")
		})
	}
}

// BenchmarkParsePlain reads the header, question and OPT with Client
// Subnet of a query straight from its bytes.
func BenchmarkParsePlain(b *testing.B) {
	q, err := subnetQuery("www.example.com.", dns.TypeA, "198.51.100.0/24").Pack()
	if err != nil {
		b.Fatal(err)
	}
	if _, ok := parsePlain(q, true); !ok {
		b.Fatal("parsePlain declined the query")
	}
	b.ReportAllocs()
	for b.Loop() {
		parsePlain(q, true)
	}
}

// BenchmarkReplayService writes a service reply of two A records from its
// template, and the OPT record with the Client Subnet echo.
func BenchmarkReplayService(b *testing.B) {
	h, _ := newMetricsHandler(b, Options{ECS: true}, nil) // a router: service answers
	q, err := subnetQuery("www.example.com.", dns.TypeA, "198.51.100.0/24").Pack()
	if err != nil {
		b.Fatal(err)
	}
	pq, ok := parsePlain(q, true)
	if !ok {
		b.Fatal("parsePlain declined the query")
	}
	h.Serve(q, testClient, UDP, nil) // the full path makes the template
	v := h.loadView()
	var kb [maxCacheKey]byte
	tpl := v.cache.get(pq.cacheKey(&kb))
	if tpl == nil || tpl.service == nil {
		b.Fatal("no service template")
	}
	d := routing.Decision{TTL: 30, Scope: 24, Endpoints: []*zones.Endpoint{
		{Address: netip.MustParseAddr("192.0.2.10")}, {Address: netip.MustParseAddr("192.0.2.11")}}}
	buf := make([]byte, 0, 512)
	b.ReportAllocs()
	for b.Loop() {
		out := tpl.appendService(buf[:0], &d)
		h.appendOPT(out, &pq.edns, 0, uint8(d.Scope))
	}
}
