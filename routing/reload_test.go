package routing

import (
	"net/netip"
	"runtime"
	"testing"
	"weak"

	"github.com/miekg/dns"

	"github.com/meridian-dns/meridian/zones"
)

// TestReloadsDoNotPinSnapshots answers a round robin service from 1,000
// successive snapshots through one long-lived router, as a server does
// across reloads. The router's selection state must not keep any old
// snapshot alive: every old service is collected and the heap stays flat
// (a counter keyed by *zones.Service once pinned every zone ever served).
func TestReloadsDoNotPinSnapshots(t *testing.T) {
	const reloads = 1000
	// One zone, loaded once: a fresh copy per "reload" keeps the test fast
	// while every copy is a distinct snapshot, as after a real reload.
	body := testRegions + testServices
	r := New(nil, nil)
	client := Client{Addr: netip.MustParseAddr("192.0.2.1"), SourceBits: -1}
	var old []weak.Pointer[zones.Service]
	var heapAt100 uint64
	for i := range reloads {
		z := loadZone(t, body)
		s := z.Service("sel-rr.example.com.")
		if s == nil {
			t.Fatal("no service sel-rr")
		}
		if d := r.Decide(s, dns.TypeA, client, false); len(d.Endpoints) != 1 {
			t.Fatalf("reload %d: %d endpoints", i, len(d.Endpoints))
		}
		old = append(old, weak.Make(s))
		if i == 99 {
			heapAt100 = heapInUse()
		}
	}
	heapAt1000 := heapInUse()
	alive := 0
	for _, w := range old {
		if w.Value() != nil {
			alive++
		}
	}
	// The last snapshot may still be on the stack; no other may survive.
	if alive > 1 {
		t.Errorf("%d of %d old snapshots' services are still reachable after a collection", alive, reloads)
	}
	t.Logf("heap in use after 100 reloads %d KB, after 1,000 %d KB", heapAt100>>10, heapAt1000>>10)
	if heapAt1000 > heapAt100+4<<20 {
		t.Errorf("heap grew from %d KB after 100 reloads to %d KB after 1,000", heapAt100>>10, heapAt1000>>10)
	}
}

// heapInUse returns the bytes of live heap after a full collection.
func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}
