package geo

import (
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"sync"

	"github.com/meridian-dns/meridian/internal/splitmix"
)

// cacheShards and cacheShardSize bound the lookup cache: 64 shards of 4096
// addresses, 262,144 in all; internSize bounds the distinct locations it
// shares between them. That is about 10 MB for addresses that share
// database networks, as a resolver's clients mostly do, and about 70 MB at
// most, when every address is in a network of its own.
const (
	cacheShards    = 64
	cacheShardSize = 4096
	internSize     = 65536
)

// locationCache remembers the locations of recently seen client addresses
// for one set of databases. A resolver sends many queries for one client
// subnet, and an ECS subnet's address is the same for all of them, so most
// lookups are hits. It belongs to one Databases value: a reload makes a new
// set with an empty cache, so no entry outlives the data it came from.
type locationCache struct {
	seed   uint64 // spreads the shards differently in each cache
	shards [cacheShards]cacheShard

	// interned holds one copy of each distinct location cached: the many
	// addresses of one database network share it, so a hit reads a small
	// map slot and a location that is likely in the CPU's cache already.
	// It is used only on a miss.
	internMu sync.Mutex
	interned map[Location]*Location
}

type cacheShard struct {
	mu sync.RWMutex
	m  map[cacheKey]*Location
}

// cacheKey is an address in its 16-byte form (IPv4 mapped). The map
// hashes and compares it as two words, where a netip.Addr, with its zone
// handle, costs a generic hash and a call to compare 24 bytes. Cached
// addresses are unmapped and have no zone, so the form is unique.
type cacheKey struct{ hi, lo uint64 }

func keyOf(ip netip.Addr) cacheKey {
	b := ip.As16()
	return cacheKey{binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])}
}

func newLocationCache() *locationCache {
	c := &locationCache{seed: rand.Uint64(), interned: make(map[Location]*Location)}
	for i := range c.shards {
		c.shards[i].m = make(map[cacheKey]*Location)
	}
	return c
}

// shard picks k's shard from both words, mixed, so that networks
// differing only in a few bits spread.
func (c *locationCache) shard(k cacheKey) *cacheShard {
	return &c.shards[splitmix.Mix(k.hi^k.lo^c.seed)%cacheShards]
}

// intern returns the shared copy of loc.
func (c *locationCache) intern(loc Location) *Location {
	c.internMu.Lock()
	defer c.internMu.Unlock()
	if p := c.interned[loc]; p != nil {
		return p
	}
	if len(c.interned) >= internSize {
		clear(c.interned) // the shards keep the copies they point to
	}
	p := &loc
	c.interned[loc] = p
	return p
}

// lookup returns the location of ip, from the cache or from look.
func (c *locationCache) lookup(ip netip.Addr, look func(netip.Addr) Location) Location {
	k := keyOf(ip)
	s := c.shard(k)
	s.mu.RLock()
	p := s.m[k]
	s.mu.RUnlock()
	if p != nil {
		return *p
	}
	p = c.intern(look(ip))
	s.mu.Lock()
	if len(s.m) >= cacheShardSize {
		// Full: start the shard afresh rather than track recency; a busy
		// client comes back within one query.
		clear(s.m)
	}
	s.m[k] = p
	s.mu.Unlock()
	return *p
}

// len returns how many addresses are cached.
func (c *locationCache) len() int {
	n := 0
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.RLock()
		n += len(s.m)
		s.mu.RUnlock()
	}
	return n
}
