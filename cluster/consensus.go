package cluster

import (
	"fmt"

	"github.com/meridian-dns/meridian/config"
	"github.com/meridian-dns/meridian/healthcheck"
)

// Rule is cluster.health.down_when: how many of a target's observers must
// see it down for the fleet to take it down. The zero Rule is Majority.
type Rule struct {
	kind ruleKind
	n    int
}

type ruleKind uint8

const (
	ruleMajority ruleKind = iota
	ruleAny
	ruleAll
	ruleCount
)

// The rules with a name.
var (
	// Majority takes a target down when more than half of the observers
	// that report see it down; a tie leaves it up.
	Majority = Rule{kind: ruleMajority}
	// Any takes a target down when one observer sees it down.
	Any = Rule{kind: ruleAny}
	// All takes a target down when every observer that reports sees it
	// down.
	All = Rule{kind: ruleAll}
)

// AtLeast takes a target down when n observers see it down, or every
// observer that reports when fewer than n report.
func AtLeast(n int) Rule { return Rule{kind: ruleCount, n: max(n, 1)} }

// ParseRule reads a down_when value: majority, any, all or a number.
func ParseRule(s string) (Rule, error) {
	n, err := config.ParseDownWhen(s)
	if err != nil {
		return Rule{}, err
	}
	switch s {
	case "majority":
		return Majority, nil
	case "any":
		return Any, nil
	case "all":
		return All, nil
	}
	return AtLeast(n), nil
}

// String returns the rule as down_when writes it.
func (r Rule) String() string {
	switch r.kind {
	case ruleAny:
		return "any"
	case ruleAll:
		return "all"
	case ruleCount:
		return fmt.Sprint(r.n)
	}
	return "majority"
}

// Decide is the fleet's verdict on a target that up observers see up and
// down observers see down, fresh observations only: StateUnknown when
// nobody reports, else StateDown or StateUp by the rule.
func Decide(r Rule, up, down int) healthcheck.State {
	up, down = max(up, 0), max(down, 0)
	total := up + down
	if total == 0 {
		return healthcheck.StateUnknown
	}
	var isDown bool
	switch r.kind {
	case ruleAny:
		isDown = down >= 1
	case ruleAll:
		isDown = down == total
	case ruleCount:
		isDown = down >= min(r.n, total)
	default:
		isDown = 2*down > total
	}
	if isDown {
		return healthcheck.StateDown
	}
	return healthcheck.StateUp
}
