package geo

import (
	"net/netip"
	"testing"
)

func TestLocationCacheBounded(t *testing.T) {
	c := newLocationCache()
	calls := 0
	look := func(ip netip.Addr) Location { calls++; return Location{Country: "US"} }
	ip := netip.MustParseAddr("198.51.100.1")
	c.lookup(ip, look)
	c.lookup(ip, look)
	if calls != 1 {
		t.Errorf("a repeated address was looked up %d times, want once", calls)
	}
	for i := range 1_000_000 {
		c.lookup(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), look)
	}
	if n := c.len(); n > cacheShards*cacheShardSize {
		t.Errorf("cache holds %d addresses, bound %d", n, cacheShards*cacheShardSize)
	}
}

// TestLocationCacheShares: addresses with the same location share one
// copy of it, addresses with different ones get their own, IPv4 and IPv6
// addresses with equal low bits do not collide, and the shared copies are
// bounded.
func TestLocationCacheShares(t *testing.T) {
	c := newLocationCache()
	look := func(ip netip.Addr) Location {
		if ip.Is4() {
			return Location{Country: "US", Network: netip.PrefixFrom(ip, 32)}
		}
		return Location{Country: "DE"}
	}
	v4 := netip.MustParseAddr("192.0.2.1")
	v6 := netip.AddrFrom16([16]byte{12: 192, 13: 0, 14: 2, 15: 1})
	if got := c.lookup(v4, look); got.Country != "US" || got.Network.Addr() != v4 {
		t.Errorf("%s: %+v", v4, got)
	}
	if got := c.lookup(v6, look); got.Country != "DE" {
		t.Errorf("%s: %+v, the IPv4 address's location", v6, got)
	}
	if got := c.lookup(v4, look); got.Country != "US" {
		t.Errorf("%s again: %+v", v4, got)
	}
	a, b := netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8::2")
	c.lookup(a, look)
	c.lookup(b, look)
	pa, pb := c.shard(keyOf(a)).m[keyOf(a)], c.shard(keyOf(b)).m[keyOf(b)]
	if pa == nil || pa != pb {
		t.Errorf("two addresses of one location hold %p and %p, want one shared copy", pa, pb)
	}
	for i := range 3 * internSize {
		c.lookup(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), look)
	}
	if n := len(c.interned); n > internSize {
		t.Errorf("%d shared locations, bound %d", n, internSize)
	}
}
