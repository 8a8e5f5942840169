// Package splitmix holds SplitMix64's finaliser, the one bit mixer the
// project's hashes share (sticky selection, rendezvous hashing, the GeoIP
// cache's shards).
package splitmix

// Mix spreads every bit of x over the whole result, so that inputs that
// differ in a few bits give unrelated outputs. It is a bijection.
func Mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	return x ^ x>>31
}
