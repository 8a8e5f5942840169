package healthcheck

import (
	"errors"
	"testing"
	"time"
)

func TestHealthObserve(t *testing.T) {
	ok := Result{OK: true, Latency: time.Millisecond, Load: -1}
	fail := Result{Err: errors.New("connection refused"), Load: -1}
	tests := []struct {
		name       string
		rise, fall int
		results    []Result
		// states is the state after each result.
		states []State
	}{
		{
			name: "first success decides at once",
			rise: 3, fall: 3,
			results: []Result{ok},
			states:  []State{StateUp},
		},
		{
			name: "first failure decides at once",
			rise: 3, fall: 3,
			results: []Result{fail},
			states:  []State{StateDown},
		},
		{
			name: "fall consecutive failures take it down",
			rise: 2, fall: 3,
			results: []Result{ok, fail, fail, fail, fail},
			states:  []State{StateUp, StateUp, StateUp, StateDown, StateDown},
		},
		{
			name: "a success resets the failure count",
			rise: 2, fall: 3,
			results: []Result{ok, fail, fail, ok, fail, fail, fail},
			states:  []State{StateUp, StateUp, StateUp, StateUp, StateUp, StateUp, StateDown},
		},
		{
			name: "rise consecutive successes bring it up",
			rise: 2, fall: 3,
			results: []Result{fail, ok, fail, ok, ok, ok},
			states:  []State{StateDown, StateDown, StateDown, StateDown, StateUp, StateUp},
		},
		{
			name: "flapping around the thresholds",
			rise: 2, fall: 2,
			results: []Result{ok, fail, ok, fail, fail, ok, fail, ok, ok, fail, fail},
			states: []State{StateUp, StateUp, StateUp, StateUp, StateDown, StateDown, StateDown, StateDown,
				StateUp, StateUp, StateDown},
		},
		{
			name: "rise and fall of one follow every result",
			rise: 1, fall: 1,
			results: []Result{ok, fail, ok, ok, fail},
			states:  []State{StateUp, StateDown, StateUp, StateUp, StateDown},
		},
		{
			name: "counts before a transition do not carry over",
			rise: 2, fall: 2,
			// The success just before going down must not count toward
			// rising again.
			results: []Result{fail, ok, ok, fail, fail, ok, fail, ok},
			states:  []State{StateDown, StateDown, StateUp, StateUp, StateDown, StateDown, StateDown, StateDown},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Unix(1000, 0)
			h := newHealth(start)
			transitions := 0
			for i, r := range tc.results {
				at := start.Add(time.Duration(i+1) * time.Second)
				prev := h
				h = prev.observe(r, at, tc.rise, tc.fall)
				if h.state != tc.states[i] {
					t.Fatalf("after result %d: state %s, want %s", i, h.state, tc.states[i])
				}
				if h.state != prev.state {
					transitions++
					if !h.since.Equal(at) {
						t.Errorf("after result %d: since %v, want %v", i, h.since, at)
					}
				} else if !h.since.Equal(prev.since) {
					t.Errorf("after result %d: since moved without a transition", i)
				}
				if !h.lastProbe.Equal(at) {
					t.Errorf("after result %d: lastProbe %v, want %v", i, h.lastProbe, at)
				}
			}
			if h.transitions != transitions {
				t.Errorf("transitions = %d, want %d", h.transitions, transitions)
			}
		})
	}
}

func TestHealthObserveIsPure(t *testing.T) {
	h := newHealth(time.Unix(0, 0))
	next := h.observe(Result{OK: true, Latency: time.Millisecond, Load: 0.5}, time.Unix(1, 0), 2, 3)
	if h.state != StateUnknown || h.probed || h.load != -1 {
		t.Errorf("observe changed its receiver: %+v", h)
	}
	if next.state != StateUp || !next.probed || next.load != 0.5 {
		t.Errorf("observe result = %+v", next)
	}
}

func TestHealthLatencyEWMA(t *testing.T) {
	tests := []struct {
		name    string
		results []Result
		want    time.Duration
	}{
		{"no success", []Result{{Err: errors.New("x")}}, 0},
		{"first sample is taken as is", []Result{{OK: true, Latency: 10 * time.Millisecond}}, 10 * time.Millisecond},
		{"alpha 0.3", []Result{
			{OK: true, Latency: 10 * time.Millisecond},
			{OK: true, Latency: 20 * time.Millisecond},
		}, 13 * time.Millisecond},
		{"three samples", []Result{
			{OK: true, Latency: 10 * time.Millisecond},
			{OK: true, Latency: 20 * time.Millisecond},
			{OK: true, Latency: 20 * time.Millisecond},
		}, 15100 * time.Microsecond},
		{"failures do not count", []Result{
			{OK: true, Latency: 10 * time.Millisecond},
			{Err: errors.New("timeout"), Latency: 2 * time.Second},
			{OK: true, Latency: 20 * time.Millisecond},
		}, 13 * time.Millisecond},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHealth(time.Unix(0, 0))
			for i, r := range tc.results {
				h = h.observe(r, time.Unix(int64(i+1), 0), 2, 3)
			}
			if diff := h.status().Latency - tc.want; diff < -time.Microsecond || diff > time.Microsecond {
				t.Errorf("latency = %v, want %v", h.status().Latency, tc.want)
			}
		})
	}
}

func TestHealthStatusFields(t *testing.T) {
	h := newHealth(time.Unix(0, 0))
	h = h.observe(Result{OK: true, Latency: time.Millisecond, Load: 0.25}, time.Unix(1, 0), 2, 3)
	h = h.observe(Result{Err: errors.New("status 503, want 200-399"), Load: -1}, time.Unix(2, 0), 2, 3)
	got := h.status()
	want := EndpointStatus{
		State: StateUp, Latency: time.Millisecond, Load: -1, LastError: "status 503, want 200-399",
		LastProbe: time.Unix(2, 0), Since: time.Unix(1, 0), Transitions: 1,
	}
	if got != want {
		t.Errorf("status = %+v, want %+v", got, want)
	}
}
