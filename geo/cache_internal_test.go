package geo

import (
	"math/rand/v2"
	"net/netip"
	"testing"
	"unsafe"
)

// partition splits the address space of family bits (32 or 128) at random,
// splits times, into spans of at most depth bits, and returns them.
func partition(r *rand.Rand, bits, depth, splits int) []netip.Prefix {
	spans := []netip.Prefix{netip.PrefixFrom(netip.IPv4Unspecified(), 0)}
	if bits == 128 {
		spans[0] = netip.PrefixFrom(netip.IPv6Unspecified(), 0)
	}
	for range splits {
		i := r.IntN(len(spans))
		p := spans[i]
		if p.Bits() >= depth {
			continue
		}
		a := p.Addr().AsSlice()
		a[p.Bits()/8] |= 0x80 >> (p.Bits() % 8)
		high, _ := netip.AddrFromSlice(a)
		spans[i] = netip.PrefixFrom(p.Addr(), p.Bits()+1)
		spans = append(spans, netip.PrefixFrom(high, p.Bits()+1))
	}
	return spans
}

// TestLocationCacheSpans: over random partitions of both families into
// spans of every length, the cache answers every address with its span's
// location, looks each span up once, and keeps IPv4 and IPv6 apart.
func TestLocationCacheSpans(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for round := range 20 {
		c := newLocationCache()
		spans := append(partition(r, 32, 4+round, 400), partition(r, 128, 8+6*round, 400)...)
		looks := map[netip.Prefix]int{}
		spanOf := func(ip netip.Addr) netip.Prefix {
			for _, p := range spans {
				if p.Contains(ip) {
					return p
				}
			}
			t.Fatalf("%s in no span", ip)
			return netip.Prefix{}
		}
		look := func(ip netip.Addr) (Location, netip.Prefix) {
			p := spanOf(ip)
			looks[p]++
			return Location{Country: "XX", Network: p}, p
		}
		for range 3000 {
			var ip netip.Addr
			if r.IntN(2) == 0 {
				ip = netip.AddrFrom4([4]byte{byte(r.Uint32()), byte(r.Uint32()), byte(r.Uint32()), byte(r.Uint32())})
			} else {
				var a [16]byte
				for i := range a {
					a[i] = byte(r.Uint32())
				}
				if r.IntN(2) == 0 {
					clear(a[2:]) // addresses near the bottom, sharing spans
				}
				ip = netip.AddrFrom16(a)
			}
			if got, want := c.lookup(ip, look).Network, spanOf(ip); got != want {
				t.Fatalf("round %d: %s answered with the location of %s, want %s's", round, ip, got, want)
			}
		}
		for p, n := range looks {
			if n != 1 {
				t.Errorf("round %d: span %s looked up %d times, want once", round, p, n)
			}
		}
	}
}

// TestLocationCacheRefusesBadSpans: a span that does not hold the address
// looked up is not cached, so it never answers for other addresses.
func TestLocationCacheRefusesBadSpans(t *testing.T) {
	c := newLocationCache()
	for _, span := range []netip.Prefix{
		netip.MustParsePrefix("10.0.0.0/8"), // another network
		netip.MustParsePrefix("::/64"),      // another family
		{},
	} {
		ip := netip.MustParseAddr("192.0.2.1")
		calls := 0
		look := func(netip.Addr) (Location, netip.Prefix) { calls++; return Location{Country: "US"}, span }
		c.lookup(ip, look)
		c.lookup(ip, look)
		if calls != 2 {
			t.Errorf("span %v: %d lookups of two, want the span refused", span, calls)
		}
		if c.get(netip.MustParseAddr("10.1.2.3")) != nil || c.len() != 0 {
			t.Errorf("span %v was cached", span)
		}
	}
}

func TestLocationCacheBounded(t *testing.T) {
	c := newLocationCache()
	calls := 0
	look := func(ip netip.Addr) (Location, netip.Prefix) {
		calls++
		return Location{Country: "US"}, netip.PrefixFrom(ip, ip.BitLen())
	}
	ip := netip.MustParseAddr("198.51.100.1")
	c.lookup(ip, look)
	c.lookup(ip, look)
	if calls != 1 {
		t.Errorf("a repeated address was looked up %d times, want once", calls)
	}
	for i := range 600_000 {
		c.lookup(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), look)
		if i%2 == 0 {
			c.lookup(netip.AddrFrom16([16]byte{0x20, 0x01, 15: byte(i), 14: byte(i >> 8), 13: byte(i >> 16)}), look)
		}
	}
	if c.entries > maxEntries || c.nodes > maxNodes {
		t.Errorf("cache holds %d locations in %d levels, bounds %d and %d", c.entries, c.nodes, maxEntries, maxNodes)
	}
}

// TestCode2: two-letter codes come back upper-cased and shared, anything
// else as upper2 leaves it.
func TestCode2(t *testing.T) {
	for in, want := range map[string]string{"us": "US", "US": "US", "zZ": "ZZ", "aa": "AA", "u1": "U1", "USA": "USA", "": "", "é": "é"} {
		if got := code2(in); got != want {
			t.Errorf("code2(%q) = %q, want %q", in, got, want)
		}
	}
	a, b := code2("de"), code2(string([]byte{'D', 'E'}))
	if unsafe.StringData(a) != unsafe.StringData(b) {
		t.Error("two codes DE do not share their bytes")
	}
}

// TestUnknownSpans: each network no database knows has a location of its
// own, which carries the network (the ECS scope of its answers) and which
// every address of that network shares.
func TestUnknownSpans(t *testing.T) {
	c := newLocationCache()
	look := func(ip netip.Addr) (Location, netip.Prefix) {
		span := netip.PrefixFrom(ip, 24).Masked()
		return Location{Network: span}, span
	}
	a := c.lookup(netip.MustParseAddr("10.1.1.1"), look)
	b := c.lookup(netip.MustParseAddr("10.2.2.2"), look)
	if a == b || !a.IsZero() || a.Network != netip.MustParsePrefix("10.1.1.0/24") || b.Network != netip.MustParsePrefix("10.2.2.0/24") {
		t.Errorf("unknown networks hold %p %v and %p %v", a, *a, b, *b)
	}
	if c.lookup(netip.MustParseAddr("10.1.1.9"), look) != a {
		t.Error("two addresses of one unknown network have two locations")
	}
}

// TestPutKeepsFirst: when two lookups of one span both miss, the second
// to cache it gets the first one's location, so every lookup of a span
// returns one pointer (a routing.Memo is keyed by it).
func TestPutKeepsFirst(t *testing.T) {
	for _, span := range []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("10.64.0.0/10"), netip.MustParsePrefix("2001:db8::/32"), netip.MustParsePrefix("0.0.0.0/0")} {
		c := newLocationCache()
		a, b := &Location{Country: "US"}, &Location{Country: "US"}
		if got := c.put(span, a); got != a {
			t.Errorf("%s: first put returned %p, want its own %p", span, got, a)
		}
		if got := c.put(span, b); got != a {
			t.Errorf("%s: second put returned %p, want the first's %p", span, got, a)
		}
		if got := c.get(span.Addr()); got != a {
			t.Errorf("%s: get returned %p, want %p", span, got, a)
		}
	}
}
