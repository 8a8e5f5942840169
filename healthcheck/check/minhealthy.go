package check

import (
	"fmt"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// MinHealthy is how many endpoints of a region must be up for the region to
// be answered from: a count ("min_healthy: 2") or a percentage of the
// region's endpoints ("min_healthy: 50%"). The zero value means one.
type MinHealthy struct {
	n       int
	percent bool
}

// MinHealthyCount returns a MinHealthy requiring n endpoints (n >= 1).
func MinHealthyCount(n int) MinHealthy {
	return MinHealthy{n: max(n, 1)}
}

// ParseMinHealthy parses a count such as "2" or a percentage such as "50%".
func ParseMinHealthy(s string) (MinHealthy, error) {
	s = strings.TrimSpace(s)
	if p, ok := strings.CutSuffix(s, "%"); ok {
		n, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil || n < 1 || n > 100 {
			return MinHealthy{}, fmt.Errorf("min_healthy %q must be a percentage from 1%% to 100%%", s)
		}
		return MinHealthy{n: n, percent: true}, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		return MinHealthy{}, fmt.Errorf("min_healthy %q must be a count of at least 1 or a percentage like 50%%", s)
	}
	return MinHealthy{n: n}, nil
}

// UnmarshalYAML decodes an int or a "N%" string.
func (m *MinHealthy) UnmarshalYAML(node *yaml.Node) error {
	if node.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: min_healthy must be a count or a percentage like 50%%", node.Line)
	}
	v, err := ParseMinHealthy(node.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", node.Line, err)
	}
	*m = v
	return nil
}

// MarshalYAML encodes the count as an int and a percentage as "N%".
func (m MinHealthy) MarshalYAML() (any, error) {
	if m.percent {
		return m.String(), nil
	}
	return max(m.n, 1), nil
}

// String returns the value as written in YAML.
func (m MinHealthy) String() string {
	if m.percent {
		return strconv.Itoa(m.n) + "%"
	}
	return strconv.Itoa(max(m.n, 1))
}

// Required returns how many of total endpoints must be up: a percentage is
// rounded up and is at least one, and a count larger than the region is
// capped at the region's size, so a one-endpoint region needs its one
// endpoint. It returns 0 when total is 0.
func (m MinHealthy) Required(total int) int {
	if total <= 0 {
		return 0
	}
	need := max(m.n, 1)
	if m.percent {
		need = max((total*m.n+99)/100, 1)
	}
	return min(need, total)
}

// RegionUp reports whether a region with upCount of its total endpoints up
// meets minHealthy. A region without endpoints is never up.
func RegionUp(upCount, total int, minHealthy MinHealthy) bool {
	if total <= 0 {
		return false
	}
	return upCount >= minHealthy.Required(total)
}
