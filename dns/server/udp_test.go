package server

import (
	"fmt"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/meridian-dns/meridian/metrics"
)

// clientLog records the client address of every query answered.
type clientLog struct {
	mu      sync.Mutex
	clients map[netip.Addr]int
}

func (l *clientLog) Log(e QueryLogEntry) {
	l.mu.Lock()
	l.clients[e.Client]++
	l.mu.Unlock()
}

// TestUDPBatches sends bursts of queries over IPv4 and IPv6 loopback so
// the server reads and answers them in batches, with an oversized
// datagram among them: every query gets its own reply, with its ID, the
// handler sees the right client address, each query is counted by the
// time its reply arrives, and each reply is timed once.
func TestUDPBatches(t *testing.T) {
	for _, addr := range []string{"127.0.0.1:0", "[::1]:0"} {
		t.Run(addr, func(t *testing.T) {
			h := newTestHandler(t, Options{})
			log := &clientLog{clients: map[netip.Addr]int{}}
			h.QueryLog = log
			reg := prometheus.NewRegistry()
			h.Metrics = metrics.New(reg, "test")
			srv := New(Config{Listen: []string{addr}, UDPSockets: 1}, h, nil)
			if err := srv.Start(); err != nil {
				if addr[0] == '[' {
					t.Skipf("no IPv6 loopback: %v", err)
				}
				t.Fatal(err)
			}
			defer srv.Shutdown(t.Context())
			server := net.UDPAddrFromAddrPort(srv.Addrs()[0])
			c, err := net.DialUDP("udp", nil, server)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			local := c.LocalAddr().(*net.UDPAddr).AddrPort().Addr().Unmap()

			const rounds, burst = 5, 100
			names := []string{"www.example.com.", "Www.Example.com.", "nothere.example.com.", "example.com."}
			for round := range rounds {
				// An oversized datagram first: dropped, nothing else lost.
				if _, err := c.Write(make([]byte, udpBufSize+100)); err != nil {
					t.Fatal(err)
				}
				want := map[uint16]string{}
				for i := range burst {
					m := query(names[i%len(names)], dns.TypeA)
					m.Id = uint16(round*burst + i + 1)
					if i%2 == 0 {
						m.SetEdns0(1232, false)
					}
					want[m.Id] = m.Question[0].Name
					if _, err := c.Write(mustPack(t, m)); err != nil {
						t.Fatal(err)
					}
				}
				buf := make([]byte, 65535)
				c.SetReadDeadline(time.Now().Add(10 * time.Second))
				for len(want) > 0 {
					n, err := c.Read(buf)
					if err != nil {
						t.Fatalf("round %d: %d replies missing: %v", round, len(want), err)
					}
					r := new(dns.Msg)
					if err := r.Unpack(buf[:n]); err != nil {
						t.Fatalf("reply does not unpack: %v", err)
					}
					name, ok := want[r.Id]
					if !ok {
						t.Fatalf("unexpected or repeated reply ID %d", r.Id)
					}
					if len(r.Question) != 1 || r.Question[0].Name != name {
						t.Errorf("reply %d answers %v, want %s", r.Id, r.Question, name)
					}
					delete(want, r.Id)
				}
				// A query is counted before its reply is sent:
				// every query answered is already counted.
				total := 0.0
				for _, v := range series(t, reg, "meridian_dns_queries_total") {
					total += v
				}
				if total != float64((round+1)*burst) {
					t.Errorf("round %d: %v queries counted once every reply came, want %d", round, total, (round+1)*burst)
				}
			}
			// Every reply sent is observed once in the duration histogram.
			// The reader observes a batch after sending it, so the last
			// observation may trail the last reply a little.
			want := map[string]float64{"": rounds * burst}
			for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
				if fmt.Sprint(series(t, reg, "meridian_dns_request_duration_seconds")) == fmt.Sprint(want) {
					break
				}
			}
			expectSeries(t, reg, "meridian_dns_request_duration_seconds", want)
			log.mu.Lock()
			defer log.mu.Unlock()
			if log.clients[local] != rounds*burst || len(log.clients) != 1 {
				t.Errorf("clients seen %v, want %d queries from %s only", log.clients, rounds*burst, local)
			}
		})
	}
}

// TestUDPClientGone: replies to clients that have gone (their port answers
// ICMP unreachable, which the kernel reports on the server's socket) do
// not stop the server answering others.
func TestUDPClientGone(t *testing.T) {
	srv := New(Config{Listen: []string{"127.0.0.1:0"}, UDPSockets: 1}, newTestHandler(t, Options{}), nil)
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown(t.Context())
	server := net.UDPAddrFromAddrPort(srv.Addrs()[0])
	q := mustPack(t, query("www.example.com.", dns.TypeA))
	for range 50 {
		gone, err := net.DialUDP("udp", nil, server)
		if err != nil {
			t.Fatal(err)
		}
		gone.Write(q)
		gone.Close()
	}
	c, err := net.DialUDP("udp", nil, server)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	buf := make([]byte, 512)
	for i := range 20 {
		c.Write(q)
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Read(buf); err != nil {
			t.Fatalf("query %d after the departed clients: %v", i, err)
		}
	}
}
