package routing

import (
	"math"
	"net/netip"
	"slices"
	"sync/atomic"

	"github.com/meridian-dns/meridian/zones"
)

// pick chooses up to s.Answers endpoints among up (the region's up
// endpoints, in file order, with their states) with the service's selection
// policy. Endpoints of weight 0 are used only when no endpoint of positive
// weight is up.
//
// The policies work on indexes into up, in arrays on the stack for pools of
// up to stackEndpoints; an answer that is a run of the region's pool is a
// slice of the snapshot, so most answers allocate nothing.
func (r *Router) pick(s *zones.Service, up upSet, c Client) []*zones.Endpoint {
	var poolBuf [stackEndpoints]int
	pool := poolBuf[:0]
	for i, p := range up.pos {
		if up.pool.Endpoints[p].Weight > 0 {
			pool = append(pool, i)
		}
	}
	zeroOnly := len(pool) == 0
	if zeroOnly {
		for i := range up.pos {
			pool = append(pool, i)
		}
	}
	n := s.Answers
	if n <= 0 || n > len(pool) || s.Select == zones.SelectAll {
		n = len(pool)
	}
	if n == 0 {
		return nil
	}
	var outBuf, weightBuf [stackEndpoints]int
	var out []int
	switch s.Select {
	case zones.SelectFirst, zones.SelectAll:
		out = pool[:n]
	case zones.SelectRoundRobin:
		start := int(r.counter(s).Add(1)-1) % len(pool)
		out = outBuf[:0]
		for i := range n {
			out = append(out, pool[(start+i)%len(pool)])
		}
	case zones.SelectRandom:
		// A partial Fisher-Yates shuffle of the pool, which is ours.
		for i := 0; i < n; i++ {
			j := i + int(r.rnd()%uint64(len(pool)-i))
			pool[i], pool[j] = pool[j], pool[i]
		}
		out = pool[:n]
	case zones.SelectHash:
		out = rendezvous(up, pool, c.Addr, n, zeroOnly, outBuf[:0])
	case zones.SelectFastest:
		out = fastest(up, pool, n)
	case zones.SelectLeastLoaded:
		out = r.weighted(pool, n, loadScaled(up, pool, zeroOnly, weightBuf[:0]), outBuf[:0])
	default:
		out = r.weighted(pool, n, weights(up, pool, zeroOnly, weightBuf[:0]), outBuf[:0])
	}
	return up.endpoints(out)
}

// weights appends to w the weights of the pool's endpoints (1 each when
// only endpoints of weight 0 are up).
func weights(up upSet, pool []int, zeroOnly bool, w []int) []int {
	for _, i := range pool {
		if zeroOnly {
			w = append(w, 1)
		} else {
			w = append(w, up.pool.Endpoints[up.pos[i]].Weight)
		}
	}
	return w
}

// fastest returns the n endpoints with the lowest smoothed probe latency;
// endpoints without a measurement come after those with one, in file order.
// It sorts pool.
func fastest(up upSet, pool []int, n int) []int {
	lat := func(i int) float64 {
		if up.states[i].Latency <= 0 {
			return math.Inf(1)
		}
		return up.states[i].Latency
	}
	slices.SortStableFunc(pool, func(a, b int) int { return compare(lat(a), lat(b)) })
	return pool[:n]
}

// loadScaled appends to w the pool's weights scaled down by reported load: weight x (1 -
// load), so an endpoint at load 0.9 gets a tenth of its share, the DNS form
// of "least connections". A fully loaded endpoint keeps a token share so it
// is not starved of the probes' view of recovery; endpoints that report no
// load keep their weight.
func loadScaled(up upSet, pool []int, zeroOnly bool, w []int) []int {
	w = weights(up, pool, zeroOnly, w)
	for k, i := range pool {
		w[k] *= 1000
		if l := up.states[i].Load; l >= 0 {
			w[k] = max(1, int(float64(w[k])*(1-min(l, 1))))
		}
	}
	return w
}

// weighted draws n of pool without replacement, appending them to out,
// each draw with probability proportional to weight (parallel to pool)
// among those not yet drawn. It reorders pool and weight.
func (r *Router) weighted(pool []int, n int, weight []int, out []int) []int {
	total := 0
	for _, w := range weight {
		total += w
	}
	for len(out) < n {
		x := int(r.rnd() % uint64(total))
		i := 0
		for ; i < len(pool)-1; i++ {
			if x < weight[i] {
				break
			}
			x -= weight[i]
		}
		out = append(out, pool[i])
		total -= weight[i]
		pool = append(pool[:i], pool[i+1:]...)
		weight = append(weight[:i], weight[i+1:]...)
	}
	return out
}

// counter returns the round robin counter of s, made on its first query.
func (r *Router) counter(s *zones.Service) *atomic.Uint64 {
	if c, ok := r.rr.Load(s); ok {
		return c.(*atomic.Uint64)
	}
	c, _ := r.rr.LoadOrStore(s, new(atomic.Uint64))
	return c.(*atomic.Uint64)
}

// rendezvous appends to out the n endpoints of pool with the highest
// weighted rendezvous score for the client's network (/24 or /56), so a
// client network sticks to its endpoints and losing one endpoint moves only
// that endpoint's clients.
func rendezvous(up upSet, pool []int, client netip.Addr, n int, zeroOnly bool, out []int) []int {
	net, _ := client.Prefix(stickyBits(client))
	key := net.Addr().As16()
	type scored struct {
		i     int
		score float64
	}
	var buf [stackEndpoints]scored
	all := buf[:0]
	for _, i := range pool {
		ep := up.pool.Endpoints[up.pos[i]]
		w := ep.Weight
		if zeroOnly {
			w = 1
		}
		v := stickyHash(key[:], ep.Key)
		// Weighted rendezvous (Schindelhauer-Schomaker): -w / ln(u), u in (0,1).
		u := (float64(v>>11) + 0.5) / (1 << 53)
		all = append(all, scored{i, -float64(w) / math.Log(u)})
	}
	// SortFunc is the same pattern-defeating quicksort as the sort.Slice
	// this replaced, so endpoints of equal score keep the order they had.
	slices.SortFunc(all, func(a, b scored) int { return compare(b.score, a.score) })
	for _, s := range all[:n] {
		out = append(out, s.i)
	}
	return out
}

// stickyHash is a fixed 64-bit hash of a client network and an endpoint:
// FNV-1a, then the SplitMix64 finaliser for avalanche. It is the same in
// every process, so every Meridian instance and every restart sends a
// client network to the same endpoints.
func stickyHash(net []byte, key string) uint64 {
	h := uint64(14695981039346656037)
	for _, b := range net {
		h = (h ^ uint64(b)) * 1099511628211
	}
	for i := 0; i < len(key); i++ {
		h = (h ^ uint64(key[i])) * 1099511628211
	}
	h ^= h >> 30
	h *= 0xbf58476d1ce4e5b9
	h ^= h >> 27
	h *= 0x94d049bb133111eb
	return h ^ h>>31
}
