package routing

import (
	"math"
	"net/netip"
	"slices"

	"github.com/meridian-dns/meridian/internal/splitmix"
	"github.com/meridian-dns/meridian/zones"
)

// pick chooses up to s.Answers endpoints among up (the region's up
// endpoints, in file order) with the service's selection
// policy. Endpoints of weight 0 are used only when no endpoint of positive
// weight is up. An endpoint's weight is the operator's runtime weight when
// its state carries one, else the zone file's.
//
// The policies work on indexes into up, in arrays on the stack for pools of
// up to stackEndpoints; an answer that is a run of the region's pool is a
// slice of the snapshot, so most answers allocate nothing.
func (r *Router) pick(hv Health, s *zones.Service, up upSet, c Client) []*zones.Endpoint {
	if s.Select == zones.SelectFirst || s.Select == zones.SelectAll {
		// The pool below is every up endpoint when all or none have a
		// positive weight: the answer is then the first n, found without
		// building it.
		positive := 0
		for i := range up.pos {
			if up.weight(hv, i) > 0 {
				positive++
			}
		}
		if positive == 0 || positive == len(up.pos) {
			if n := answerCount(s, len(up.pos)); n > 0 {
				return up.first(n)
			}
			return nil
		}
	}
	var poolBuf [stackEndpoints]int
	pool := poolBuf[:0]
	for i := range up.pos {
		if up.weight(hv, i) > 0 {
			pool = append(pool, i)
		}
	}
	zeroOnly := len(pool) == 0
	if zeroOnly {
		for i := range up.pos {
			pool = append(pool, i)
		}
	}
	n := answerCount(s, len(pool))
	if n == 0 {
		return nil
	}
	switch s.Select {
	case zones.SelectFirst, zones.SelectAll:
		return up.endpoints(pool[:n])
	case zones.SelectRandom:
		// A partial Fisher-Yates shuffle of the pool, which is ours.
		for i := 0; i < n; i++ {
			j := i + int(r.rnd()%uint64(len(pool)-i))
			pool[i], pool[j] = pool[j], pool[i]
		}
		return up.endpoints(pool[:n])
	}
	// The other policies need room for their answer (declared here, as
	// the stack arrays are zeroed where they are declared).
	var outBuf [stackEndpoints]int
	var out []int
	switch s.Select {
	case zones.SelectRoundRobin:
		start := int(s.RoundRobin().Add(1)-1) % len(pool)
		out = outBuf[:0]
		for i := range n {
			out = append(out, pool[(start+i)%len(pool)])
		}
	case zones.SelectHash:
		out = rendezvous(hv, up, pool, c.Addr, n, zeroOnly, outBuf[:0])
	case zones.SelectFastest:
		out = fastest(up, pool, n, outBuf[:0])
	case zones.SelectLeastLoaded:
		var weightBuf [stackEndpoints]int
		out = r.weighted(pool, n, loadScaled(hv, up, pool, zeroOnly, weightBuf[:0]), outBuf[:0])
	default:
		var weightBuf [stackEndpoints]int
		out = r.weighted(pool, n, weights(hv, up, pool, zeroOnly, weightBuf[:0]), outBuf[:0])
	}
	return up.endpoints(out)
}

// answerCount is how many endpoints s answers from a pool of size: its
// answers setting, all of them for select all or when it asks for more.
func answerCount(s *zones.Service, size int) int {
	if n := s.Answers; n > 0 && n <= size && s.Select != zones.SelectAll {
		return n
	}
	return size
}

// weights appends to w the weights of the pool's endpoints (1 each when
// only endpoints of weight 0 are up).
func weights(hv Health, up upSet, pool []int, zeroOnly bool, w []int) []int {
	for _, i := range pool {
		if zeroOnly {
			w = append(w, 1)
		} else {
			w = append(w, up.weight(hv, i))
		}
	}
	return w
}

// fastest appends to out the n endpoints with the lowest smoothed probe
// latency; endpoints without a measurement come after those with one, in
// file order.
func fastest(up upSet, pool []int, n int, out []int) []int {
	var keyBuf [stackEndpoints]float64
	keys := keyBuf[:0]
	for _, i := range pool {
		lat := up.latency(i)
		if lat <= 0 {
			lat = math.Inf(1)
		}
		keys = append(keys, lat)
	}
	if picked, ok := lowest(pool, keys, n, out); ok {
		return picked
	}
	// A NaN latency leaves the order to the stable sort, the same as the
	// sort.SliceStable this replaced.
	var allBuf [stackEndpoints]keyed
	all := allBuf[:0]
	for k, i := range pool {
		all = append(all, keyed{i, keys[k]})
	}
	slices.SortStableFunc(all, func(a, b keyed) int { return compare(a.key, b.key) })
	for _, e := range all[:n] {
		out = append(out, e.i)
	}
	return out
}

// keyed is an element of a pool with its sort key.
type keyed struct {
	i   int
	key float64
}

// lowest appends to out the n elements of pool with the lowest keys
// (parallel to pool), lowest first and equal keys in pool order: the first
// n of a stable sort. It reports false, with out unchanged, when a key is
// NaN and a stable sort's order is its own.
func lowest(pool []int, keys []float64, n int, out []int) ([]int, bool) {
	start := len(out)
	var keptBuf [stackEndpoints]float64
	kept := keptBuf[:0]
	for k, key := range keys {
		if key != key {
			return out[:start], false
		}
		j := len(kept)
		if j == n {
			if !(key < kept[n-1]) {
				continue
			}
			j--
		} else {
			kept = append(kept, 0)
			out = append(out, 0)
		}
		for ; j > 0 && kept[j-1] > key; j-- {
			kept[j], out[start+j] = kept[j-1], out[start+j-1]
		}
		kept[j], out[start+j] = key, pool[k]
	}
	return out, true
}

// loadScaled appends to w the pool's weights scaled down by reported load: weight x (1 -
// load), so an endpoint at load 0.9 gets a tenth of its share, the DNS form
// of "least connections". A fully loaded endpoint keeps a token share so it
// is not starved of the probes' view of recovery; endpoints that report no
// load keep their weight.
func loadScaled(hv Health, up upSet, pool []int, zeroOnly bool, w []int) []int {
	w = weights(hv, up, pool, zeroOnly, w)
	for k, i := range pool {
		w[k] *= 1000
		if l := up.load(i); l >= 0 {
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

// rendezvous appends to out the n endpoints of pool with the highest
// weighted rendezvous score for the client's network (/24 or /56), so a
// client network sticks to its endpoints and losing one endpoint moves only
// that endpoint's clients.
func rendezvous(hv Health, up upSet, pool []int, client netip.Addr, n int, zeroOnly bool, out []int) []int {
	net, _ := client.Prefix(stickyBits(client))
	key := net.Addr().As16()
	h := fnv1a(fnvOffset, key[:])
	var scoreBuf [stackEndpoints]float64
	scores := scoreBuf[:0]
	for _, i := range pool {
		ep := up.pool.Endpoints[up.pos[i]]
		w := up.weight(hv, i)
		if zeroOnly {
			w = 1
		}
		v := splitmix.Mix(fnv1aString(h, ep.Key))
		// Weighted rendezvous (Schindelhauer-Schomaker): -w / ln(u), u in (0,1).
		u := (float64(v>>11) + 0.5) / (1 << 53)
		scores = append(scores, -float64(w)/math.Log(u))
	}
	if picked, ok := highest(pool, scores, n, out); ok {
		return picked
	}
	// Tied scores are ordered by the sort, the same pattern-defeating
	// quicksort as the sort.Slice this replaced, so they fall as they did.
	var allBuf [stackEndpoints]keyed
	all := allBuf[:0]
	for k, i := range pool {
		all = append(all, keyed{i, scores[k]})
	}
	slices.SortFunc(all, func(a, b keyed) int { return compare(b.key, a.key) })
	for _, e := range all[:n] {
		out = append(out, e.i)
	}
	return out
}

// highest appends to out the n elements of pool with the highest scores
// (parallel to pool), highest first. It reports false, with out unchanged,
// when the order of those n is not certain: two of them tie, one ties with
// an element left out, or a score is NaN. An unstable sort orders ties its
// own way.
func highest(pool []int, scores []float64, n int, out []int) ([]int, bool) {
	start := len(out)
	var keptBuf [stackEndpoints]float64
	kept := keptBuf[:0]
	for k, score := range scores {
		if score != score {
			return out[:start], false
		}
		j := len(kept)
		if j == n && score < kept[n-1] {
			// Below every kept score: neither kept nor tied with one.
			continue
		}
		for _, s := range kept {
			if s == score {
				return out[:start], false
			}
		}
		if j == n {
			j--
		} else {
			kept = append(kept, 0)
			out = append(out, 0)
		}
		for ; j > 0 && kept[j-1] < score; j-- {
			kept[j], out[start+j] = kept[j-1], out[start+j-1]
		}
		kept[j], out[start+j] = score, pool[k]
	}
	return out, true
}

// fnvOffset is the FNV-1a offset basis. The sticky hash of a client
// network and an endpoint is FNV-1a over the network's 16 bytes and then
// the endpoint's key, finished by mix for avalanche. It is the same in
// every process, so every Meridian instance and every restart sends a
// client network to the same endpoints.
const fnvOffset = 14695981039346656037

// fnv1a continues the FNV-1a hash h over b.
func fnv1a(h uint64, b []byte) uint64 {
	for _, c := range b {
		h = (h ^ uint64(c)) * 1099511628211
	}
	return h
}

// fnv1aString continues the FNV-1a hash h over s.
func fnv1aString(h uint64, s string) uint64 {
	for i := 0; i < len(s); i++ {
		h = (h ^ uint64(s[i])) * 1099511628211
	}
	return h
}
