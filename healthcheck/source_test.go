package healthcheck

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/meridian-dns/meridian/healthcheck/check"
)

// sourceRecorder passes on the source address of each connection or
// query the test servers see.
type sourceRecorder struct {
	seen chan netip.Addr
}

func (s *sourceRecorder) add(a net.Addr) {
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return
	}
	s.seen <- ap.Addr()
}

// next returns the source address of the next connection or query.
func (s *sourceRecorder) next(t *testing.T) netip.Addr {
	t.Helper()
	select {
	case a := <-s.seen:
		return a
	case <-time.After(waitLimit):
		t.Fatal("the target saw nothing")
		return netip.Addr{}
	}
}

// TestProbeSourceAddress holds tcp, http and dns probes to the configured
// source address (healthcheck.source_address): the target sees them come
// from 127.0.0.21 or 127.0.0.22, and without the setting from the
// kernel's choice, 127.0.0.1.
func TestProbeSourceAddress(t *testing.T) {
	rec := &sourceRecorder{seen: make(chan netip.Addr, 16)}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			rec.add(c.RemoteAddr())
			c.Close()
		}
	}()
	tcpPort := ln.Addr().(*net.TCPAddr).Port

	web := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
			rec.add(net.TCPAddrFromAddrPort(ap))
		}
	}))
	defer web.Close()
	webPort := portOf(t, web.Listener.Addr().String())

	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, req *dns.Msg) {
		rec.add(w.RemoteAddr())
		m := new(dns.Msg)
		m.SetReply(req)
		w.WriteMsg(m)
	})}
	go srv.ActivateAndServe()
	defer srv.Shutdown()
	dnsPort := pc.LocalAddr().(*net.UDPAddr).Port

	specs := map[string]check.Spec{
		"tcp":  {Type: check.TCP, Port: tcpPort, Timeout: time.Second},
		"http": {Type: check.HTTP, Port: webPort, Timeout: time.Second},
		"dns":  {Type: check.DNS, Port: dnsPort, Query: "www.example.com. A", Timeout: time.Second},
	}
	for name, spec := range specs {
		for _, source := range []string{"127.0.0.21", "127.0.0.22", ""} {
			t.Run(fmt.Sprintf("%s from %q", name, source), func(t *testing.T) {
				var opts Options
				want := loopback4
				if source != "" {
					opts.SourceAddress = netip.MustParseAddr(source)
					want = opts.SourceAddress
				}
				r := probeOnce(t, opts, check.Target{Spec: spec, Address: loopback4})
				checkResult(t, r, true, "")
				if got := rec.next(t); got != want {
					t.Errorf("the target saw the probe from %v, want %v", got, want)
				}
			})
		}
	}
}

// TestProbeSourceAddressOtherFamily: an IPv4 source address does not apply
// to an IPv6 target, which is probed from the kernel's choice.
func TestProbeSourceAddressOtherFamily(t *testing.T) {
	srv := listenTCP(t, "[::1]:0")
	spec := check.Spec{Type: check.TCP, Port: srv.port(), Timeout: time.Second}
	opts := Options{SourceAddress: netip.MustParseAddr("127.0.0.21")}
	checkResult(t, probeOnce(t, opts, check.Target{Spec: spec, Address: ipv6Loopback}), true, "")
}

// TestManagerProbeFilter: keys the filter leaves out are not probed and are
// Unknown; taking them back in probes them again; a new target the filter
// leaves out is idle from the start and does not hold up readiness.
func TestManagerProbeFilter(t *testing.T) {
	srvA := listenTCP(t, "127.0.0.1:0")
	srvB := listenTCP(t, "127.0.0.1:0")
	spec := func(port int) check.Spec {
		return check.Spec{Type: check.TCP, Port: port, Interval: 30 * time.Millisecond, Timeout: 20 * time.Millisecond}
	}
	a := check.Target{Spec: spec(srvA.port()), Address: loopback4}
	b := check.Target{Spec: spec(srvB.port()), Address: loopback4}

	h := newHarness(t, Options{StartupGrace: time.Hour})
	h.m.SetProbeFilter(func(k check.Key) bool { return k == a.Key() })
	if err := h.m.SetTargets([]check.Target{a, b}); err != nil {
		t.Fatalf("SetTargets: %v", err)
	}
	if !h.m.Probing(a.Key()) || h.m.Probing(b.Key()) {
		t.Fatalf("Probing(a), Probing(b) = %v, %v; want true, false", h.m.Probing(a.Key()), h.m.Probing(b.Key()))
	}
	h.start()
	h.waitTransition(a.Key(), StateUp)
	// The startup grace is an hour: only b being left out of the count
	// lets the Manager be ready.
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	if err := h.m.WaitReady(ctx); err != nil {
		t.Errorf("not ready although every target it probes has a result: %v", err)
	}
	if st, _ := h.m.Status().Get(b.Key()); st.State != StateUnknown {
		t.Errorf("b, left out, is %s", st.State)
	}
	if n := srvB.hits.Load(); n != 0 {
		t.Errorf("b, left out, was probed %d times", n)
	}

	// Swap: b is probed, a stops and becomes Unknown at once.
	h.m.SetProbeFilter(func(k check.Key) bool { return k == b.Key() })
	if st, _ := h.m.Status().Get(a.Key()); st.State != StateUnknown {
		t.Errorf("a, just left out, is %s", st.State)
	}
	h.waitTransition(b.Key(), StateUp)
	for len(h.results) > 0 {
		<-h.results
	}
	hitsA := srvA.hits.Load()
	h.waitResults(b.Key(), 3)
	for len(h.results) > 0 {
		if kr := <-h.results; kr.key == a.Key() {
			t.Error("a was probed after the filter left it out")
		}
	}
	if extra := srvA.hits.Load() - hitsA; extra > 1 {
		t.Errorf("a's server saw %d connections after a was left out", extra)
	}
	if st, _ := h.m.Status().Get(a.Key()); st.State != StateUnknown {
		t.Errorf("a, left out, is %s after b's probes", st.State)
	}

	// No filter: both are probed.
	h.m.SetProbeFilter(nil)
	h.waitTransition(a.Key(), StateUp)
}
