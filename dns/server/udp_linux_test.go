package server

import (
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
	"golang.org/x/sys/unix"
)

// TestUDPReceiveBuffer: UDP sockets get the larger receive buffer, as far
// as net.core.rmem_max lets them (the kernel doubles what it grants).
func TestUDPReceiveBuffer(t *testing.T) {
	raw, err := os.ReadFile("/proc/sys/net/core/rmem_max")
	if err != nil {
		t.Skipf("no rmem_max: %v", err)
	}
	rmemMax, err := strconv.Atoi(strings.TrimSpace(string(raw)))
	if err != nil {
		t.Fatal(err)
	}
	srv := New(Config{Listen: []string{"127.0.0.1:0"}, UDPSockets: 1}, newTestHandler(t, Options{}), nil)
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown(t.Context())
	r := srv.readers[0]
	r.mu.Lock()
	got, err := unix.GetsockoptInt(r.fd, unix.SOL_SOCKET, unix.SO_RCVBUF)
	r.mu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	if want := 2 * min(udpReceiveBuffer, rmemMax); got != want {
		t.Errorf("SO_RCVBUF = %d, want %d (rmem_max %d)", got, want, rmemMax)
	}
}

// exchangeUDP sends n queries for www.example.com over c and waits for
// every reply.
func exchangeUDP(t *testing.T, c *net.UDPConn, n int) {
	t.Helper()
	q := query("www.example.com.", dns.TypeA)
	want := map[uint16]bool{}
	for i := range n {
		q.Id = uint16(i + 1)
		want[q.Id] = true
		if _, err := c.Write(mustPack(t, q)); err != nil {
			t.Fatal(err)
		}
	}
	buf := make([]byte, 1500)
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	for len(want) > 0 {
		k, err := c.Read(buf)
		if err != nil {
			t.Fatalf("%d of %d replies missing: %v", len(want), n, err)
		}
		r := new(dns.Msg)
		if err := r.Unpack(buf[:k]); err != nil || !want[r.Id] || len(r.Answer) == 0 {
			t.Fatalf("unexpected reply (%v): %v", err, r)
		}
		delete(want, r.Id)
	}
}

// collect runs a garbage collection, which stops the world: every reader,
// blocked in recvmmsg or waiting in the poller, must let it.
func collect(t *testing.T) {
	t.Helper()
	done := make(chan struct{})
	go func() { runtime.GC(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("a garbage collection did not finish: a UDP reader holds its P")
	}
}

// TestUDPReaders: the server says its readers hold a P each; readers answer across quiet spells (when they wait
// in the poller) and bursts (when they sleep in recvmmsg); garbage
// collections finish in both states and under load; after Shutdown the
// sockets are closed, so the port can be bound without SO_REUSEPORT.
func TestUDPReaders(t *testing.T) {
	srv := New(Config{Listen: []string{"127.0.0.1:0"}, UDPSockets: 2}, newTestHandler(t, Options{}), nil)
	if got := srv.ReaderProcs(); got != 2 {
		t.Errorf("ReaderProcs = %d, want 2 (one per UDP socket)", got)
	}
	// The readers hold a P each while they sleep in recvmmsg: give them
	// theirs, as app does, so that the collections below can run.
	runtime.GOMAXPROCS(runtime.GOMAXPROCS(0) + 2)
	defer runtime.SetDefaultGOMAXPROCS()
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	addr := srv.Addrs()[0]
	c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	quiets := func() (n uint64) {
		for _, r := range srv.readers {
			n += r.quiets.Load()
		}
		return n
	}
	for round := range 5 {
		// Whichever reader last had a datagram goes quiet after a few
		// empty reads (receive timeouts or preemption signals, each at
		// most udpReceiveTimeout apart).
		q0 := quiets()
		deadline := time.Now().Add(5 * time.Second)
		for quiets() == q0 && time.Now().Before(deadline) {
			time.Sleep(udpReceiveTimeout)
		}
		if quiets() == q0 {
			t.Errorf("round %d: no reader went quiet in 5 s", round)
		}
		collect(t)
		exchangeUDP(t, c, 1)
		exchangeUDP(t, c, 200)
	}

	// Collections while queries keep coming.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		lc, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(addr))
		if err != nil {
			t.Error(err)
			return
		}
		defer lc.Close()
		q := mustPack(t, query("www.example.com.", dns.TypeA))
		for i := 0; i < 200000; i++ { // bounded: at most 200k datagrams to loopback
			select {
			case <-stop:
				return
			default:
			}
			lc.Write(q)
			if i%64 == 0 {
				time.Sleep(time.Millisecond)
			}
		}
	}()
	for range 10 {
		collect(t)
		exchangeUDP(t, c, 20)
	}
	close(stop)
	wg.Wait()

	if err := srv.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	for i, r := range srv.readers {
		if r.fd != -1 {
			t.Errorf("reader %d: descriptor %d still open", i, r.fd)
		}
	}
	l, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(addr))
	if err != nil {
		t.Fatalf("port still bound after Shutdown: %v", err)
	}
	l.Close()
}

// TestUDPFragmentation: path MTU discovery is off on UDP sockets (RFC 9715),
// with the Don't Fragment bit set while every reply fits 1400 bytes.
func TestUDPFragmentation(t *testing.T) {
	for _, tc := range []struct {
		addr    string
		udpSize uint16
		level   int
		opt     int
		want    int
	}{
		{"127.0.0.1:0", 0, unix.IPPROTO_IP, unix.IP_MTU_DISCOVER, unix.IP_PMTUDISC_PROBE},
		{"127.0.0.1:0", 1400, unix.IPPROTO_IP, unix.IP_MTU_DISCOVER, unix.IP_PMTUDISC_PROBE},
		{"127.0.0.1:0", 4096, unix.IPPROTO_IP, unix.IP_MTU_DISCOVER, unix.IP_PMTUDISC_OMIT},
		{"[::1]:0", 0, unix.IPPROTO_IPV6, unix.IPV6_MTU_DISCOVER, unix.IPV6_PMTUDISC_PROBE},
		{"[::1]:0", 4096, unix.IPPROTO_IPV6, unix.IPV6_MTU_DISCOVER, unix.IPV6_PMTUDISC_OMIT},
	} {
		srv := New(Config{Listen: []string{tc.addr}, UDPSockets: 1}, newTestHandler(t, Options{UDPSize: tc.udpSize}), nil)
		if err := srv.Start(); err != nil {
			if tc.addr[0] == '[' {
				t.Logf("no IPv6 loopback: %v", err)
				continue
			}
			t.Fatal(err)
		}
		r := srv.readers[0]
		r.mu.Lock()
		got, err := unix.GetsockoptInt(r.fd, tc.level, tc.opt)
		r.mu.Unlock()
		srv.Shutdown(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if got != tc.want {
			t.Errorf("%s, udp_size %d: MTU discovery mode %d, want %d", tc.addr, tc.udpSize, got, tc.want)
		}
	}
}
