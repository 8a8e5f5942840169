package healthcheck

import (
	"iter"
	"time"

	"github.com/meridian-dns/meridian/healthcheck/check"
)

// EndpointStatus is the published health of one target.
type EndpointStatus struct {
	State State
	// Latency is the smoothed (EWMA, alpha 0.3) latency of successful
	// probes, 0 before the first success.
	Latency time.Duration
	// Load is the load the last probe reported (0..1), or -1 for none.
	Load float64
	// LastError is why the last probe failed, empty after a success. It
	// may quote the target, so it is sanitised: printable UTF-8 of at most
	// MaxDetailBytes.
	LastError string
	// LastProbe is when the last result arrived, zero before the first.
	LastProbe time.Time
	// Since is when the target entered State (when it was added, while
	// Unknown).
	Since time.Time
	// Transitions counts the state changes since the target was added,
	// the first result's included.
	Transitions int
}

// StatusMap is an immutable snapshot of the health of every target. The
// Manager publishes a new one whenever something changes; readers keep the
// one they loaded for as long as they need a consistent view.
type StatusMap struct {
	entries map[check.Key]EndpointStatus
}

// NewStatusMap returns a map holding entries, which it keeps: the caller
// must not change entries afterwards. The Manager builds its own maps; this
// is for a health source that derives one, such as a fleet's verdicts.
func NewStatusMap(entries map[check.Key]EndpointStatus) *StatusMap {
	if entries == nil {
		entries = map[check.Key]EndpointStatus{}
	}
	return &StatusMap{entries: entries}
}

// Get returns the status of the target with key k. It reports false for a
// key the Manager does not probe. A nil map holds nothing.
func (m *StatusMap) Get(k check.Key) (EndpointStatus, bool) {
	if m == nil {
		return EndpointStatus{}, false
	}
	s, ok := m.entries[k]
	return s, ok
}

// Len returns the number of targets in the map.
func (m *StatusMap) Len() int {
	if m == nil {
		return 0
	}
	return len(m.entries)
}

// All yields every target's key and status, in no particular order.
func (m *StatusMap) All() iter.Seq2[check.Key, EndpointStatus] {
	return func(yield func(check.Key, EndpointStatus) bool) {
		if m == nil {
			return
		}
		for k, s := range m.entries {
			if !yield(k, s) {
				return
			}
		}
	}
}
