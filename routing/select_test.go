package routing

import (
	"fmt"
	"math"
	"math/rand/v2"
	"net/netip"
	"slices"
	"sort"
	"testing"

	"github.com/miekg/dns"

	"github.com/meridian-dns/meridian/internal/splitmix"
	"github.com/meridian-dns/meridian/zones"
)

// randomKeys returns n keys drawn from a few values, so that many tie,
// with a NaN now and then when withNaN is set.
func randomKeys(rng *rand.Rand, n int, withNaN bool) []float64 {
	keys := make([]float64, n)
	for i := range keys {
		switch v := rng.IntN(8); {
		case withNaN && v == 0 && rng.IntN(4) == 0:
			keys[i] = math.NaN()
		case v == 1:
			keys[i] = math.Inf(1)
		default:
			keys[i] = float64(v)
		}
	}
	return keys
}

// TestLowestIsStableSortPrefix checks the selection fastest uses against
// the sort.SliceStable it replaced: the same first n, or a refusal only
// when a key is NaN.
func TestLowestIsStableSortPrefix(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		size := 1 + rng.IntN(40)
		n := 1 + rng.IntN(size)
		keys := randomKeys(rng, size, rng.IntN(2) == 0)
		pool := make([]int, size)
		for i := range pool {
			pool[i] = 100 + i
		}
		want := slices.Clone(pool)
		sort.SliceStable(want, func(a, b int) bool { return keys[want[a]-100] < keys[want[b]-100] })
		got, ok := lowest(pool, keys, n, []int{-1})
		if !ok {
			if !slices.ContainsFunc(keys, math.IsNaN) {
				t.Fatalf("keys %v: refused without a NaN", keys)
			}
			if !slices.Equal(got, []int{-1}) {
				t.Fatalf("refusal changed out to %v", got)
			}
			continue
		}
		if !slices.Equal(got[1:], want[:n]) || got[0] != -1 {
			t.Fatalf("keys %v, n %d: got %v, want -1 then %v", keys, n, got, want[:n])
		}
	}
}

// TestHighestIsSortPrefix checks the selection rendezvous uses against
// the sort.Slice it replaced: the same first n whenever it answers, and an
// answer whenever every score differs.
func TestHighestIsSortPrefix(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for range 20000 {
		size := 1 + rng.IntN(40)
		n := 1 + rng.IntN(size)
		var scores []float64
		if rng.IntN(2) == 0 {
			scores = randomKeys(rng, size, true)
		} else {
			scores = make([]float64, size)
			for i := range scores {
				scores[i] = rng.Float64()
			}
		}
		pool := make([]int, size)
		for i := range pool {
			pool[i] = 100 + i
		}
		want := slices.Clone(pool)
		sort.Slice(want, func(a, b int) bool { return scores[want[a]-100] > scores[want[b]-100] })
		got, ok := highest(pool, scores, n, nil)
		distinct := !slices.ContainsFunc(scores, math.IsNaN) && len(slices.Compact(slices.Sorted(slices.Values(scores)))) == size
		if !ok {
			if distinct {
				t.Fatalf("scores %v: refused distinct scores", scores)
			}
			if len(got) != 0 {
				t.Fatalf("refusal changed out to %v", got)
			}
			continue
		}
		if !slices.Equal(got, want[:n]) {
			t.Fatalf("scores %v, n %d: got %v, want %v", scores, n, got, want[:n])
		}
	}
}

// TestFastestWithNaN checks that fastest falls back to the stable sort's
// order when a latency is NaN.
func TestFastestWithNaN(t *testing.T) {
	pool := &zones.Pool{}
	up := upSet{pool: pool, states: []upState{}}
	for i, lat := range []float64{0.02, math.NaN(), 0.01, 0, 0.01, math.NaN(), 0.03} {
		pool.Endpoints = append(pool.Endpoints, &zones.Endpoint{Weight: 1, Index: i})
		up.pos = append(up.pos, i)
		up.states = append(up.states, upState{weight: 1, latency: lat})
	}
	lat := func(i int) float64 {
		if up.states[i].latency <= 0 {
			return math.Inf(1)
		}
		return up.states[i].latency
	}
	for n := 1; n <= len(up.pos); n++ {
		want := []int{0, 1, 2, 3, 4, 5, 6}
		sort.SliceStable(want, func(a, b int) bool { return lat(want[a]) < lat(want[b]) })
		if got := fastest(up, []int{0, 1, 2, 3, 4, 5, 6}, n, nil); !slices.Equal(got, want[:n]) {
			t.Errorf("n %d: got %v, want %v", n, got, want[:n])
		}
	}
}

// TestStickyHashIsStable pins the sticky hash: it must not change between
// releases, or every client network would move.
func TestStickyHashIsStable(t *testing.T) {
	net := netip.MustParseAddr("20.4.1.0").As16()
	if got := splitmix.Mix(fnv1aString(fnv1a(fnvOffset, net[:]), "www.example.com./192.0.2.1")); got != 0x7f97e4723a47e71e {
		t.Errorf("hash %#x", got)
	}
}

// reweighted is a Health in which every endpoint is up and an operator
// set the weights of those it lists, by address.
type reweighted map[string]int

func (h reweighted) Endpoint(ep *zones.Endpoint) EndpointState {
	st := EndpointState{Up: true, Load: -1}
	if w, ok := h[ep.Ident]; ok {
		st.Reweighted, st.Weight = true, w
	}
	return st
}

func (reweighted) MinHealthy(*zones.Service, int) int { return 1 }

// TestRuntimeWeights holds selection to the operator's runtime weights
// over the zone file's: an endpoint set to 0 is not answered while others
// are up, one set high takes its share, for weighted draws and sticky
// hashing alike; every endpoint set to 0 shares equally, as weights of 0
// in the zone file do.
func TestRuntimeWeights(t *testing.T) {
	z := selectionZone(t)
	const n = 2000
	count := func(svc string, h Health, varyClient bool) map[string]int {
		r := newRouter(t, nil, h)
		s := service(t, z, svc)
		got := map[string]int{}
		for i := range n {
			c := client("30.0.0.0", 24)
			if varyClient {
				c = client(fmt.Sprintf("30.%d.%d.0", i/256, i%256), 24)
			}
			d := r.Decide(s, dns.TypeA, c, false)
			for _, ep := range d.Endpoints {
				got[ep.Ident]++
			}
		}
		return got
	}
	// weighted-4-1 has 10.4.1.1 to .4 at zone weights 1, 2, 3, 1.
	for _, tc := range []struct {
		svc   string
		vary  bool
		extra string
	}{{"weighted-4-1", false, ""}, {"hash-4-1", true, " (sticky)"}} {
		base := count(tc.svc, nil, tc.vary)
		if base["10.4.1.1"] == 0 || base["10.4.1.3"] == 0 {
			t.Fatalf("%s by zone weights: %v", tc.svc, base)
		}
		got := count(tc.svc, reweighted{"10.4.1.3": 0, "10.4.1.1": 94}, tc.vary)
		if got["10.4.1.3"] != 0 {
			t.Errorf("%s%s: endpoint at runtime weight 0 answered %d times: %v", tc.svc, tc.extra, got["10.4.1.3"], got)
		}
		// 94 of 97: about 1938 of 2000; 1800 is far below.
		if got["10.4.1.1"] < 1800 {
			t.Errorf("%s%s: endpoint at runtime weight 94 of 97 answered %d of %d: %v", tc.svc, tc.extra, got["10.4.1.1"], n, got)
		}
	}
	all := count("weighted-4-1", reweighted{"10.4.1.1": 0, "10.4.1.2": 0, "10.4.1.3": 0, "10.4.1.4": 0}, false)
	for _, a := range []string{"10.4.1.1", "10.4.1.2", "10.4.1.3", "10.4.1.4"} {
		if all[a] < n/4-200 || all[a] > n/4+200 {
			t.Errorf("every endpoint at weight 0: %s answered %d of %d, want about a quarter: %v", a, all[a], n, all)
		}
	}
}

// reweightedAll is reweighted that says it changes weights, as the
// running server's health view does when an operator set one.
type reweightedAll struct{ reweighted }

func (reweightedAll) Reweighted() bool { return true }

// TestRuntimeWeightsDrawRegions: with routing weighted, a region is drawn
// by its endpoints' runtime weights: one whose endpoints are all at 0 is
// not drawn while another has weight.
func TestRuntimeWeightsDrawRegions(t *testing.T) {
	z := selectionZone(t)
	s := service(t, z, "wr")
	count := func(h Health) map[string]int {
		r := newRouter(t, nil, h)
		got := map[string]int{}
		for range 1000 {
			got[r.Decide(s, dns.TypeA, client("30.0.0.0", 24), false).Region.Name]++
		}
		return got
	}
	if base := count(nil); base["us-east"] == 0 || base["eu-west"] == 0 {
		t.Fatalf("by zone weights: %v", base)
	}
	h := reweighted{"192.0.2.50": 0, "192.0.2.51": 0, "203.0.113.50": 0}
	if got := count(reweightedAll{h}); got["eu-west"] != 1000 {
		t.Errorf("us-east and ap-south at weight 0: regions drawn %v, want only eu-west", got)
	}
	// A Health that does not say it changes weights is drawn by the zone's.
	if got := count(h); got["us-east"] == 0 {
		t.Errorf("without Reweighted, regions drawn %v", got)
	}
	r := newRouter(t, nil, reweightedAll{h})
	if a := testing.AllocsPerRun(100, func() { r.Decide(s, dns.TypeA, client("30.0.0.0", 24), false) }); a != 0 {
		t.Errorf("a reweighted draw allocates %.1f times", a)
	}
}

// counting is AllUp that counts the endpoints it is asked about, and says
// it has no say over unchecked endpoints when plain is set.
type counting struct {
	plain bool
	calls *int
}

func (h counting) Endpoint(ep *zones.Endpoint) EndpointState {
	*h.calls++
	return AllUp{}.Endpoint(ep)
}

func (counting) MinHealthy(*zones.Service, int) int { return 1 }

func (h counting) UncheckedUp() bool { return h.plain }

// TestUncheckedUpAsksNothing: a Health that has no say over unchecked
// endpoints is not asked about them, and every policy answers as when it
// is asked.
func TestUncheckedUpAsksNothing(t *testing.T) {
	// A zone each, so that round robin counters start alike.
	z := [2]*zones.Zone{selectionZone(t), selectionZone(t)}
	for _, p := range policies {
		for _, size := range poolSizes {
			name := fmt.Sprintf("%s-%d-2", p, size)
			var answers [2][]string
			var calls [2]int
			for i, plain := range []bool{false, true} {
				s := service(t, z[i], name)
				r := newRouter(t, nil, counting{plain: plain, calls: &calls[i]})
				seed := uint64(7)
				r.SetRand(func() uint64 { seed = splitmix.Mix(seed); return seed })
				for range 5 {
					for _, ep := range r.Decide(s, dns.TypeA, client("192.0.2.1", 24), false).Endpoints {
						answers[i] = append(answers[i], ep.Key)
					}
				}
			}
			if !slices.Equal(answers[0], answers[1]) {
				t.Errorf("%s: answered %v asking, %v not asking", name, answers[0], answers[1])
			}
			if calls[0] == 0 || calls[1] != 0 {
				t.Errorf("%s: %d endpoint states asked for, %d when unchecked endpoints are up", name, calls[0], calls[1])
			}
		}
	}
}
