package metrics

import (
	"math"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// gather returns the one metric family reg holds.
func gather(t *testing.T, reg *prometheus.Registry) *dto.MetricFamily {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil || len(mfs) != 1 {
		t.Fatalf("gathered %d families: %v", len(mfs), err)
	}
	return mfs[0]
}

// TestHistogramMatchesPrometheus: observed one at a time or in batches,
// concurrently, the histogram exposes what a prometheus.Histogram of the
// same buckets exposes for the same values.
func TestHistogramMatchesPrometheus(t *testing.T) {
	ours := NewHistogram("h_seconds", "help", DurationBuckets)
	theirs := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "h_seconds", Help: "help", Buckets: DurationBuckets})
	regOurs, regTheirs := prometheus.NewRegistry(), prometheus.NewRegistry()
	regOurs.MustRegister(ours)
	regTheirs.MustRegister(theirs)

	// Values on the bounds, between them, beyond the last, and zero; sums
	// of binary fractions, so that the order of addition cannot matter.
	values := append([]float64{0, 0.2, 1}, DurationBuckets...)
	for _, b := range DurationBuckets {
		values = append(values, math.Nextafter(b, 0), math.Nextafter(b, 1))
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(g), 1))
			for range 500 {
				v := float64(r.IntN(1<<12)) / (1 << 22) // up to about 1 ms, exact
				if r.IntN(5) == 0 {
					v = values[r.IntN(len(values))]
				}
				n := 1 + r.IntN(32)
				ours.ObserveN(v, n)
				mu.Lock()
				for range n {
					theirs.Observe(v)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	ours.ObserveN(0.5, 0) // counts nothing
	a, b := gather(t, regOurs), gather(t, regTheirs)
	ha, hb := a.Metric[0].Histogram, b.Metric[0].Histogram
	if a.GetName() != b.GetName() || a.GetHelp() != b.GetHelp() || a.GetType() != b.GetType() {
		t.Errorf("family %s %q %v, want %s %q %v", a.GetName(), a.GetHelp(), a.GetType(), b.GetName(), b.GetHelp(), b.GetType())
	}
	if ha.GetSampleCount() != hb.GetSampleCount() || len(ha.Bucket) != len(hb.Bucket) {
		t.Fatalf("count %d in %d buckets, want %d in %d", ha.GetSampleCount(), len(ha.Bucket), hb.GetSampleCount(), len(hb.Bucket))
	}
	if math.Abs(ha.GetSampleSum()-hb.GetSampleSum()) > 1e-9*hb.GetSampleSum() {
		t.Errorf("sum %v, want %v", ha.GetSampleSum(), hb.GetSampleSum())
	}
	for i := range hb.Bucket {
		if ha.Bucket[i].GetUpperBound() != hb.Bucket[i].GetUpperBound() || ha.Bucket[i].GetCumulativeCount() != hb.Bucket[i].GetCumulativeCount() {
			t.Errorf("bucket %d: %s, want %s", i, ha.Bucket[i], hb.Bucket[i])
		}
	}
}
