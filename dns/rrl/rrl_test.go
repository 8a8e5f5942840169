package rrl

import (
	"net/netip"
	"testing"
	"time"
)

// fakeClock is a manually advanced clock.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }

func newTest(cfg Config) (*Limiter, *fakeClock) {
	l := New(cfg)
	c := &fakeClock{t: time.Unix(1_800_000_000, 0)}
	l.now, l.base = c.now, c.t
	return l, c
}

func count(l *Limiter, client netip.Addr, cat Category, n int) (send, drop, slip int) {
	for range n {
		switch l.Decide(client, cat, Identify("www.example.com./A"), l.now()) {
		case Send:
			send++
		case Drop:
			drop++
		case Slip:
			slip++
		}
	}
	return
}

func TestOffWhenZero(t *testing.T) {
	if New(Config{}) != nil {
		t.Fatal("a zero rate must turn limiting off")
	}
}

func TestBudgetAndSlip(t *testing.T) {
	l, _ := newTest(Config{ResponsesPerSecond: 10, Slip: 2})
	c := netip.MustParseAddr("198.51.100.7")
	send, drop, slip := count(l, c, Answer, 30)
	// A fresh bucket holds one second's budget; the other 20 are limited,
	// every second one slipped.
	if send != 10 || slip != 10 || drop != 10 {
		t.Errorf("send=%d drop=%d slip=%d, want 10/10/10", send, drop, slip)
	}
}

func TestNetworksShareABudget(t *testing.T) {
	l, _ := newTest(Config{ResponsesPerSecond: 5, Slip: 0})
	a, b := netip.MustParseAddr("198.51.100.1"), netip.MustParseAddr("198.51.100.200")
	other := netip.MustParseAddr("198.51.101.1")
	s1, _, _ := count(l, a, Answer, 5)
	s2, d2, _ := count(l, b, Answer, 5)
	s3, _, _ := count(l, other, Answer, 5)
	if s1 != 5 || s2 != 0 || d2 != 5 || s3 != 5 {
		t.Errorf("same /24: %d then %d sent; other /24: %d", s1, s2, s3)
	}
	v6a, v6b := netip.MustParseAddr("2001:db8:0:1::1"), netip.MustParseAddr("2001:db8:0:ff::1")
	count(l, v6a, Answer, 5)
	if s, _, _ := count(l, v6b, Answer, 1); s != 0 {
		t.Error("addresses in one /56 must share a budget")
	}
}

func TestCategoriesAreSeparate(t *testing.T) {
	l, _ := newTest(Config{ResponsesPerSecond: 3, Slip: 0})
	c := netip.MustParseAddr("203.0.113.9")
	count(l, c, NXDomain, 50)
	if s, _, _ := count(l, c, Answer, 3); s != 3 {
		t.Errorf("an NXDOMAIN flood used the answer budget: %d of 3 sent", s)
	}
	if s, _, _ := count(l, c, Error, 3); s != 3 {
		t.Errorf("errors have their own budget: %d of 3 sent", s)
	}
}

func TestRefillAndWindow(t *testing.T) {
	l, clk := newTest(Config{ResponsesPerSecond: 10, Slip: 0, Window: 2 * time.Second})
	c := netip.MustParseAddr("192.0.2.1")
	count(l, c, Answer, 10)
	clk.advance(500 * time.Millisecond)
	if s, _, _ := count(l, c, Answer, 10); s != 5 {
		t.Errorf("after 0.5 s, %d sent, want 5 refilled", s)
	}
	// A sustained flood builds debt down to rate x window.
	count(l, c, Answer, 1000)
	clk.advance(time.Second)
	if s, _, _ := count(l, c, Answer, 1); s != 0 {
		t.Error("debt must keep the network limited after one second")
	}
	clk.advance(3 * time.Second)
	if s, _, _ := count(l, c, Answer, 1); s != 1 {
		t.Error("after the window the network must be answered again")
	}
}

func TestExempt(t *testing.T) {
	l, _ := newTest(Config{ResponsesPerSecond: 1, Exempt: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}})
	if s, _, _ := count(l, netip.MustParseAddr("192.0.2.55"), Answer, 100); s != 100 {
		t.Errorf("exempt network limited: %d of 100 sent", s)
	}
}

func TestSweep(t *testing.T) {
	l, clk := newTest(Config{ResponsesPerSecond: 10})
	for i := range 100 {
		count(l, netip.AddrFrom4([4]byte{198, 51, byte(i), 1}), Answer, 1)
	}
	if l.Len() != 100 {
		t.Fatalf("tracked %d networks", l.Len())
	}
	l.Sweep()
	if l.Len() != 100 {
		t.Errorf("sweep dropped networks that have not recovered: %d left", l.Len())
	}
	clk.advance(time.Second)
	l.Sweep()
	if l.Len() != 0 {
		t.Errorf("sweep kept %d recovered networks", l.Len())
	}
}

func BenchmarkDecide(b *testing.B) {
	l := New(Config{ResponsesPerSecond: 1 << 30})
	c := netip.MustParseAddr("198.51.100.7")
	r, now := Identify("www.example.com./A"), time.Now()
	b.ReportAllocs()
	for b.Loop() {
		l.Decide(c, Answer, r, now)
	}
}

func BenchmarkDecideManyNetworks(b *testing.B) {
	l := New(Config{ResponsesPerSecond: 20, MaxEntries: 10_000})
	r, now := Identify("www.example.com./A"), time.Now()
	b.ReportAllocs()
	i := uint32(0)
	for b.Loop() {
		i++
		l.Decide(netip.AddrFrom4([4]byte{byte(i >> 16), byte(i >> 8), byte(i), 1}), Answer, r, now)
	}
}

func TestResponsesHaveTheirOwnBudgets(t *testing.T) {
	l, _ := newTest(Config{ResponsesPerSecond: 3, Slip: 0})
	c := netip.MustParseAddr("203.0.113.9")
	for range 10 {
		l.Decide(c, Answer, Identify("www.example.com./A"), l.now())
	}
	if a := l.Decide(c, Answer, Identify("www.example.com./A"), l.now()); a != Drop {
		t.Errorf("a repeated response over budget: %v, want Drop", a)
	}
	if a := l.Decide(c, Answer, Identify("mail.example.com./A"), l.now()); a != Send {
		t.Errorf("another question from the same network was limited: %v", a)
	}
	if a := l.Decide(c, Answer, Identify("www.example.com./AAAA"), l.now()); a != Send {
		t.Errorf("another type of the same name was limited: %v", a)
	}
}

// TestTableIsBounded: a flood from many spoofed networks, each a new
// budget, keeps the table at its capacity and evicts the least recently
// used budgets rather than growing.
func TestTableIsBounded(t *testing.T) {
	l, clk := newTest(Config{ResponsesPerSecond: 1, Slip: 0, MaxEntries: 640})
	if l.Capacity() != 640 {
		t.Fatalf("capacity %d, want 640", l.Capacity())
	}
	for i := range 100_000 {
		a := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		l.Decide(a, Answer, Identify("www.example.com./A"), l.now())
		l.Decide(a, Answer, Identify("www.example.com./A"), l.now()) // over budget: not recovered
		if i%1000 == 0 {
			clk.advance(time.Millisecond)
		}
	}
	if n := l.Len(); n > l.Capacity() || n < l.Capacity()/2 {
		t.Errorf("table holds %d budgets, capacity %d", n, l.Capacity())
	}
	if l.Evicted() == 0 {
		t.Error("a full table of limited networks must count evictions")
	}
	// A network that is still being limited right now survives the flood
	// of newcomers better than the ones that went quiet.
	victim := netip.MustParseAddr("198.51.100.1")
	for range 5 {
		l.Decide(victim, Answer, Identify("x./A"), l.now())
	}
	if a := l.Decide(victim, Answer, Identify("x./A"), l.now()); a != Drop {
		t.Errorf("victim not limited: %v", a)
	}
}

// TestRecoveredBudgetsMakeRoom: when the table is full of budgets that have
// recovered, new networks take their places without counting an eviction.
func TestRecoveredBudgetsMakeRoom(t *testing.T) {
	l, clk := newTest(Config{ResponsesPerSecond: 10, MaxEntries: 64})
	for i := range 64 * 4 {
		l.Decide(netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}), Answer, Identify("a./A"), l.now())
	}
	clk.advance(time.Second)
	for i := range 64 * 4 {
		l.Decide(netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)}), Answer, Identify("a./A"), l.now())
	}
	if n := l.Len(); n > l.Capacity() {
		t.Errorf("table holds %d budgets, capacity %d", n, l.Capacity())
	}
}
