package cluster

import (
	"io"
	"log/slog"
	"math/rand/v2"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/meridian-dns/meridian/healthcheck"
	"github.com/meridian-dns/meridian/healthcheck/check"
)

// offlineMember returns a member that never contacts etcd: the test feeds
// its tables as the etcd goroutine would.
func offlineMember(t *testing.T, name string, f *fakeChecker, observers int) *Member {
	t.Helper()
	m, err := New(Options{
		Connection: Connection{Endpoints: []string{"http://127.0.0.1:1"}, Prefix: "/p/"},
		Instance:   name,
		Rule:       Majority,
		Observers:  observers,
		LeaseTTL:   time.Hour,
		Logger:     slog.New(slog.NewTextHandler(io.Discard, nil)),
		Own:        f.Status,
	})
	if err != nil {
		t.Fatal(err)
	}
	if observers > 0 {
		m.opts.SetProbeFilter = f.SetProbeFilter
	}
	return m
}

func putEvent(key string, value []byte) *clientv3.Event {
	return &clientv3.Event{Type: mvccpb.PUT, Kv: &mvccpb.KeyValue{Key: []byte(key), Value: value}}
}

func deleteEvent(key string) *clientv3.Event {
	return &clientv3.Event{Type: mvccpb.DELETE, Kv: &mvccpb.KeyValue{Key: []byte(key)}}
}

func registration(inst string) *clientv3.Event {
	return putEvent("/p/"+instancesDir+inst, Instance{Version: "test", Started: time.Now()}.Marshal())
}

// TestIncrementalVerdictsMatchFull: after each random step (others'
// observations put and deleted, instances coming and going, this
// instance's own view changing), the verdicts decide worked out from
// what changed are those a decision over every target gives, and so is
// the disagreement count.
func TestIncrementalVerdictsMatchFull(t *testing.T) {
	keys := testKeys(30)
	f := newFakeChecker(keys)
	m := offlineMember(t, "a", f, 0)
	m.apply([]*clientv3.Event{registration("a"), registration("b"), registration("c"), registration("d")})
	m.decide()

	rng := rand.New(rand.NewPCG(7, 13))
	states := []healthcheck.State{up, down}
	others := []string{"b", "c", "d", "e"} // e is not registered at first
	incremental := 0
	for step := range 2000 {
		var events []*clientv3.Event
		switch r := rng.IntN(100); {
		case r < 3:
			f.see(keys[rng.IntN(len(keys))], states[rng.IntN(2)])
		case r < 5:
			inst := others[rng.IntN(len(others))]
			if rng.IntN(2) == 0 {
				events = append(events, registration(inst))
			} else {
				events = append(events, deleteEvent("/p/"+instancesDir+inst))
			}
		default:
			for range 1 + rng.IntN(4) {
				inst, k := others[rng.IntN(len(others))], keys[rng.IntN(len(keys))]
				key := "/p/" + healthDir + inst + "/" + k.ID()
				switch rng.IntN(5) {
				case 0:
					events = append(events, deleteEvent(key))
				case 1:
					events = append(events, putEvent(key, []byte("not an observation")))
				default:
					o := Observation{State: states[rng.IntN(2)], Since: time.Unix(int64(step), 0)}
					events = append(events, putEvent(key, o.Marshal()))
				}
			}
		}
		m.mu.Lock()
		all := m.allChanged
		m.mu.Unlock()
		if len(events) > 0 {
			m.apply(events)
		}
		m.mu.Lock()
		if !all && !m.allChanged && f.Status() == m.lastOwn {
			incremental++
		}
		m.mu.Unlock()
		m.decide()
		got, gotDisagree := snapshot(m.Health()), m.disagreements.Load()

		m.mu.Lock()
		m.version++
		m.allChanged = true
		m.mu.Unlock()
		m.decide()
		want, wantDisagree := snapshot(m.Health()), m.disagreements.Load()
		if len(got) != len(want) {
			t.Fatalf("step %d: %d verdicts, a full decision has %d", step, len(got), len(want))
		}
		for k, w := range want {
			if got[k] != w {
				t.Fatalf("step %d: %s: verdict %+v, a full decision says %+v", step, k, got[k], w)
			}
		}
		if gotDisagree != wantDisagree {
			t.Fatalf("step %d: %d disagreements, a full decision counts %d", step, gotDisagree, wantDisagree)
		}
	}
	if incremental < 1000 {
		t.Errorf("only %d of 2000 steps took the incremental path", incremental)
	}
	if m.disagreementsTotal.Load() == 0 {
		t.Error("no step made the fleet disagree with this instance: the walk tested little")
	}
}

func snapshot(s *healthcheck.StatusMap) map[check.Key]healthcheck.EndpointStatus {
	out := map[check.Key]healthcheck.EndpointStatus{}
	for k, st := range s.All() {
		out[k] = st
	}
	return out
}

// TestPublishesOnlyItsShare: out of contact with etcd a member probes
// every target for its own verdicts, but the observations it hands to
// the etcd goroutine are only its share among the live instances it
// knows; and it moves to a new share only once the live set has held
// for shareSettle.
func TestPublishesOnlyItsShare(t *testing.T) {
	keys := testKeys(60)
	f := newFakeChecker(keys)
	m := offlineMember(t, "b", f, 1)
	m.apply([]*clientv3.Event{registration("a"), registration("b"), registration("c")})
	m.mu.Lock()
	m.lastContact = time.Time{} // out of contact: probe everything
	m.mu.Unlock()

	// The live set just changed: nothing is published for it yet.
	m.decide()
	for _, k := range keys {
		if !f.probes(k) {
			t.Fatalf("out of contact, %s is not probed", k)
		}
	}
	m.mu.Lock()
	if m.ownLive == liveKey([]string{"a", "b", "c"}) {
		t.Error("observations worked out for a live set that has not settled")
	}
	m.mu.Unlock()

	m.knownSince = time.Now().Add(-shareSettle)
	m.mu.Lock()
	m.version++
	m.mu.Unlock()
	m.decide()
	m.mu.Lock()
	own, ownLive := m.ownObs, m.ownLive
	m.mu.Unlock()
	if ownLive != liveKey([]string{"a", "b", "c"}) {
		t.Fatalf("observations worked out for %q", ownLive)
	}
	want := 0
	for _, k := range keys {
		mine := Observers(k.ID(), []string{"a", "b", "c"}, 1)[0] == "b"
		if _, published := own[k.ID()]; published != mine {
			t.Errorf("%s: published %v, b observes it %v", k, published, mine)
		}
		if mine {
			want++
		}
	}
	if want == 0 || want == len(keys) {
		t.Fatalf("b observes %d of %d targets: the test needs a share", want, len(keys))
	}
	if int(m.observing.Load()) != len(keys) {
		t.Errorf("observing %d targets, want all %d while out of contact", m.observing.Load(), len(keys))
	}
}
