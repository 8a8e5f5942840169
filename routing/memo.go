package routing

import (
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
// a remembered decision is whole, its ECS scope included, and is handed
// out as it is.
//
// A Memo starts small and grows with the locations it is asked about: when
// new decisions have replaced a quarter of its slots' worth of others, it
// moves to a table four times larger, up to memoMaxBits. A GeoIP database
// of many networks, whose clients keep coming back, then finds its
// decisions remembered as a database of a few does. The zero Memo is
// empty and takes one word until it remembers a decision.
type Memo struct {
	table atomic.Pointer[memoTable]
}

// memoTable is a Memo's slots.
type memoTable struct {
	bits  uint8 // len(slots) is 1<<bits
	slots []atomic.Pointer[memoEntry]
	// replaced counts the decisions stored over another key's.
	replaced atomic.Int64
}

const (
	// memoMinBits and memoMaxBits bound a Memo's slots: from 1,024
	// (8 KiB) to 65,536 (512 KiB, and the decisions they hold, about
	// 200 bytes each).
	memoMinBits = 10
	memoMaxBits = 16
	// memoWays is how many slots from its own a decision may take, so
	// that two keys that pick one slot do not keep replacing each other.
	memoWays = 4
)

func newMemoTable(bits uint8) *memoTable {
	return &memoTable{bits: bits, slots: make([]atomic.Pointer[memoEntry], 1<<bits)}
}

type memoEntry struct {
	s          *zones.Service
	loc        *geo.Location
	qtype      uint16
	sourceBits int16 // the client's, -1 without ECS
	version    uint64
	d          Decision
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

// DecideMemo is Decide (without explaining) for the DNS path. It returns
// the decision m remembers for the service, the client's location and
// source prefix and the health of this moment, which is shared and must
// not be modified; otherwise it makes the decision in d (a Decision is a
// few hundred bytes, which returning it would copy), remembers a copy in
// m and returns d. m must be used for the services of one zone snapshot;
// a nil m remembers nothing.
func (r *Router) DecideMemo(d *Decision, m *Memo, s *zones.Service, qtype uint16, c Client) *Decision {
	loc, hv := r.locate(c), r.view()
	v, ok := hv.(Versioned)
	if m == nil || !ok || !memoizable(s) {
		r.decideWith(hv, d, s, qtype, c, loc, false)
		return d
	}
	// Source prefixes from 128 up hold every scope alike, as do all
	// negative ones (no ECS).
	key := memoEntry{s: s, loc: loc, qtype: qtype, sourceBits: int16(min(max(c.SourceBits, -1), 128)), version: v.Version()}
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
		return &e.d
	}
	r.decideWith(hv, d, s, qtype, c, loc, false)
	e = new(memoEntry)
	*e = key
	e.d = *d
	table.slots[put].Store(e)
	if replacing && table.replaced.Add(1) == int64(len(table.slots)/4) && table.bits < memoMaxBits {
		m.grow(table)
	}
	return d
}

// find returns key's entry in t, when t holds it with key's version;
// otherwise the slot to store it in, and whether that slot holds another
// key's entry.
func (t *memoTable) find(key *memoEntry) (e *memoEntry, put int, replacing bool) {
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

// slot picks the home slot of e's key in a table of 1<<bits slots, from
// the addresses of its service and location.
func (e *memoEntry) slot(bits uint8) int {
	p := uint64(uintptr(unsafe.Pointer(e.loc)))>>4 ^ uint64(uintptr(unsafe.Pointer(e.s)))<<7 ^
		uint64(e.qtype)<<48 ^ uint64(uint16(e.sourceBits))<<32
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
		if _, put, replacing := t.find(e); !replacing {
			t.slots[put].Store(e)
		}
	}
	m.table.CompareAndSwap(old, t)
}
