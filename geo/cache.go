package geo

import (
	"hash/maphash"
	"net/netip"
	"sync"
)

// cacheShards and cacheShardSize bound the lookup cache: 64 shards of 4096
// addresses, 262,144 in all, about 40 MB at most.
const (
	cacheShards    = 64
	cacheShardSize = 4096
)

// locationCache remembers the locations of recently seen client addresses
// for one set of databases. A resolver sends many queries for one client
// subnet, and an ECS subnet's address is the same for all of them, so most
// lookups are hits. It belongs to one Databases value: a reload makes a new
// set with an empty cache, so no entry outlives the data it came from.
type locationCache struct {
	seed   maphash.Seed
	shards [cacheShards]cacheShard
}

type cacheShard struct {
	mu sync.RWMutex
	m  map[netip.Addr]Location
}

func newLocationCache() *locationCache {
	c := &locationCache{seed: maphash.MakeSeed()}
	for i := range c.shards {
		c.shards[i].m = make(map[netip.Addr]Location)
	}
	return c
}

func (c *locationCache) shard(ip netip.Addr) *cacheShard {
	return &c.shards[maphash.Comparable(c.seed, ip)%cacheShards]
}

// lookup returns the location of ip, from the cache or from look.
func (c *locationCache) lookup(ip netip.Addr, look func(netip.Addr) Location) Location {
	s := c.shard(ip)
	s.mu.RLock()
	loc, ok := s.m[ip]
	s.mu.RUnlock()
	if ok {
		return loc
	}
	loc = look(ip)
	s.mu.Lock()
	if len(s.m) >= cacheShardSize {
		// Full: start the shard afresh rather than track recency; a busy
		// client comes back within one query.
		clear(s.m)
	}
	s.m[ip] = loc
	s.mu.Unlock()
	return loc
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
