// Package rrl is Response Rate Limiting in the style of BIND and Knot: it
// bounds how often one client network receives the same response per
// second, so that Meridian cannot be used to reflect floods at a spoofed
// victim, while "slipping" every Nth limited response as a truncated one so
// that real clients behind the network retry over TCP and still get
// answers.
//
// A budget belongs to a client network (a /24 or /56 by default), a
// response category and the response's identity: the question for
// answers, the zone for NXDOMAIN (so a random-subdomain flood shares one
// budget) and nothing for errors (FORMERR, REFUSED, NOTIMP, SERVFAIL share
// one budget per network). A resolver asking many different names is not
// limited by asking them all; one name asked over and over is.
//
// The table of budgets is bounded (Config.MaxEntries): a full table first
// forgets budgets that have recovered, then the least recently used of a
// sample, so a flood from millions of spoofed networks costs a fixed amount
// of memory.
package rrl

import (
	"hash/maphash"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// Config is the limiter's policy.
type Config struct {
	// ResponsesPerSecond is the budget of one client network for one
	// response; 0 turns rate limiting off.
	ResponsesPerSecond int
	// Slip sends every Nth limited response truncated (TC=1) instead of
	// dropping it: 1 truncates all, 0 drops all. Default 2.
	Slip int
	// Window is how long a client's excess is remembered: a network that
	// kept sending over its budget stays limited for up to this long after
	// it slows down. Default 15s.
	Window time.Duration
	// IPv4Prefix and IPv6Prefix group clients into networks (default /24
	// and /56).
	IPv4Prefix, IPv6Prefix int
	// Exempt networks are never limited.
	Exempt []netip.Prefix
	// MaxEntries bounds the table of budgets (DefaultMaxEntries when 0).
	MaxEntries int
	// Clock tells the time; nil for time.Now. Tests stop it.
	Clock func() time.Time
}

// DefaultMaxEntries bounds the table when Config.MaxEntries is 0: about
// 20 MB at most.
const DefaultMaxEntries = 250_000

// Category separates a client's budgets, so that a flood of NXDOMAIN or
// error responses does not use up the budget for real answers.
type Category uint8

// The response categories.
const (
	Answer Category = iota
	NXDomain
	Error
)

// Action is what to do with a response.
type Action uint8

// The actions.
const (
	// Send the response as it is.
	Send Action = iota
	// Drop the response.
	Drop
	// Slip: send a truncated response (TC=1, no records).
	Slip
)

const (
	shards = 64
	// evictSample is how many entries a full shard looks at to find one
	// to forget.
	evictSample = 8
)

// Limiter decides, per response, whether to send, drop or slip it. It is
// safe for concurrent use.
type Limiter struct {
	cfg      Config
	rate     float64
	debt     float64
	perShard int
	seed     maphash.Seed
	base     time.Time
	shards   [shards]shard
	now      func() time.Time
	evicted  atomic.Uint64
}

type shard struct {
	mu      sync.Mutex
	buckets map[uint64]bucket
	_       [40]byte // keep shards on separate cache lines
}

// budget names one budget: a client network, a category and a response.
// Its seeded hash is the table's key (two budgets sharing a hash, one
// chance in 2^64, would share their tokens).
type budget struct {
	net      [16]byte
	response Response
	bits     uint8
	cat      Category
}

// bucket is a token bucket whose balance may go negative down to -debt, so
// that sustained excess is remembered for the window.
type bucket struct {
	balance float64
	last    int64 // nanoseconds since Limiter.base
	limited uint32
}

// Response identifies a response within its category; responses with the
// same identity share a budget. Make it with Identify.
type Response uint64

var identitySeed = maphash.MakeSeed()

// Identify returns the identity of the response described by s (for
// example the question's name and type).
func Identify(s string) Response { return Response(maphash.String(identitySeed, s)) }

// New returns a limiter, or nil when cfg turns limiting off.
func New(cfg Config) *Limiter {
	if cfg.ResponsesPerSecond <= 0 {
		return nil
	}
	if cfg.Slip < 0 {
		cfg.Slip = 0
	}
	if cfg.Window <= 0 {
		cfg.Window = 15 * time.Second
	}
	if cfg.IPv4Prefix <= 0 || cfg.IPv4Prefix > 32 {
		cfg.IPv4Prefix = 24
	}
	if cfg.IPv6Prefix <= 0 || cfg.IPv6Prefix > 128 {
		cfg.IPv6Prefix = 56
	}
	if cfg.MaxEntries <= 0 {
		cfg.MaxEntries = DefaultMaxEntries
	}
	now := cfg.Clock
	if now == nil {
		now = time.Now
	}
	l := &Limiter{cfg: cfg, rate: float64(cfg.ResponsesPerSecond), seed: maphash.MakeSeed(), now: now}
	l.base = l.now()
	l.debt = l.rate * cfg.Window.Seconds()
	l.perShard = max(1, cfg.MaxEntries/shards)
	for i := range l.shards {
		l.shards[i].buckets = make(map[uint64]bucket)
	}
	return l
}

// Decide accounts one UDP response of category cat to client, sent at now
// (the caller's clock reading, so a batch of replies reads the clock once;
// a Config.Clock overrides it), and says what to do with it.
func (l *Limiter) Decide(client netip.Addr, cat Category, response Response, now time.Time) Action {
	client = client.Unmap()
	for _, p := range l.cfg.Exempt {
		if p.Contains(client) {
			return Send
		}
	}
	bits := l.cfg.IPv6Prefix
	if client.Is4() {
		bits = l.cfg.IPv4Prefix
	}
	net, _ := client.Prefix(bits)
	k := maphash.Comparable(l.seed, budget{net: net.Addr().As16(), response: response, bits: uint8(bits), cat: cat})
	s := &l.shards[k>>58] // the top 6 bits: the map uses the low ones
	if l.cfg.Clock != nil {
		now = l.cfg.Clock()
	}
	t := int64(now.Sub(l.base))

	s.mu.Lock()
	b, ok := s.buckets[k]
	if !ok {
		if len(s.buckets) >= l.perShard {
			l.evict(s, t)
		}
		b = bucket{balance: l.rate, last: t}
	}
	b.balance = min(l.rate, b.balance+l.refill(t-b.last))
	b.last = max(b.last, t)
	b.balance = max(-l.debt, b.balance-1)
	action := Send
	if b.balance < 0 {
		b.limited++
		action = Drop
		if l.cfg.Slip > 0 && b.limited%uint32(l.cfg.Slip) == 0 {
			action = Slip
		}
	}
	s.buckets[k] = b
	s.mu.Unlock()
	return action
}

// refill is the budget earned in elapsed nanoseconds.
func (l *Limiter) refill(elapsed int64) float64 {
	if elapsed <= 0 {
		return 0 // another reader's batch began a moment earlier
	}
	return float64(elapsed) / float64(time.Second) * l.rate
}

// evict makes room in a full shard: it forgets every recovered budget
// among a sample of entries, or else the least recently used of them.
// Forgetting a recovered budget changes nothing (a new one starts full);
// forgetting a limited one lets its network send a second's budget again,
// which is the price of bounded memory under a spoofed flood.
func (l *Limiter) evict(s *shard, now int64) {
	var oldest uint64
	oldestLast := int64(1<<63 - 1)
	n, freed := 0, false
	for k, b := range s.buckets {
		if b.balance+l.refill(now-b.last) >= l.rate {
			delete(s.buckets, k)
			freed = true
		} else if b.last < oldestLast {
			oldest, oldestLast = k, b.last
		}
		if n++; n >= evictSample {
			break
		}
	}
	if !freed {
		delete(s.buckets, oldest)
		l.evicted.Add(1)
	}
}

// Sweep forgets budgets that have fully recovered, so the table holds only
// the networks seen in the last window. Call it periodically.
func (l *Limiter) Sweep() {
	now := int64(l.now().Sub(l.base))
	for i := range l.shards {
		s := &l.shards[i]
		s.mu.Lock()
		for k, b := range s.buckets {
			if b.balance+l.refill(now-b.last) >= l.rate {
				delete(s.buckets, k)
			}
		}
		s.mu.Unlock()
	}
}

// Len returns how many budgets the table holds.
func (l *Limiter) Len() int {
	n := 0
	for i := range l.shards {
		s := &l.shards[i]
		s.mu.Lock()
		n += len(s.buckets)
		s.mu.Unlock()
	}
	return n
}

// Capacity returns the most budgets the table holds.
func (l *Limiter) Capacity() int { return l.perShard * shards }

// Evicted returns how many budgets still limiting their network were
// forgotten to make room for new ones.
func (l *Limiter) Evicted() uint64 { return l.evicted.Load() }
