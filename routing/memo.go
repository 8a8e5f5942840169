package routing

import (
	"slices"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/meridian-dns/meridian/geo"
	"github.com/meridian-dns/meridian/zones"
)

// Memo remembers services' decisions by service, query type, client
// location, ECS source prefix length and health version, so that the many
// queries from the clients of one GeoIP network take the decision made
// for the first of them instead of making it again. The DNS path keeps one
// per zone snapshot, in the snapshot's answer cache: a Memo never outlives
// the zone data it remembers. It is safe for concurrent use.
//
// Only decisions that are the same for every client of a location and
// every read of one health version are remembered: services routed to
// the nearest region or by a failover list (not drawn by weight), that
// answer every endpoint, the first ones or the fastest (not drawn, hashed
// or rotated), in zones that map no client network (which would make the
// region depend on the address). Keyed by the source prefix length too,
// an entry knows its ECS scope: a decision is handed out as the shared
// answer with the entry's location and scope.
//
// A Memo starts small and grows with the locations it is asked about: when
// new decisions have replaced a quarter of its slots' worth of others, it
// moves to a table four times larger, up to memoMaxBits. A GeoIP database
// of many networks, whose clients keep coming back, then finds its
// decisions remembered as a database of a few does. The zero Memo is
// empty and takes one word until it remembers a decision.
type Memo struct {
	table atomic.Pointer[memoTable]
	// shared holds the distinct decisions the entries point to, each
	// without a location or scope: the many locations given one answer
	// share one copy of it, which stays in the CPU's cache, and an entry
	// is one cache line. Guarded by mu; used only to remember.
	mu     sync.Mutex
	shared map[sharedKey][]*Decision
}

// sharedKey sorts shared decisions: those with one key are told apart by
// sameAnswer.
type sharedKey struct {
	s                 *zones.Service
	preferred, region *zones.Region
	first             *zones.Endpoint
	endpoints         int
	ttl               uint32
	rule              string
}

// maxShared bounds a Memo's shared decisions; past it they start afresh
// (entries keep the ones they point to).
const maxShared = 4096

// memoTable is a Memo's slots.
type memoTable struct {
	bits  uint8 // len(slots) is 1<<bits
	slots []atomic.Pointer[memoEntry]
	// replaced counts the decisions stored over another key's.
	replaced atomic.Int64
}

const (
	// memoMinBits and memoMaxBits bound a Memo's slots: from 1,024
	// (8 KiB) to 65,536 (512 KiB, and an entry of 64 bytes for each
	// decision they hold).
	memoMinBits = 10
	memoMaxBits = 16
	// memoWays is how many slots from its own a decision may take, so
	// that two keys that pick one slot do not keep replacing each other.
	memoWays = 4
)

func newMemoTable(bits uint8) *memoTable {
	return &memoTable{bits: bits, slots: make([]atomic.Pointer[memoEntry], 1<<bits)}
}

// memoEntry is a remembered decision: its key, the shared decision and
// the key's scope. It is one cache line (an allocation size class of 64
// bytes starts one).
type memoEntry struct {
	memoKey
	d     *Decision // shared: its Location and Scope are another's
	scope int
	_     [64 - unsafe.Sizeof(memoKey{}) - 16]byte
}

// memoKey is what a remembered decision is for.
type memoKey struct {
	s          *zones.Service
	loc        *geo.Location
	qtype      uint16
	sourceBits int16 // the client's, -1 without ECS
	version    uint64
}

// A Versioned Health numbers its snapshots: two snapshots with the same
// version give every endpoint the same state. Decisions are remembered
// only with a Versioned Health.
type Versioned interface {
	Version() uint64
}

// Version is 0: AllUp never changes.
func (AllUp) Version() uint64 { return 0 }

// memoizable reports whether s's decisions for a client depend only on
// its location and the health read.
func memoizable(s *zones.Service) bool {
	switch s.Select {
	case zones.SelectAll, zones.SelectFirst, zones.SelectFastest:
	default:
		return false
	}
	return s.Routing != zones.RouteWeighted && !s.Zone.HasNetworks()
}

// DecideMemo is Decide (without explaining) for the DNS path: it writes
// the decision into d (a Decision is a few hundred bytes, which returning
// it would copy), from what m remembers for the service, the client's
// location and source prefix and the health of this moment, or else made
// afresh and remembered in m. m must be used for the services of one zone
// snapshot; a nil m remembers nothing.
func (r *Router) DecideMemo(d *Decision, m *Memo, s *zones.Service, qtype uint16, c Client) {
	loc, hv := r.locate(c), r.view()
	v, ok := hv.(Versioned)
	if m == nil || !ok || !memoizable(s) {
		r.decideWith(hv, d, s, qtype, c, loc, false)
		return
	}
	// Source prefixes from 128 up hold every scope alike, as do all
	// negative ones (no ECS).
	key := memoKey{s: s, loc: loc, qtype: qtype, sourceBits: int16(min(max(c.SourceBits, -1), 128)), version: v.Version()}
	table := m.table.Load()
	if table == nil {
		m.table.CompareAndSwap(nil, newMemoTable(memoMinBits))
		table = m.table.Load()
	}
	// A decision is in one of memoWays slots from the one its key picks;
	// a new one goes in the first of them that is empty or holds its key
	// (with another version), else over the first.
	e, put, replacing := table.find(&key)
	if e != nil {
		*d = *e.d
		d.Location, d.Scope = loc, e.scope
		return
	}
	r.decideWith(hv, d, s, qtype, c, loc, false)
	table.slots[put].Store(&memoEntry{memoKey: key, d: m.share(s, d), scope: d.Scope})
	if replacing && table.replaced.Add(1) == int64(len(table.slots)/4) && table.bits < memoMaxBits {
		m.grow(table)
	}
}

// share returns m's shared copy of d's answer, made when m has none.
func (m *Memo) share(s *zones.Service, d *Decision) *Decision {
	k := sharedKey{s: s, preferred: d.Preferred, region: d.Region, endpoints: len(d.Endpoints), ttl: d.TTL, rule: d.Rule}
	if len(d.Endpoints) > 0 {
		k.first = d.Endpoints[0]
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, sd := range m.shared[k] {
		if sameAnswer(sd, d) {
			return sd
		}
	}
	if m.shared == nil || len(m.shared) >= maxShared {
		m.shared = map[sharedKey][]*Decision{}
	}
	sd := new(Decision)
	*sd = *d
	sd.Location, sd.Scope = nil, 0
	m.shared[k] = append(m.shared[k], sd)
	return sd
}

// sameAnswer reports whether a and b, decisions made without explaining,
// are the same but for their location and scope.
func sameAnswer(a, b *Decision) bool {
	return a.Rule == b.Rule && a.Network == b.Network && a.Preferred == b.Preferred && a.Region == b.Region &&
		slices.Equal(a.Endpoints, b.Endpoints) && a.TTL == b.TTL && a.Degraded == b.Degraded &&
		a.AllDown == b.AllDown && a.NoData == b.NoData && len(a.Candidates)+len(b.Candidates) == 0 &&
		len(a.HealthNotes)+len(b.HealthNotes) == 0
}

// find returns key's entry in t, when t holds it with key's version;
// otherwise the slot to store it in, and whether that slot holds another
// key's entry.
func (t *memoTable) find(key *memoKey) (e *memoEntry, put int, replacing bool) {
	mask := len(t.slots) - 1
	home := key.slot(t.bits)
	for i := range memoWays {
		slot := (home + i) & mask
		e := t.slots[slot].Load()
		if e == nil {
			return nil, slot, false
		}
		if e.s == key.s && e.loc == key.loc && e.qtype == key.qtype && e.sourceBits == key.sourceBits {
			if e.version == key.version {
				return e, slot, false
			}
			return nil, slot, false
		}
	}
	return nil, home, true
}

// slot picks the home slot of key k in a table of 1<<bits slots, from the
// addresses of its service and location.
func (k *memoKey) slot(bits uint8) int {
	p := uint64(uintptr(unsafe.Pointer(k.loc)))>>4 ^ uint64(uintptr(unsafe.Pointer(k.s)))<<7 ^
		uint64(k.qtype)<<48 ^ uint64(uint16(k.sourceBits))<<32
	return int(p * 0x9e3779b97f4a7c15 >> (64 - bits))
}

// grow moves m from old to a table four times larger, with the decisions
// old holds that find room there. Queries meanwhile keep using old; of
// two goroutines growing it at once, one table wins.
func (m *Memo) grow(old *memoTable) {
	t := newMemoTable(min(old.bits+2, memoMaxBits))
	for i := range old.slots {
		e := old.slots[i].Load()
		if e == nil {
			continue
		}
		if _, put, replacing := t.find(&e.memoKey); !replacing {
			t.slots[put].Store(e)
		}
	}
	m.table.CompareAndSwap(old, t)
}
