package server

import (
	"encoding/hex"
	"io"
	"log/slog"
	"net/netip"
	"testing"

	"github.com/miekg/dns"

	"github.com/meridian-dns/meridian/dns/rrl"
)

func TestRateLimitedReplies(t *testing.T) {
	h := newTestHandler(t, Options{})
	h.RRL = rrl.New(rrl.Config{ResponsesPerSecond: 5, Slip: 2})
	flooder := netip.MustParseAddr("198.51.100.66")
	q := mustPack(t, query("www.example.com.", dns.TypeA))
	sent, slipped, dropped := flood(t, h, q, flooder, 25, func(r *dns.Msg) {
		if r.Truncated && (len(r.Answer)+len(r.Ns) != 0 || len(r.Question) != 1) {
			t.Errorf("slipped reply carries records: %v", r)
		}
	})
	if sent != 5 || slipped != 10 || dropped != 10 {
		t.Errorf("sent=%d slipped=%d dropped=%d, want 5/10/10", sent, slipped, dropped)
	}
	// TCP proves the source address, so it is never limited.
	if r := exchangeBytesFrom(t, h, q, flooder, TCP); r == nil || r.Truncated || len(r.Answer) != 1 {
		t.Errorf("TCP reply limited: %v", r)
	}
	// Another network has its own budget.
	if r := exchangeBytesFrom(t, h, q, netip.MustParseAddr("192.0.2.1"), UDP); r == nil || r.Truncated {
		t.Errorf("an innocent network was limited: %v", r)
	}
}

func exchangeBytesFrom(t *testing.T, h *Handler, q []byte, from netip.Addr, tr Transport) *dns.Msg {
	t.Helper()
	out := h.Serve(q, from, tr, nil)
	if out == nil {
		return nil
	}
	r := new(dns.Msg)
	if err := r.Unpack(out); err != nil {
		t.Fatal(err)
	}
	return r
}

// TestQueryLogAfterClose: queries still in flight during shutdown may log
// after Close; that must drop the entry, not panic.
func TestQueryLogAfterClose(t *testing.T) {
	l := NewSampledLog(slogDiscard(), 1)
	l.Log(QueryLogEntry{Name: "before."})
	l.Close()
	l.Log(QueryLogEntry{Name: "after."})
	if l.Dropped.Load() != 1 {
		t.Errorf("dropped %d, want the one entry logged after Close", l.Dropped.Load())
	}
}

func slogDiscard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// TestRateLimitedMalformedQueries is the security review's reproduction:
// with RRL on, a flood of bare 12-byte headers (QDCOUNT 0) made the handler
// panic on every dropped reply and answer SERVFAIL. Error replies are
// limited like any other: FORMERR sent, slipped or dropped, never a panic.
func TestRateLimitedMalformedQueries(t *testing.T) {
	h := withMetrics(newTestHandler(t, Options{}))
	h.RRL = rrl.New(rrl.Config{ResponsesPerSecond: 5, Slip: 2})
	flooder := netip.MustParseAddr("198.51.100.66")
	header, _ := hex.DecodeString("abcd01000000000000000000")
	unpackable, _ := hex.DecodeString("abcd0100000100000000000003777777") // a question cut short
	for i, q := range [][]byte{header, unpackable} {
		sent, slipped, dropped := flood(t, h, q, flooder, 2000, func(r *dns.Msg) {
			if r.Rcode != dns.RcodeFormatError || r.Id != 0xabcd {
				t.Fatalf("reply %v, want FORMERR with the query's ID", r)
			}
		})
		if h.Panics.Load() != 0 {
			t.Fatalf("%d panics answering %x", h.Panics.Load(), q)
		}
		if (i == 0) != (sent > 0) || slipped == 0 || dropped == 0 || sent > 10 {
			t.Errorf("%x: sent=%d slipped=%d dropped=%d: want a few sent (by the first flood only), then slipped and dropped", q, sent, slipped, dropped)
		}
	}
	// The two kinds of FORMERR share the network's error budget: the
	// second flood found it spent.
	if r := exchangeBytesFrom(t, h, mustPack(t, query("www.example.com.", dns.TypeA)), flooder, UDP); r == nil || r.Truncated || len(r.Answer) != 1 {
		t.Errorf("an error flood used up the answer budget: %v", r)
	}
}

// TestRateLimitErrorCategory: REFUSED, NOTIMP and FORMERR replies to one
// network share one budget, apart from answers and NXDOMAIN.
func TestRateLimitErrorCategory(t *testing.T) {
	h := newTestHandler(t, Options{})
	h.RRL = rrl.New(rrl.Config{ResponsesPerSecond: 3, Slip: 0})
	client := netip.MustParseAddr("192.0.2.77")
	refused := mustPack(t, query("not-ours.test.", dns.TypeA))
	notify := query("example.com.", dns.TypeSOA)
	notify.Opcode = dns.OpcodeNotify
	notimp := mustPack(t, notify)
	var got []int
	for _, q := range [][]byte{refused, notimp, refused, notimp, refused} {
		if r := exchangeBytesFrom(t, h, q, client, UDP); r != nil {
			got = append(got, r.Rcode)
		}
	}
	if len(got) != 3 {
		t.Errorf("replies %v: want 3 error replies within one budget of 3", got)
	}
	if r := exchangeBytesFrom(t, h, mustPack(t, query("nope.example.com.", dns.TypeA)), client, UDP); r == nil || r.Rcode != dns.RcodeNameError {
		t.Errorf("NXDOMAIN limited by the error budget: %v", r)
	}
}

// TestRateLimitByResponse: one network asking many different names is not
// limited; one name asked over and over is.
func TestRateLimitByResponse(t *testing.T) {
	for _, fullOnly := range []bool{false, true} {
		h := newTestHandler(t, Options{FullPathOnly: fullOnly})
		h.RRL = rrl.New(rrl.Config{ResponsesPerSecond: 2, Slip: 0})
		resolver := netip.MustParseAddr("192.0.2.53")
		for _, name := range []string{"www.example.com.", "mail.example.com.", "example.com."} {
			for i := range 2 {
				if r := exchangeBytesFrom(t, h, mustPack(t, query(name, dns.TypeA)), resolver, UDP); r == nil {
					t.Errorf("fullOnly=%v: %s ask %d dropped within its own budget", fullOnly, name, i+1)
				}
			}
		}
		// Mixed case is the same response (0x20 resolvers): its budget is spent.
		if r := exchangeBytesFrom(t, h, mustPack(t, query("WwW.example.COM.", dns.TypeA)), resolver, UDP); r != nil {
			t.Errorf("fullOnly=%v: a third ask of www.example.com in mixed case was sent: %v", fullOnly, r)
		}
	}
}

// flood sends q n times over UDP from client and counts the replies sent
// whole, slipped (truncated) and dropped; check sees every reply sent.
func flood(t *testing.T, h *Handler, q []byte, client netip.Addr, n int, check func(*dns.Msg)) (sent, slipped, dropped int) {
	t.Helper()
	for range n {
		out := h.Serve(q, client, UDP, nil)
		if out == nil {
			dropped++
			continue
		}
		r := new(dns.Msg)
		if err := r.Unpack(out); err != nil {
			t.Fatalf("reply does not unpack: %v", err)
		}
		check(r)
		if r.Truncated {
			slipped++
		} else {
			sent++
		}
	}
	return sent, slipped, dropped
}
