package cluster

import (
	"fmt"
	"slices"
	"testing"
)

func instanceNames(m int) []string {
	out := make([]string, m)
	for i := range out {
		out[i] = fmt.Sprintf("ns%d-site%d", i+1, i%4)
	}
	return out
}

func targetIDs(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%032x", uint64(i)*0x9e3779b97f4a7c15)
	}
	return out
}

// TestObserversExactlyN: with N observers out of M live instances, each
// target gets exactly N distinct ones, every member agrees (isObserver),
// and the load spreads over all instances.
func TestObserversExactlyN(t *testing.T) {
	targets := targetIDs(3000)
	for _, c := range []struct{ m, n int }{{3, 1}, {3, 2}, {5, 3}, {10, 3}, {50, 3}, {4, 4}, {4, 9}, {6, 0}} {
		live := instanceNames(c.m)
		want := c.n
		if want <= 0 || want > c.m {
			want = c.m
		}
		share := map[string]int{}
		for _, id := range targets {
			obs := Observers(id, live, c.n)
			if len(obs) != want {
				t.Fatalf("M=%d N=%d: %d observers of %s, want %d", c.m, c.n, len(obs), id, want)
			}
			seen := map[string]bool{}
			for _, o := range obs {
				if seen[o] || !slices.Contains(live, o) {
					t.Fatalf("M=%d N=%d: observers %v of %s: a duplicate or a stranger", c.m, c.n, obs, id)
				}
				seen[o] = true
				share[o]++
			}
			for _, name := range live {
				if isObserver(id, name, live, c.n) != seen[name] {
					t.Fatalf("M=%d N=%d: isObserver(%s, %s) disagrees with Observers %v", c.m, c.n, id, name, obs)
				}
			}
		}
		fair := float64(len(targets)*want) / float64(c.m)
		for _, name := range live {
			if got := float64(share[name]); got < fair/2 || got > fair*3/2 {
				t.Errorf("M=%d N=%d: %s observes %v targets, a fair share is %v", c.m, c.n, name, got, fair)
			}
		}
	}
}

// TestObserversRebalance: removing one instance moves only the targets it
// observed, each to exactly one new observer; adding it back restores the
// first assignment.
func TestObserversRebalance(t *testing.T) {
	targets := targetIDs(3000)
	live := instanceNames(7)
	const n = 3
	gone := live[4]
	rest := slices.DeleteFunc(slices.Clone(live), func(s string) bool { return s == gone })
	moved := 0
	for _, id := range targets {
		before := Observers(id, live, n)
		after := Observers(id, rest, n)
		if !slices.Contains(before, gone) {
			if !sameSet(before, after) {
				t.Fatalf("%s: observers %v became %v although %s did not observe it", id, before, after, gone)
			}
			continue
		}
		moved++
		kept := 0
		for _, o := range before {
			if o != gone && slices.Contains(after, o) {
				kept++
			}
		}
		if kept != n-1 {
			t.Fatalf("%s: observers %v became %v; want the %d others kept", id, before, after, n-1)
		}
		if again := Observers(id, live, n); !sameSet(again, before) {
			t.Fatalf("%s: observers %v after %s came back, want %v", id, again, gone, before)
		}
	}
	if moved == 0 {
		t.Fatal("the removed instance observed nothing")
	}
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}
