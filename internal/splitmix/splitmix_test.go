package splitmix

import "testing"

// TestMix pins the finaliser to SplitMix64's published outputs: the
// generator's first values from seed 0 are Mix of 1, 2 and 3 times its
// increment.
func TestMix(t *testing.T) {
	const gamma = 0x9e3779b97f4a7c15
	for i, want := range []uint64{0xe220a8397b1dcdaf, 0x6e789e6aa1b965f4, 0x06c45d188009454f} {
		if got := Mix(uint64(i+1) * gamma); got != want {
			t.Errorf("Mix(%d x gamma) = %#x, want %#x", i+1, got, want)
		}
	}
}
