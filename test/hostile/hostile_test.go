// Package hostile runs a committed suite of malformed and hostile packets
// against a live server and checks that each gets the RFC's answer or is
// dropped, that normal queries keep being answered throughout, and that
// goroutines and memory return to their baseline afterwards.
package hostile

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/meridian-dns/meridian/dns/server"
	"github.com/meridian-dns/meridian/zones"
)

const zoneFile = `
zone: example.com.
soa: {mname: ns1.example.com., rname: hostmaster.example.com., serial: 1}
ns: [ns1.example.com.]
records: |
  ns1 IN A 192.0.2.53
  www IN A 192.0.2.10
  *.wild IN TXT "` + "wildcard" + `"
`

// start runs a server on 127.0.0.1:0 over the test zone.
func start(t *testing.T, cfg server.Config) (*server.Server, string) {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "example.com.yaml"), []byte(zoneFile), 0o644); err != nil {
		t.Fatal(err)
	}
	snap, err := zones.Load(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	var p atomic.Pointer[zones.Snapshot]
	p.Store(snap)
	h := server.NewHandler(&p, nil, server.Options{ECS: true}, nil)
	cfg.Listen = []string{"127.0.0.1:0"}
	srv := server.New(cfg, h, nil)
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	return srv, srv.Addrs()[0].String()
}

// outcome is what a hostile packet must get.
type outcome struct {
	drop  bool
	rcode int
}

var (
	dropped = outcome{drop: true}
	formerr = outcome{rcode: dns.RcodeFormatError}
)

// packet builds a query with mutate applied, packed by miekg/dns.
func packet(mutate func(m *dns.Msg)) []byte {
	m := new(dns.Msg)
	m.SetQuestion("www.example.com.", dns.TypeA)
	m.Id = 0x4242
	if mutate != nil {
		mutate(m)
	}
	b, err := m.Pack()
	if err != nil {
		panic(err)
	}
	return b
}

// withECS adds an EDNS0 client subnet option with raw option data.
func withECS(data []byte) func(*dns.Msg) {
	return func(m *dns.Msg) {
		m.SetEdns0(1232, false)
		m.IsEdns0().Option = append(m.IsEdns0().Option, &dns.EDNS0_LOCAL{Code: dns.EDNS0SUBNET, Data: data})
	}
}

func mustHex(s string) []byte {
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		panic(err)
	}
	return b
}

// header is a 12-byte query header with ID 0x4242, RD clear, and counts.
func header(qd, an, ns, ar uint16) []byte {
	b := make([]byte, 12)
	binary.BigEndian.PutUint16(b, 0x4242)
	binary.BigEndian.PutUint16(b[4:], qd)
	binary.BigEndian.PutUint16(b[6:], an)
	binary.BigEndian.PutUint16(b[8:], ns)
	binary.BigEndian.PutUint16(b[10:], ar)
	return b
}

func cat(parts ...[]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// hostilePackets is the suite: each packet with the outcome RFC 1035, 6891
// and 7871 call for.
var hostilePackets = []struct {
	name string
	pkt  []byte
	want outcome
}{
	{"empty datagram", nil, dropped},
	{"truncated header", []byte{0x42, 0x42, 0x01}, dropped},
	{"header only, QDCOUNT 0", header(0, 0, 0, 0), formerr},
	{"QDCOUNT 0 with EDNS", packet(func(m *dns.Msg) { m.SetEdns0(1232, false); m.Question = nil }), formerr},
	{"QDCOUNT 2", packet(func(m *dns.Msg) {
		m.Question = append(m.Question, dns.Question{Name: "ns1.example.com.", Qtype: dns.TypeA, Qclass: dns.ClassINET})
	}), formerr},
	{"QDCOUNT says 1, no question", header(1, 0, 0, 0), formerr},
	{"label longer than 63", cat(header(1, 0, 0, 0), []byte{64}, []byte(strings.Repeat("a", 64)), []byte{0, 0, 1, 0, 1}), formerr},
	{"name longer than 255", cat(header(1, 0, 0, 0), []byte(strings.Repeat("\x3f"+strings.Repeat("b", 63), 4)), []byte{0, 0, 1, 0, 1}), formerr},
	{"compression pointer loop", cat(header(1, 0, 0, 0), []byte{0xc0, 12, 0, 1, 0, 1}), formerr},
	{"forward compression pointer", cat(header(1, 0, 0, 0), []byte{0xc0, 20, 0, 1, 0, 1, 0, 0, 3, 'w', 'w', 'w', 0}), formerr},
	{"pointer past the end", cat(header(1, 0, 0, 0), []byte{0xc0, 0xff, 0, 1, 0, 1}), formerr},
	{"response sent as a query", packet(func(m *dns.Msg) { m.Response = true }), dropped},
	{"opcode IQUERY", packet(func(m *dns.Msg) { m.Opcode = dns.OpcodeIQuery }), outcome{rcode: dns.RcodeNotImplemented}},
	{"opcode 7 (unassigned)", packet(func(m *dns.Msg) { m.Opcode = 7 }), outcome{rcode: dns.RcodeNotImplemented}},
	{"opcode NOTIFY", packet(func(m *dns.Msg) { m.Opcode = dns.OpcodeNotify }), outcome{rcode: dns.RcodeNotImplemented}},
	{"class NONE", packet(func(m *dns.Msg) { m.Question[0].Qclass = dns.ClassNONE }), outcome{rcode: dns.RcodeRefused}},
	{"class ANY", packet(func(m *dns.Msg) { m.Question[0].Qclass = dns.ClassANY }), outcome{rcode: dns.RcodeRefused}},
	{"qtype 0", packet(func(m *dns.Msg) { m.Question[0].Qtype = 0 }), formerr},
	{"AXFR over UDP", packet(func(m *dns.Msg) { m.Question[0].Qtype = dns.TypeAXFR }), outcome{rcode: dns.RcodeRefused}},
	{"two OPT records", packet(func(m *dns.Msg) { m.SetEdns0(1232, false); m.Extra = append(m.Extra, dns.Copy(m.Extra[0])) }), formerr},
	{"OPT in the answer section", packet(func(m *dns.Msg) { m.SetEdns0(1232, false); m.Answer, m.Extra = m.Extra, nil }), formerr},
	{"OPT in the authority section", packet(func(m *dns.Msg) { m.SetEdns0(1232, false); m.Ns, m.Extra = m.Extra, nil }), formerr},
	{"OPT owned by a non-root name", packet(func(m *dns.Msg) { m.SetEdns0(1232, false); m.Extra[0].Header().Name = "www.example.com." }), formerr},
	{"EDNS version 1", packet(func(m *dns.Msg) { m.SetEdns0(1232, false); m.IsEdns0().SetVersion(1) }), outcome{rcode: dns.RcodeBadVers}},
	{"ECS family 3", packet(withECS([]byte{0, 3, 24, 0, 192, 0, 2})), formerr},
	{"ECS source prefix 33 for IPv4", packet(withECS([]byte{0, 1, 33, 0, 192, 0, 2, 1, 0})), formerr},
	{"ECS source prefix 129 for IPv6", packet(withECS(append([]byte{0, 2, 129, 0}, make([]byte, 17)...))), formerr},
	{"ECS address bits beyond the prefix", packet(withECS([]byte{0, 1, 24, 0, 192, 0, 2, 1})), formerr},
	{"ECS /20 with a stray bit in the last byte", packet(withECS([]byte{0, 1, 20, 0, 192, 0, 0x2f})), formerr},
	{"ECS truncated option data", packet(withECS([]byte{0, 1})), formerr},
	{"ECS address longer than the prefix", packet(withECS([]byte{0, 1, 8, 0, 192, 0})), formerr},
	{"ECS family 0 with a prefix", packet(withECS([]byte{0, 0, 8, 0, 1})), formerr},
	{"trailing garbage after the OPT rdata length", cat(packet(func(m *dns.Msg) { m.SetEdns0(1232, false) })[:40]), formerr},
	{"random bytes with a query header", cat(header(1, 0, 0, 0), mustHex("ffee ddcc bbaa 9988 7766 5544 3322 1100")), formerr},
}

// sendUDP sends pkt and returns the reply, or nil when none came within a
// short wait (the packet was dropped).
func sendUDP(t *testing.T, addr string, pkt []byte) []byte {
	t.Helper()
	c, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write(pkt); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	buf := make([]byte, 65535)
	n, err := c.Read(buf)
	if err != nil {
		return nil
	}
	return buf[:n]
}

// healthy checks that a normal query is still answered, over UDP and TCP.
func healthy(t *testing.T, addr string) {
	t.Helper()
	for _, proto := range []string{"udp", "tcp"} {
		c := &dns.Client{Net: proto, Timeout: 2 * time.Second}
		m := new(dns.Msg)
		m.SetQuestion("www.example.com.", dns.TypeA)
		r, _, err := c.Exchange(m, addr)
		if err != nil || r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 {
			t.Fatalf("normal %s query failed: %v %v", proto, r, err)
		}
	}
}

func TestHostilePackets(t *testing.T) {
	_, addr := start(t, server.Config{})
	healthy(t, addr)
	for _, tc := range hostilePackets {
		t.Run(tc.name, func(t *testing.T) {
			reply := sendUDP(t, addr, tc.pkt)
			if tc.want.drop {
				if reply != nil {
					t.Fatalf("answered a packet that must be dropped: %x", reply)
				}
				healthy(t, addr)
				return
			}
			if reply == nil {
				t.Fatal("no reply")
			}
			if len(reply) < 12 || binary.BigEndian.Uint16(reply) != 0x4242 || reply[2]&0x80 == 0 {
				t.Fatalf("reply is not a response to the query: %x", reply)
			}
			rcode := int(reply[3] & 0xf)
			if m := new(dns.Msg); m.Unpack(reply) == nil {
				rcode = m.Rcode // includes the extended bits from the OPT
			}
			if rcode != tc.want.rcode {
				t.Errorf("rcode %s, want %s", dns.RcodeToString[rcode], dns.RcodeToString[tc.want.rcode])
			}
			healthy(t, addr)
		})
	}
}

func TestOversizedPayloadStaysWithinLimits(t *testing.T) {
	_, addr := start(t, server.Config{})
	m := new(dns.Msg)
	m.SetQuestion("example.com.", dns.TypeNS)
	m.SetEdns0(65535, false)
	b, _ := m.Pack()
	reply := sendUDP(t, addr, b)
	r := new(dns.Msg)
	if err := r.Unpack(reply); err != nil || len(reply) > server.DefaultUDPSize || r.IsEdns0().UDPSize() != server.DefaultUDPSize {
		t.Errorf("reply %d bytes, %v (%v)", len(reply), r.IsEdns0(), err)
	}
}

func TestTCPAbuse(t *testing.T) {
	_, addr := start(t, server.Config{TCPIdleTimeout: 300 * time.Millisecond})
	t.Run("64 KiB message", func(t *testing.T) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		msg := cat(packet(nil), make([]byte, 65535-len(packet(nil))))
		frame := cat([]byte{0xff, 0xff}, msg)
		if _, err := c.Write(frame); err != nil {
			t.Fatal(err)
		}
		c.SetReadDeadline(time.Now().Add(2 * time.Second))
		var l [2]byte
		if _, err := io.ReadFull(c, l[:]); err != nil {
			t.Fatalf("no reply to a 64 KiB message: %v", err)
		}
		reply := make([]byte, binary.BigEndian.Uint16(l[:]))
		io.ReadFull(c, reply)
		if reply[3]&0xf != dns.RcodeFormatError && reply[3]&0xf != dns.RcodeSuccess {
			t.Errorf("rcode %d", reply[3]&0xf)
		}
		healthy(t, addr)
	})
	t.Run("half a length prefix, then silence", func(t *testing.T) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.Write([]byte{0x00})
		healthy(t, addr) // others are served while it stalls
		c.SetReadDeadline(time.Now().Add(3 * time.Second))
		if _, err := c.Read(make([]byte, 1)); err != io.EOF {
			t.Errorf("stalled connection not closed by the idle timeout: %v", err)
		}
	})
	t.Run("slow loris: a message trickled byte by byte past the idle timeout", func(t *testing.T) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		frame := cat([]byte{0, byte(len(packet(nil)))}, packet(nil))
		closed := false
		for i := 0; i < len(frame) && !closed; i++ {
			if _, err := c.Write(frame[i : i+1]); err != nil {
				closed = true
			}
			time.Sleep(100 * time.Millisecond)
			if time.Duration(i)*100*time.Millisecond > 2*time.Second {
				break
			}
		}
		c.SetReadDeadline(time.Now().Add(2 * time.Second))
		_, err = c.Read(make([]byte, 64))
		if err == nil {
			t.Error("a connection that never completed a message within the idle timeout was kept open")
		}
	})
}

func TestConnectionLimits(t *testing.T) {
	_, addr := start(t, server.Config{TCPMaxConnsPerIP: 3, TCPIdleTimeout: 5 * time.Second})
	var conns []net.Conn
	for range 3 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	extra, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer extra.Close()
	extra.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := extra.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("a fourth connection from one address was not closed: %v", err)
	}
	// UDP is unaffected.
	c := &dns.Client{Net: "udp", Timeout: 2 * time.Second}
	m := new(dns.Msg)
	m.SetQuestion("www.example.com.", dns.TypeA)
	if _, _, err := c.Exchange(m, addr); err != nil {
		t.Error(err)
	}
}

// TestBaselineAfterAbuse sends the whole suite many times over UDP and TCP
// and checks that goroutines and heap return to where they were.
func TestBaselineAfterAbuse(t *testing.T) {
	srv, addr := start(t, server.Config{TCPIdleTimeout: 200 * time.Millisecond})
	healthy(t, addr)
	runtime.GC()
	baseG := runtime.NumGoroutine()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	baseHeap := ms.HeapAlloc

	conn, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	for range 50 {
		for _, tc := range hostilePackets {
			conn.Write(tc.pkt)
		}
	}
	conn.Close()
	for range 20 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		for _, tc := range hostilePackets {
			frame := cat([]byte{byte(len(tc.pkt) >> 8), byte(len(tc.pkt))}, tc.pkt)
			c.Write(frame)
		}
		c.Close()
	}
	healthy(t, addr)

	deadline := time.Now().Add(5 * time.Second)
	for {
		runtime.GC()
		g := runtime.NumGoroutine()
		runtime.ReadMemStats(&ms)
		if g <= baseG+2 && ms.HeapAlloc < baseHeap+8<<20 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("goroutines %d (baseline %d), heap %d KiB (baseline %d KiB)", g, baseG, ms.HeapAlloc>>10, baseHeap>>10)
		}
		time.Sleep(50 * time.Millisecond)
	}
	_ = srv
}
