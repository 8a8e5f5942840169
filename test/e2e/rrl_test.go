package e2e

import (
	"encoding/hex"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// TestDefaultRateLimiting runs the security review's two reproductions
// against the real binary with its default configuration (no rrl section):
// a flood of bare 12-byte headers (QDCOUNT 0), which made every limited
// reply panic and answer SERVFAIL, and a flood of one TXT question, whose
// replies are many times the query's size. Both must be limited: a few
// answered, the rest slipped (truncated) or dropped, never a SERVFAIL, and
// the server goes on answering other questions. Every packet goes to
// 127.0.0.1; the floods are 2,000 packets each.
func TestDefaultRateLimiting(t *testing.T) {
	in := newInstance(t)
	p := startServer(t, in)

	txt := new(dns.Msg)
	txt.SetQuestion("example.com.", dns.TypeTXT)
	txtQuery, err := txt.Pack()
	if err != nil {
		t.Fatal(err)
	}
	header, _ := hex.DecodeString("abcd01000000000000000000")

	for _, flood := range []struct {
		name  string
		query []byte
		rcode int
	}{
		{"bare header", header, dns.RcodeFormatError},
		{"TXT", txtQuery, dns.RcodeSuccess},
	} {
		c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(p.addr))
		if err != nil {
			t.Fatal(err)
		}
		const packets = 2000
		for i := range packets {
			if _, err := c.Write(flood.query); err != nil {
				t.Fatal(err)
			}
			if i%200 == 199 {
				time.Sleep(time.Millisecond) // let the server's buffer drain
			}
		}
		var full, slipped int
		buf := make([]byte, 4096)
		for {
			c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
			n, err := c.Read(buf)
			if err != nil {
				break
			}
			r := new(dns.Msg)
			if err := r.Unpack(buf[:n]); err != nil {
				t.Fatalf("%s: reply does not unpack: %v", flood.name, err)
			}
			if r.Rcode != flood.rcode {
				t.Fatalf("%s: reply %s, want %s", flood.name, dns.RcodeToString[r.Rcode], dns.RcodeToString[flood.rcode])
			}
			if r.Truncated {
				slipped++
			} else {
				full++
			}
		}
		c.Close()
		t.Logf("%s: %d packets: %d answered, %d slipped, %d not answered", flood.name, packets, full, slipped, packets-full-slipped)
		if full == 0 || full > 200 || slipped == 0 || full+slipped > packets*3/4 {
			t.Errorf("%s: %d answered and %d slipped of %d: want about 100 answered and the rest limited", flood.name, full, slipped, packets)
		}
	}
	// Another question from the same address has its own budget.
	q := new(dns.Msg)
	q.SetQuestion("mail.example.com.", dns.TypeA)
	if r := exchange(t, p.addr, "udp", q); r.Rcode != dns.RcodeSuccess || r.Truncated || len(r.Answer) == 0 {
		t.Errorf("after the floods: %v", r)
	}
	if s := p.log.String(); strings.Contains(s, "panic") {
		t.Errorf("the server logged a panic:\n%s", s)
	}
}
