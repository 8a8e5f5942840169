package server

import (
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
	var sent, dropped, slipped int
	for range 25 {
		out := h.Serve(q, flooder, UDP, nil)
		if out == nil {
			dropped++
			continue
		}
		r := new(dns.Msg)
		if err := r.Unpack(out); err != nil {
			t.Fatal(err)
		}
		if r.Truncated {
			if len(r.Answer)+len(r.Ns) != 0 || len(r.Question) != 1 {
				t.Errorf("slipped reply carries records: %v", r)
			}
			slipped++
		} else {
			sent++
		}
	}
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
