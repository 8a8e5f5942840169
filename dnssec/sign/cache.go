package sign

import (
	"sync"
	"sync/atomic"

	"github.com/miekg/dns"
)

// cacheKey identifies one signature: the content hash of the RRset, the
// key that signs it and the window. Together they fix the signing input
// (the RRSIG fields are derived from them), so equal keys may share one
// signature.
type cacheKey struct {
	content    [32]byte
	key        [32]byte
	inception  uint32
	expiration uint32
}

// entry is one cached signature. It is published in its shard before it is
// signed, so that concurrent misses on one key make one signature: the
// goroutine that inserted it signs and closes ready; the others wait.
type entry struct {
	k          cacheKey
	expiration int64 // window expiration, Unix seconds, for expiry reporting
	size       int64

	ready chan struct{}
	sig   *dns.RRSIG // set before ready is closed
	err   error      // set before ready is closed

	// ref is the CLOCK reference bit: set by hits without the write lock,
	// cleared by the eviction sweep.
	ref        atomic.Bool
	prev, next *entry
}

// entryOverhead approximates what an entry costs besides the strings of its
// RRSIG: the map slot and key, the entry and the RRSIG struct.
const entryOverhead = 320

// shard is one part of the cache, under its own lock. Its entries form a
// ring in insertion order; eviction is CLOCK (second chance) from the
// oldest end, so that a hit only reads under the read lock and sets a bit,
// instead of taking the write lock to move the entry as exact LRU would.
type shard struct {
	mu         sync.RWMutex
	m          map[cacheKey]*entry
	ring       entry // sentinel: ring.next is the newest, ring.prev the oldest
	bytes      int64
	maxEntries int
	maxBytes   int64
}

func newShard(maxEntries int, maxBytes int64) *shard {
	sh := &shard{m: make(map[cacheKey]*entry), maxEntries: maxEntries, maxBytes: maxBytes}
	sh.ring.next, sh.ring.prev = &sh.ring, &sh.ring
	return sh
}

func (sh *shard) get(k cacheKey) *entry {
	sh.mu.RLock()
	e := sh.m[k]
	sh.mu.RUnlock()
	if e != nil && !e.ref.Load() {
		e.ref.Store(true)
	}
	return e
}

// getOrInsert returns the entry of k and true, or inserts a new pending
// entry and returns it and false; the caller must then complete it. It
// evicts to keep the bounds, never the new entry itself, and returns what
// it evicted.
func (sh *shard) getOrInsert(k cacheKey, expiration, size int64) (e *entry, found bool, evicted []*entry) {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if e := sh.m[k]; e != nil {
		e.ref.Store(true)
		return e, true, nil
	}
	e = &entry{k: k, expiration: expiration, size: size, ready: make(chan struct{})}
	sh.m[k] = e
	sh.pushFront(e)
	sh.bytes += size
	for len(sh.m) > sh.maxEntries || sh.bytes > sh.maxBytes {
		old := sh.ring.prev
		if old == e {
			break
		}
		if old.ref.Load() {
			old.ref.Store(false)
			sh.unlink(old)
			sh.pushFront(old)
			continue
		}
		sh.removeLocked(old)
		evicted = append(evicted, old)
	}
	return e, false, evicted
}

// remove drops e if it is still in the shard and reports whether it was.
func (sh *shard) remove(e *entry) bool {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.m[e.k] != e {
		return false
	}
	sh.removeLocked(e)
	return true
}

// removeIf drops every entry for which drop is true and returns them.
func (sh *shard) removeIf(drop func(*entry) bool) []*entry {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	var out []*entry
	for e := sh.ring.next; e != &sh.ring; {
		next := e.next
		if drop(e) {
			sh.removeLocked(e)
			out = append(out, e)
		}
		e = next
	}
	return out
}

func (sh *shard) removeLocked(e *entry) {
	delete(sh.m, e.k)
	sh.unlink(e)
	sh.bytes -= e.size
}

func (sh *shard) pushFront(e *entry) {
	e.prev, e.next = &sh.ring, sh.ring.next
	sh.ring.next.prev = e
	sh.ring.next = e
}

func (sh *shard) unlink(e *entry) {
	e.prev.next, e.next.prev = e.next, e.prev
	e.prev, e.next = nil, nil
}

func (sh *shard) len() (entries int, bytes int64) {
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	return len(sh.m), sh.bytes
}
