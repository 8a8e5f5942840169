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
