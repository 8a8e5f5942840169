package routing

import (
	"math"
	"math/rand/v2"
	"net/netip"
	"slices"
	"sort"
	"testing"

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
	up := upSet{pool: pool}
	for i, lat := range []float64{0.02, math.NaN(), 0.01, 0, 0.01, math.NaN(), 0.03} {
		pool.Endpoints = append(pool.Endpoints, &zones.Endpoint{Weight: 1, Index: i})
		up.pos = append(up.pos, i)
		up.states = append(up.states, EndpointState{Up: true, Latency: lat})
	}
	lat := func(i int) float64 {
		if up.states[i].Latency <= 0 {
			return math.Inf(1)
		}
		return up.states[i].Latency
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
	if got := mix(fnv1aString(fnv1a(fnvOffset, net[:]), "www.example.com./192.0.2.1")); got != 0x7f97e4723a47e71e {
		t.Errorf("hash %#x", got)
	}
}
