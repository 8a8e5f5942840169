// Package rrl is Response Rate Limiting in the style of BIND and Knot: it
// bounds the UDP responses one client network receives per second, so that
// Meridian cannot be used to reflect floods at a spoofed victim, while
// "slipping" every Nth limited response as a truncated one so that real
// clients behind the network retry over TCP and still get answers.
package rrl

import (
	"hash/maphash"
	"net/netip"
	"sync"
	"time"
)

// Config is the limiter's policy.
type Config struct {
	// ResponsesPerSecond is each client network's budget per category; 0
	// turns rate limiting off.
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
}

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

const shards = 64

// Limiter decides, per response, whether to send, drop or slip it. It is
// safe for concurrent use.
type Limiter struct {
	cfg    Config
	rate   float64
	debt   float64
	seed   maphash.Seed
	shards [shards]shard
	now    func() time.Time
}

type shard struct {
	mu      sync.Mutex
	buckets map[key]*bucket
}

type key struct {
	net netip.Prefix
	cat Category
}

// bucket is a token bucket whose balance may go negative down to -debt, so
// that sustained excess is remembered for the window.
type bucket struct {
	balance float64
	last    time.Time
	limited uint32
}

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
	l := &Limiter{cfg: cfg, rate: float64(cfg.ResponsesPerSecond), seed: maphash.MakeSeed(), now: time.Now}
	l.debt = l.rate * cfg.Window.Seconds()
	for i := range l.shards {
		l.shards[i].buckets = make(map[key]*bucket)
	}
	return l
}

// Decide accounts one UDP response of category cat to client and says what
// to do with it.
func (l *Limiter) Decide(client netip.Addr, cat Category) Action {
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
	k := key{net: net, cat: cat}
	a := net.Addr().As16()
	s := &l.shards[maphash.Bytes(l.seed, a[:])%shards]
	now := l.now()

	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.buckets[k]
	if b == nil {
		b = &bucket{balance: l.rate, last: now}
		s.buckets[k] = b
	}
	b.balance = min(l.rate, b.balance+now.Sub(b.last).Seconds()*l.rate)
	b.last = now
	b.balance = max(-l.debt, b.balance-1)
	if b.balance >= 0 {
		return Send
	}
	b.limited++
	if l.cfg.Slip > 0 && b.limited%uint32(l.cfg.Slip) == 0 {
		return Slip
	}
	return Drop
}

// Sweep forgets networks whose buckets have fully recovered, bounding the
// table to the networks seen in the last window. Call it periodically.
func (l *Limiter) Sweep() {
	now := l.now()
	for i := range l.shards {
		s := &l.shards[i]
		s.mu.Lock()
		for k, b := range s.buckets {
			if b.balance+now.Sub(b.last).Seconds()*l.rate >= l.rate {
				delete(s.buckets, k)
			}
		}
		s.mu.Unlock()
	}
}

// Len returns how many client networks are tracked.
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
