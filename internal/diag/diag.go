// Package diag words the errors of configuration mistakes so that they say
// where, what, and what to do instead: the closest known name to a
// misspelt one, the real line of a YAML syntax error with a hint, and a
// YAML type mismatch in the operator's words rather than Go's.
package diag

import (
	"strings"
	"unicode/utf8"
)

// Closest returns the candidate nearest to name, compared without regard
// to case, when it is near enough to be the likely intent: at most two
// edits (insertions, deletions, substitutions or swaps of adjacent
// characters) away, and at most one for names of up to four characters.
// Among equally near candidates the first wins.
func Closest(name string, candidates []string) (string, bool) {
	limit := 2
	if utf8.RuneCountInString(name) <= 4 {
		limit = 1
	}
	best, bestDist := "", limit+1
	lname := strings.ToLower(name)
	for _, c := range candidates {
		if c == name {
			continue
		}
		if d := distance(lname, strings.ToLower(c)); d < bestDist {
			best, bestDist = c, d
		}
	}
	return best, best != ""
}

// DidYouMean returns `; did you mean "x"?` for the candidate Closest finds,
// or "" when none is near, to append to an error about name.
func DidYouMean(name string, candidates []string) string {
	if c, ok := Closest(name, candidates); ok {
		return `; did you mean "` + c + `"?`
	}
	return ""
}

// distance is the optimal string alignment distance between a and b: the
// Levenshtein distance with swaps of adjacent characters counted as one
// edit, which is how most typing mistakes look.
func distance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	// d[i][j] is the distance between ra[:i] and rb[:j]; three rows suffice.
	prev2 := make([]int, len(rb)+1)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(rb)]
}
