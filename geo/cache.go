package geo

import (
	"encoding/binary"
	"net/netip"
	"sync"
	"sync/atomic"
)

// The location cache remembers locations by database network, not by
// address: a GeoIP database gives one location to every address of a
// network, so the thousands of client subnets a resolver's queries carry
// share the few hundred networks they fall in, and one entry answers all
// of them. This is how gdnsd keeps its per-query GeoIP work to a walk of
// a small tree.
//
// The cache is a trie over address bits, four bits a level, filled on
// misses. Each entry covers the span of the location it holds: the most
// specific of the databases' networks for the address looked up, found or
// not. Spans of one set of databases never overlap (a database's networks
// partition the address space, and a span is one of them), so a lookup
// stops at the first entry on its path. An entry whose span does not end
// on a level is written to each slot it covers.
//
// Readers take no lock: slots are atomic pointers, set once. Writers
// serialise on a mutex. The cache is bounded: when it reaches maxNodes
// levels or maxEntries locations it starts afresh.

const (
	// stride is the number of address bits one level of the trie decides.
	stride = 4
	fanout = 1 << stride
	// maxNodes bounds the trie's levels (256 bytes each, 16 MiB in all)
	// and maxEntries the locations they point to (about 150 bytes each,
	// their strings shared with the database, some 40 MiB in all).
	maxNodes   = 1 << 16
	maxEntries = 1 << 18
)

// locationCache holds the locations of the networks recently looked up in
// one set of databases. It belongs to one Databases value: a reload makes
// a new set with an empty cache, so no entry outlives the data it came
// from.
type locationCache struct {
	// roots are the tries of IPv4 and IPv6 addresses.
	roots   [2]atomic.Pointer[trieNode]
	mu      sync.Mutex // held to add to the tries
	nodes   int        // levels in the tries
	entries int        // locations in the tries
}

// trieNode is one level: for each value of the next stride bits, the
// location whose span covers them, or the next level.
type trieNode struct {
	slots [fanout]trieSlot
}

type trieSlot struct {
	loc  atomic.Pointer[Location]
	next atomic.Pointer[trieNode]
}

func newLocationCache() *locationCache {
	c := &locationCache{}
	c.reset()
	return c
}

// reset empties the cache; c.mu is held or c is not yet shared.
func (c *locationCache) reset() {
	c.roots[0].Store(new(trieNode))
	c.roots[1].Store(new(trieNode))
	c.nodes, c.entries = 2, 0
}

// bitsOf returns ip's trie, its bits left-aligned in two words, and their
// number.
func (c *locationCache) bitsOf(ip netip.Addr) (root *atomic.Pointer[trieNode], hi, lo uint64, n int) {
	if ip.Is4() {
		a := ip.As4()
		return &c.roots[0], uint64(binary.BigEndian.Uint32(a[:])) << 32, 0, 32
	}
	a := ip.As16()
	return &c.roots[1], binary.BigEndian.Uint64(a[:8]), binary.BigEndian.Uint64(a[8:]), 128
}

// nibble returns the stride bits of (hi, lo) from bit depth on.
func nibble(hi, lo uint64, depth int) int {
	if depth < 64 {
		return int(hi >> (64 - stride - depth) & (fanout - 1))
	}
	return int(lo >> (128 - stride - depth) & (fanout - 1))
}

// get returns the cached location of ip (unmapped, without zone), or nil.
func (c *locationCache) get(ip netip.Addr) *Location {
	root, hi, lo, n := c.bitsOf(ip)
	node := root.Load()
	for depth := 0; depth < n; depth += stride {
		s := &node.slots[nibble(hi, lo, depth)]
		if loc := s.loc.Load(); loc != nil {
			return loc
		}
		if node = s.next.Load(); node == nil {
			return nil
		}
	}
	return nil
}

// put caches loc for every address of span (masked), whose family is the
// trie's, and returns the location cached for span: loc, or the one
// another lookup of the same span cached first, so that every lookup of
// a span returns one pointer. A span that overlaps one cached already is
// left out.
func (c *locationCache) put(span netip.Prefix, loc *Location) *Location {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries >= maxEntries || c.nodes >= maxNodes {
		c.reset()
	}
	root, hi, lo, _ := c.bitsOf(span.Addr())
	bits := span.Bits()
	// The span's entry goes in the level holding its last bit, in the
	// slots of every value of that level's bits after it.
	level := 0
	if bits > 0 {
		level = (bits - 1) / stride
	}
	node := root.Load()
	for depth := 0; depth < level*stride; depth += stride {
		s := &node.slots[nibble(hi, lo, depth)]
		if s.loc.Load() != nil {
			return loc
		}
		next := s.next.Load()
		if next == nil {
			next = new(trieNode)
			c.nodes++
			s.next.Store(next)
		}
		node = next
	}
	fixed := bits - level*stride // bits of this level the span decides
	first := nibble(hi, lo, level*stride) &^ (1<<(stride-fixed) - 1)
	if cached := node.slots[first].loc.Load(); cached != nil {
		return cached // the same span, cached by another lookup meanwhile
	}
	for i := first; i < first+1<<(stride-fixed); i++ {
		if s := &node.slots[i]; s.loc.Load() == nil && s.next.Load() == nil {
			s.loc.Store(loc)
		}
	}
	c.entries++
	return loc
}

// lookup returns the location of ip (unmapped, without zone), from the
// cache or from look, which also returns the span the location holds for.
// The location is shared: callers must not modify it.
func (c *locationCache) lookup(ip netip.Addr, look func(netip.Addr) (Location, netip.Prefix)) *Location {
	if loc := c.get(ip); loc != nil {
		return loc
	}
	loc, span := look(ip)
	p := &loc
	if span.IsValid() && span.Addr().Is4() == ip.Is4() && span.Contains(ip) {
		p = c.put(span.Masked(), p)
	}
	return p
}

// len returns how many locations are cached.
func (c *locationCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.entries
}
