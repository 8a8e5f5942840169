package server

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/meridian-dns/meridian/metrics"
)

// startTCP starts a server on 127.0.0.1:0 with cfg's TCP settings and
// metrics on a registry of its own, and shuts it down after the test.
func startTCP(t *testing.T, cfg Config, h *Handler) (*Server, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	h.Metrics = metrics.New(reg, "test")
	cfg.Listen, cfg.UDPSockets = []string{"127.0.0.1:0"}, 1
	srv := New(cfg, h, nil)
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Shutdown(t.Context()) })
	return srv, reg
}

// framed packs m with the two-byte length of DNS over TCP.
func framed(t *testing.T, m *dns.Msg) []byte {
	t.Helper()
	b := mustPack(t, m)
	return append(binary.BigEndian.AppendUint16(nil, uint16(len(b))), b...)
}

// dialFrom connects to srv over TCP from the local address from ("" for
// any).
func dialFrom(t *testing.T, srv *Server, from string) *net.TCPConn {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second}
	if from != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(from)}
	}
	c, err := d.Dial("tcp", srv.Addrs()[0].String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c.(*net.TCPConn)
}

// readReply reads one length-prefixed reply from c within 5 seconds.
func readReply(c net.Conn) (*dns.Msg, error) {
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	var l [2]byte
	if _, err := io.ReadFull(c, l[:]); err != nil {
		return nil, err
	}
	b := make([]byte, binary.BigEndian.Uint16(l[:]))
	if _, err := io.ReadFull(c, b); err != nil {
		return nil, err
	}
	r := new(dns.Msg)
	return r, r.Unpack(b)
}

// ask asks for www.example.com A over c and returns the error when no
// answer comes.
func ask(t *testing.T, c net.Conn) error {
	t.Helper()
	if _, err := c.Write(framed(t, query("www.example.com.", dns.TypeA))); err != nil {
		return err
	}
	r, err := readReply(c)
	if err == nil && len(r.Answer) != 1 {
		err = errors.New("no answer record")
	}
	return err
}

// askTCP asks srv for www.example.com A on a new connection from from,
// closed after.
func askTCP(t *testing.T, srv *Server, from string) error {
	t.Helper()
	c := dialFrom(t, srv, from)
	defer c.Close()
	return ask(t, c)
}

// expectClosed reads c, discarding what comes, until the server's end is
// closed (EOF or a reset); it fails when c stays open for 10 seconds.
func expectClosed(t *testing.T, c net.Conn, what string) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 64<<10)
	for {
		_, err := c.Read(buf)
		if err == nil {
			continue
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("%s: still open after 10 s", what)
		}
		return
	}
}

// openConns returns how many TCP connections srv counts.
func openConns(srv *Server) int {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	return len(srv.conns)
}

// waitConns waits up to 10 seconds for srv to count n connections.
func waitConns(t *testing.T, srv *Server, n int) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); openConns(srv) != n; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the server counts %d connections, want %d", openConns(srv), n)
		}
	}
}

// waitSeries waits up to 10 seconds for the series of name with labels
// to reach want: connections are counted as their goroutines end.
func waitSeries(t *testing.T, reg *prometheus.Registry, name, labels string, want float64) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); series(t, reg, name)[labels] != want; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Errorf("%s{%s} = %v, want %v", name, labels, series(t, reg, name)[labels], want)
			return
		}
	}
}

// waitGoroutines waits up to 10 seconds for the goroutines to be no more
// than base.
func waitGoroutines(t *testing.T, base int) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); runtime.NumGoroutine() > base; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines, %d before:\n%s", runtime.NumGoroutine(), base, buf[:runtime.Stack(buf, true)])
		}
	}
}

// TestTCPClientsThatDoNotRead: connections that pipeline thousands of
// queries and never read their replies neither keep a new client out nor
// make the server start goroutines without bound; each is closed once a
// reply cannot be written within the write timeout, and every goroutine
// of theirs ends.
func TestTCPClientsThatDoNotRead(t *testing.T) {
	const hoarders, queries, inFlight = 5, 3000, 4
	srv, reg := startTCP(t, Config{
		TCPMaxConns: hoarders, TCPMaxInFlight: inFlight,
		TCPWriteTimeout: 200 * time.Millisecond, TCPIdleTimeout: time.Minute,
	}, newTestHandler(t, Options{}))
	base := runtime.NumGoroutine()

	// Replies of 650 bytes: 3000 of them fill any buffer on the way.
	batch := bytes.Repeat(framed(t, query("big.example.com.", dns.TypeTXT)), queries)
	var sending sync.WaitGroup
	conns := make([]*net.TCPConn, hoarders)
	for i := range conns {
		conns[i] = dialFrom(t, srv, "")
		sending.Add(1)
		go func() {
			defer sending.Done()
			conns[i].Write(batch) // ends when written or when the server closes the connection
		}()
	}
	waitConns(t, srv, hoarders)
	// While they hoard, each has at most a reader, a writer and inFlight
	// queries being answered.
	if g := runtime.NumGoroutine(); g > base+2*hoarders+hoarders*(2+inFlight) {
		t.Errorf("%d goroutines while %d connections hoard, %d before", g, hoarders, base)
	}

	answered := false
	for deadline := time.Now().Add(10 * time.Second); !answered && time.Now().Before(deadline); {
		if err := askTCP(t, srv, ""); err == nil {
			answered = true
		} else {
			time.Sleep(50 * time.Millisecond)
		}
	}
	if !answered {
		t.Fatalf("a new client got no answer in 10 s while %d connections did not read", hoarders)
	}
	// The server closes them by itself: a client that starts reading
	// before its reply timed out would be served.
	waitConns(t, srv, 0)
	for i, c := range conns {
		expectClosed(t, c, fmt.Sprintf("hoarding connection %d", i))
		c.Close()
	}
	sending.Wait()
	waitGoroutines(t, base)
	// Each hoarder was closed when a reply could not be written, unless
	// the new client's connection took its place first.
	closed := series(t, reg, "meridian_tcp_connections_closed_total")
	if n := closed[`reason=stalled`] + closed[`reason=reclaimed`]; n != hoarders {
		t.Errorf("%v hoarding connections closed as stalled or reclaimed, want %d (%v)", n, hoarders, closed)
	}
	expectSeries(t, reg, "meridian_tcp_open_connections", map[string]float64{"": 0})
}

// nameLog holds every query for one name in the handler until released.
type nameLog struct {
	name    string
	entered chan struct{}
	release chan struct{}
}

func (l *nameLog) Log(e QueryLogEntry) {
	if e.Name == l.name {
		l.entered <- struct{}{}
		<-l.release
	}
}

// TestTCPReclaimsIdleConnections: at max_connections a new client is
// admitted in place of the connection idle longest (those that sent
// nothing or one byte alike), never of one whose query is being answered.
func TestTCPReclaimsIdleConnections(t *testing.T) {
	const limit = 8
	h := newTestHandler(t, Options{})
	hold := &nameLog{name: "docs.example.com.", entered: make(chan struct{}, 1), release: make(chan struct{})}
	h.QueryLog = hold
	srv, reg := startTCP(t, Config{TCPMaxConns: limit, TCPIdleTimeout: time.Minute}, h)

	// The oldest connection has a query being answered.
	busy := dialFrom(t, srv, "")
	if _, err := busy.Write(framed(t, query("docs.example.com.", dns.TypeA))); err != nil {
		t.Fatal(err)
	}
	select {
	case <-hold.entered:
	case <-time.After(10 * time.Second):
		t.Fatal("the query never reached the handler")
	}
	idle := make([]*net.TCPConn, limit-1)
	for i := range idle {
		idle[i] = dialFrom(t, srv, "")
		if i%2 == 1 {
			idle[i].Write([]byte{0}) // half a length
		}
		waitConns(t, srv, i+2) // admitted in this order
	}

	// Each new client, kept open, takes the place of the connection idle
	// longest.
	for round := range 2 {
		if err := ask(t, dialFrom(t, srv, "")); err != nil {
			t.Fatalf("round %d: a new client at max_connections: %v", round, err)
		}
		expectClosed(t, idle[round], "the connection idle longest")
	}
	close(hold.release)
	if r, err := readReply(busy); err != nil || len(r.Answer) == 0 {
		t.Errorf("the connection with a query being answered: %v, %v", r, err)
	}
	waitSeries(t, reg, "meridian_tcp_connections_closed_total", `reason=reclaimed`, 2)
	expectSeries(t, reg, "meridian_tcp_connections_closed_total", map[string]float64{`reason=reclaimed`: 2})
	expectSeries(t, reg, "meridian_tcp_open_connections", map[string]float64{"": limit})
}

// TestTCPClientNetworkLimit: max_connections_per_ip counts the
// connections of a client network (a /24 by default), not of one address.
func TestTCPClientNetworkLimit(t *testing.T) {
	srv, reg := startTCP(t, Config{TCPMaxConnsPerIP: 3, TCPIdleTimeout: time.Minute}, newTestHandler(t, Options{}))
	for _, from := range []string{"127.0.0.1", "127.0.0.1", "127.0.0.2"} {
		dialFrom(t, srv, from)
	}
	waitConns(t, srv, 3)
	extra := dialFrom(t, srv, "127.0.0.2")
	expectClosed(t, extra, "a fourth connection from 127.0.0.0/24")
	if err := askTCP(t, srv, "127.0.1.1"); err != nil {
		t.Errorf("a client of another network: %v", err)
	}
	waitSeries(t, reg, "meridian_tcp_connections_closed_total", `reason=client`, 1)
	expectSeries(t, reg, "meridian_tcp_connections_closed_total", map[string]float64{
		`reason=client`: 1, `reason=client_limit`: 1,
	})
}

func TestClientNetwork(t *testing.T) {
	for _, tc := range []struct {
		v4, v6 int
		addr   string
		want   string
	}{
		{0, 0, "192.0.2.77", "192.0.2.0/24"},
		{0, 0, "::ffff:192.0.2.77", "192.0.2.0/24"},
		{0, 0, "2001:db8:1:2ff::1", "2001:db8:1:200::/56"},
		{32, 128, "192.0.2.77", "192.0.2.77/32"},
		{32, 128, "2001:db8::1", "2001:db8::1/128"},
		{16, 48, "::ffff:198.51.100.1", "198.51.0.0/16"},
		{16, 48, "2001:db8:1:2::1", "2001:db8:1::/48"},
		{16, 48, "fe80::1%eth0", "fe80::/48"},
	} {
		srv := New(Config{TCPClientPrefixV4: tc.v4, TCPClientPrefixV6: tc.v6}, nil, nil)
		if got := srv.clientNetwork(netip.MustParseAddr(tc.addr)); got.String() != tc.want {
			t.Errorf("/%d, /%d: network of %s = %s, want %s", tc.v4, tc.v6, tc.addr, got, tc.want)
		}
	}
}
