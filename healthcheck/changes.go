package healthcheck

import (
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"
)

// EditKind is what an Edit changes.
type EditKind uint8

// The kinds of operator state an Edit changes.
const (
	// EditEndpoint sets or clears an endpoint's override (drain, up, down).
	EditEndpoint EditKind = iota + 1
	// EditRegion sets or clears a region's override.
	EditRegion
	// EditWeight sets or clears an endpoint's runtime weight.
	EditWeight
)

// Edit is one change of operator state, as the admin API asks for it.
type Edit struct {
	Kind EditKind
	// Name is the service (EditEndpoint, EditWeight) or the zone
	// (EditRegion).
	Name string
	// Item is the endpoint's address or the region's name.
	Item string
	// State is the override to set; "" clears it (EditEndpoint,
	// EditRegion).
	State AdminState
	// Weight is the weight to set, or -1 to clear it (EditWeight).
	Weight int
}

// Target names what e changes in the operator's words, with canonical
// names: "endpoint www.example.com./192.0.2.1", "region example.com./eu",
// "weight www.example.com./192.0.2.1".
func (e Edit) Target() (string, error) {
	switch e.Kind {
	case EditEndpoint:
		k, err := endpointKey(e.Name, e.Item)
		return "endpoint " + k, err
	case EditRegion:
		k, err := regionKey(e.Name, e.Item)
		return "region " + k, err
	case EditWeight:
		k, err := endpointKey(e.Name, e.Item)
		return "weight " + k, err
	}
	return "", fmt.Errorf("unknown edit kind %d", e.Kind)
}

// Value is what e sets, as a change records it: the state, the weight,
// or "none" when e clears.
func (e Edit) Value() string {
	if e.Kind == EditWeight {
		if e.Weight < 0 {
			return "none"
		}
		return strconv.Itoa(e.Weight)
	}
	return stateOrNone(e.State)
}

// Current returns what o holds for e's target, in Edit.Value's form.
func (o *Overrides) Current(e Edit) string {
	switch e.Kind {
	case EditEndpoint:
		st, _ := o.Endpoint(e.Name, e.Item)
		return stateOrNone(st)
	case EditRegion:
		st, _ := o.Region(e.Name, e.Item)
		return stateOrNone(st)
	case EditWeight:
		if w, ok := o.Weight(e.Name, e.Item); ok {
			return strconv.Itoa(w)
		}
	}
	return "none"
}

// Apply returns a copy of o with e made.
func (o *Overrides) Apply(e Edit) (*Overrides, error) {
	switch e.Kind {
	case EditEndpoint:
		if e.State == "" {
			if _, err := endpointKey(e.Name, e.Item); err != nil {
				return nil, err
			}
			return o.WithoutEndpoint(e.Name, e.Item), nil
		}
		return o.WithEndpoint(e.Name, e.Item, e.State)
	case EditRegion:
		if e.State == "" {
			if _, err := regionKey(e.Name, e.Item); err != nil {
				return nil, err
			}
			return o.WithoutRegion(e.Name, e.Item), nil
		}
		return o.WithRegion(e.Name, e.Item, e.State)
	case EditWeight:
		if e.Weight < 0 {
			if _, err := endpointKey(e.Name, e.Item); err != nil {
				return nil, err
			}
			return o.WithoutWeight(e.Name, e.Item), nil
		}
		return o.WithWeight(e.Name, e.Item, e.Weight)
	}
	return nil, fmt.Errorf("unknown edit kind %d", e.Kind)
}

func stateOrNone(st AdminState) string {
	if st == "" {
		return "none"
	}
	return string(st)
}

// Change records one change of operator state: who made it, when, and
// what it changed from and to.
type Change struct {
	Time time.Time `json:"time"`
	// Instance is the fleet member whose admin API took the change; empty
	// without a cluster.
	Instance string `json:"instance,omitempty"`
	// Client is the address the request came from.
	Client string `json:"client"`
	// Auth names the token given: "token" for http.token, a name of
	// http.tokens, or "none" when the API needs no token.
	Auth string `json:"auth"`
	// Action is drain, undrain or weight.
	Action string `json:"action"`
	// Target is Edit.Target.
	Target string `json:"target"`
	// Old and New are the values before and after (Edit.Value's form).
	Old string `json:"old"`
	New string `json:"new"`
}

// DefaultChangesKept is how many changes a ChangeLog (and the fleet's
// record in etcd) keeps.
const DefaultChangesKept = 1000

// ChangeLog keeps the most recent changes in memory, for an instance
// without a cluster. It is safe for concurrent use.
type ChangeLog struct {
	mu      sync.Mutex
	max     int
	changes []Change
}

// NewChangeLog returns a log of at most max changes (DefaultChangesKept
// when max is not positive).
func NewChangeLog(max int) *ChangeLog {
	if max <= 0 {
		max = DefaultChangesKept
	}
	return &ChangeLog{max: max}
}

// Add records c, dropping the oldest change when the log is full.
func (l *ChangeLog) Add(c Change) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.changes) == l.max {
		l.changes = slices.Delete(l.changes, 0, 1)
	}
	l.changes = append(l.changes, c)
}

// Recent returns up to n changes, newest first (every one kept for n <= 0).
func (l *ChangeLog) Recent(n int) []Change {
	l.mu.Lock()
	defer l.mu.Unlock()
	if n <= 0 || n > len(l.changes) {
		n = len(l.changes)
	}
	out := make([]Change, 0, n)
	for i := len(l.changes) - 1; i >= 0 && len(out) < n; i-- {
		out = append(out, l.changes[i])
	}
	return out
}
