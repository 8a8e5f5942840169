package routing

import (
	"math"
	"net/netip"
	"sort"
	"sync/atomic"

	"github.com/meridian-dns/meridian/zones"
)

// pick chooses up to s.Answers endpoints among up (the region's up
// endpoints, in file order, with their states) with the service's selection
// policy. Endpoints of weight 0 are used only when no endpoint of positive
// weight is up.
func (r *Router) pick(s *zones.Service, up []*zones.Endpoint, states []EndpointState, c Client) []*zones.Endpoint {
	pool := up[:0:0]
	var pstates []EndpointState
	for i, ep := range up {
		if ep.Weight > 0 {
			pool = append(pool, ep)
			pstates = append(pstates, states[i])
		}
	}
	zeroOnly := len(pool) == 0
	if zeroOnly {
		pool, pstates = up, states
	}
	n := s.Answers
	if n <= 0 || n > len(pool) || s.Select == zones.SelectAll {
		n = len(pool)
	}
	if n == 0 {
		return nil
	}
	weight := func(ep *zones.Endpoint) int {
		if zeroOnly {
			return 1
		}
		return ep.Weight
	}
	switch s.Select {
	case zones.SelectFirst, zones.SelectAll:
		return pool[:n]
	case zones.SelectRoundRobin:
		start := int(r.counter(s).Add(1)-1) % len(pool)
		out := make([]*zones.Endpoint, n)
		for i := range out {
			out[i] = pool[(start+i)%len(pool)]
		}
		return out
	case zones.SelectRandom:
		out := append([]*zones.Endpoint(nil), pool...)
		for i := 0; i < n; i++ {
			j := i + int(r.rnd()%uint64(len(out)-i))
			out[i], out[j] = out[j], out[i]
		}
		return out[:n]
	case zones.SelectHash:
		return rendezvous(pool, c.Addr, n, weight)
	case zones.SelectFastest:
		return fastest(pool, pstates, n)
	case zones.SelectLeastLoaded:
		return r.weighted(pool, n, loadScaled(pool, pstates, weight))
	default:
		return r.weighted(pool, n, weight)
	}
}

// fastest returns the n endpoints with the lowest smoothed probe latency;
// endpoints without a measurement come after those with one, in file order.
func fastest(pool []*zones.Endpoint, states []EndpointState, n int) []*zones.Endpoint {
	idx := make([]int, len(pool))
	for i := range idx {
		idx[i] = i
	}
	lat := func(i int) float64 {
		if states[i].Latency <= 0 {
			return math.Inf(1)
		}
		return states[i].Latency
	}
	sort.SliceStable(idx, func(a, b int) bool { return lat(idx[a]) < lat(idx[b]) })
	out := make([]*zones.Endpoint, n)
	for i := range out {
		out[i] = pool[idx[i]]
	}
	return out
}

// loadScaled returns weights scaled down by reported load: weight x (1 -
// load), so an endpoint at load 0.9 gets a tenth of its share, the DNS form
// of "least connections". A fully loaded endpoint keeps a token share so it
// is not starved of the probes' view of recovery; endpoints that report no
// load keep their weight.
func loadScaled(pool []*zones.Endpoint, states []EndpointState, weight func(*zones.Endpoint) int) func(*zones.Endpoint) int {
	scaled := make(map[*zones.Endpoint]int, len(pool))
	for i, ep := range pool {
		w := weight(ep) * 1000
		if l := states[i].Load; l >= 0 {
			w = max(1, int(float64(w)*(1-min(l, 1))))
		}
		scaled[ep] = w
	}
	return func(ep *zones.Endpoint) int { return scaled[ep] }
}

// weighted draws n endpoints without replacement, each draw with
// probability proportional to weight among those not yet drawn.
func (r *Router) weighted(pool []*zones.Endpoint, n int, weight func(*zones.Endpoint) int) []*zones.Endpoint {
	left := append([]*zones.Endpoint(nil), pool...)
	total := 0
	for _, ep := range left {
		total += weight(ep)
	}
	out := make([]*zones.Endpoint, 0, n)
	for len(out) < n {
		x := int(r.rnd() % uint64(total))
		i := 0
		for ; i < len(left)-1; i++ {
			if x < weight(left[i]) {
				break
			}
			x -= weight(left[i])
		}
		out = append(out, left[i])
		total -= weight(left[i])
		left = append(left[:i], left[i+1:]...)
	}
	return out
}

func (r *Router) counter(s *zones.Service) *atomic.Uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.rr[s]
	if c == nil {
		c = new(atomic.Uint64)
		r.rr[s] = c
	}
	return c
}

// rendezvous picks the n endpoints with the highest weighted rendezvous
// score for the client's network (/24 or /56), so a client network sticks
// to its endpoints and losing one endpoint moves only that endpoint's
// clients.
func rendezvous(pool []*zones.Endpoint, client netip.Addr, n int, weight func(*zones.Endpoint) int) []*zones.Endpoint {
	net, _ := client.Prefix(stickyBits(client))
	key := net.Addr().As16()
	type scored struct {
		ep    *zones.Endpoint
		score float64
	}
	all := make([]scored, len(pool))
	for i, ep := range pool {
		v := stickyHash(key[:], ep.Key)
		// Weighted rendezvous (Schindelhauer-Schomaker): -w / ln(u), u in (0,1).
		u := (float64(v>>11) + 0.5) / (1 << 53)
		all[i] = scored{ep, -float64(weight(ep)) / math.Log(u)}
	}
	sort.Slice(all, func(i, j int) bool { return all[i].score > all[j].score })
	out := make([]*zones.Endpoint, n)
	for i := range out {
		out[i] = all[i].ep
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
