package zones

import (
	"os"
	"testing"
)

// BenchmarkLoadLarge loads the zones directory named by MERIDIAN_BENCH_ZONES
// (for example a generated zone of a million records; see
// docs/performance.md). It is skipped when the variable is unset.
func BenchmarkLoadLarge(b *testing.B) {
	dir := os.Getenv("MERIDIAN_BENCH_ZONES")
	if dir == "" {
		b.Skip("MERIDIAN_BENCH_ZONES not set")
	}
	for b.Loop() {
		if _, err := Load(dir, nil); err != nil {
			b.Fatal(err)
		}
	}
}
