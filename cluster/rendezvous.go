package cluster

import (
	"hash/fnv"
	"slices"

	"github.com/meridian-dns/meridian/internal/splitmix"
)

// Observers returns the n of instances that probe the target with ID
// target, by rendezvous (highest random weight) hashing: each instance
// scores hash(target, instance) and the n highest scores win. Every member
// computes the same answer from the same set of live instances, a target's
// observers change only when one of them leaves or a new instance outscores
// one, and an instance that leaves hands on only the targets it observed.
// n <= 0, or n at least the number of instances, means all of them. The
// result is ordered by score; instances must not hold duplicates.
func Observers(target string, instances []string, n int) []string {
	if n <= 0 || n >= len(instances) {
		return slices.Clone(instances)
	}
	type scored struct {
		name  string
		score uint64
	}
	all := make([]scored, len(instances))
	for i, name := range instances {
		all[i] = scored{name, score(target, name)}
	}
	slices.SortFunc(all, func(a, b scored) int {
		switch {
		case a.score > b.score:
			return -1
		case a.score < b.score:
			return 1
		case a.name < b.name:
			return -1
		case a.name > b.name:
			return 1
		}
		return 0
	})
	out := make([]string, n)
	for i := range out {
		out[i] = all[i].name
	}
	return out
}

// isObserver reports whether self is among the n observers of target, as
// Observers would say, without sorting.
func isObserver(target, self string, instances []string, n int) bool {
	if n <= 0 || n >= len(instances) {
		return slices.Contains(instances, self)
	}
	mine := score(target, self)
	above := 0
	for _, name := range instances {
		if name == self {
			continue
		}
		if s := score(target, name); s > mine || (s == mine && name < self) {
			above++
			if above >= n {
				return false
			}
		}
	}
	return true
}

// score is the rendezvous weight of instance for target: FNV-1a over both,
// separated by a byte neither holds, finished with SplitMix64's mixer so
// that similar names spread over the whole range.
func score(target, instance string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(target))
	h.Write([]byte{0})
	h.Write([]byte(instance))
	return splitmix.Mix(h.Sum64())
}
