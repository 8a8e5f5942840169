package healthcheck

import (
	"fmt"
	"time"
)

// State is the health of a target as the checks see it.
type State uint8

// The states a target moves through. Every target starts Unknown; its first
// probe result moves it to Up or Down, and from then on the rise and fall
// counts move it between the two.
const (
	StateUnknown State = iota
	StateUp
	StateDown
)

// String returns "unknown", "up" or "down".
func (s State) String() string {
	switch s {
	case StateUnknown:
		return "unknown"
	case StateUp:
		return "up"
	case StateDown:
		return "down"
	default:
		return fmt.Sprintf("state(%d)", uint8(s))
	}
}

// latencyAlpha is the weight of a new sample in the smoothed latency.
const latencyAlpha = 0.3

// health is what the manager remembers about one target. It is a value:
// observe returns a new one and never changes its receiver.
type health struct {
	state State
	// successes and failures count the current run of equal results.
	successes, failures int

	latency     time.Duration // EWMA of successful probes
	sampled     bool          // whether latency holds a sample yet
	load        float64
	lastErr     string
	lastProbe   time.Time
	since       time.Time
	transitions int
	probed      bool
}

// newHealth returns the state of a target added at the given time.
func newHealth(at time.Time) health {
	return health{state: StateUnknown, load: -1, since: at}
}

// observe returns h after result r arrived at time at, for a check with the
// given rise and fall counts. The first result decides the state at once;
// afterwards rise consecutive successes bring a down target up and fall
// consecutive failures take an up target down.
func (h health) observe(r Result, at time.Time, rise, fall int) health {
	h.probed = true
	h.lastProbe = at
	h.load = r.Load
	if r.OK {
		h.successes++
		h.failures = 0
		h.lastErr = ""
		if h.sampled {
			h.latency = time.Duration(latencyAlpha*float64(r.Latency) + (1-latencyAlpha)*float64(h.latency))
		} else {
			h.latency = r.Latency
			h.sampled = true
		}
	} else {
		h.failures++
		h.successes = 0
		h.lastErr = "unknown error"
		if r.Err != nil {
			// runProbe sanitised the error already; a Result made
			// elsewhere is held to the same bound.
			h.lastErr = sanitizeDetail(r.Err.Error())
		}
	}

	next := h.state
	switch {
	case h.state == StateUnknown && r.OK:
		next = StateUp
	case h.state == StateUnknown:
		next = StateDown
	case h.state == StateDown && h.successes >= rise:
		next = StateUp
	case h.state == StateUp && h.failures >= fall:
		next = StateDown
	}
	if next != h.state {
		h.state = next
		h.since = at
		h.transitions++
		h.successes, h.failures = 0, 0
	}
	return h
}

// status returns the published view of h.
func (h health) status() EndpointStatus {
	return EndpointStatus{
		State:       h.state,
		Latency:     h.latency,
		Load:        h.load,
		LastError:   h.lastErr,
		LastProbe:   h.lastProbe,
		Since:       h.since,
		Transitions: h.transitions,
	}
}
