package routing

import (
	"sync/atomic"
	"unsafe"

	"github.com/meridian-dns/meridian/geo"
	"github.com/meridian-dns/meridian/zones"
)

// Memo remembers a service's decisions by query type, client location,
// ECS source prefix length and health version, so that the many queries from the clients
// of one GeoIP network take the decision made for the first of them
// instead of making it again. The DNS path keeps one per cached service
// question, in the answer cache of the snapshot the service belongs to:
// a Memo never outlives the zone data it remembers. It is safe for
// concurrent use.
//
// Only decisions that are the same for every client of a location and
// every read of one health version are remembered: services routed to
// the nearest region or by a failover list (not drawn by weight), that
// answer every endpoint, the first ones or the fastest (not drawn, hashed
// or rotated), in zones that map no client network (which would make the
// region depend on the address). Keyed by the source prefix length too,
// a remembered decision is whole, its ECS scope included, and is handed out
// as it is. The zero Memo is empty and takes one word until it remembers a
// decision.
type Memo struct {
	table atomic.Pointer[memoTable]
}

// memoTable is a Memo's slots, made with its first decision.
type memoTable [memoSlots]atomic.Pointer[memoEntry]

// A Memo holds memoSlots decisions, one per slot.
const (
	memoBits  = 7
	memoSlots = 1 << memoBits
	// memoWays is how many slots from its own a location's decision may
	// take, so that two locations whose addresses pick one slot do not
	// keep replacing each other.
	memoWays = 4
)

type memoEntry struct {
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
// the decision m remembers for the client's location and source prefix
// and the health of this moment, which is shared and must not be
// modified; otherwise it makes the decision in d (a Decision is a few
// hundred bytes, which returning it would copy), remembers a copy in m
// and returns d. m must be used for s alone; a nil m remembers nothing.
func (r *Router) DecideMemo(d *Decision, m *Memo, s *zones.Service, qtype uint16, c Client) *Decision {
	loc, hv := r.locate(c), r.view()
	v, ok := hv.(Versioned)
	if m == nil || !ok || !memoizable(s) {
		r.decideWith(hv, d, s, qtype, c, loc, false)
		return d
	}
	// Source prefixes from 128 up hold every scope alike, as do all
	// negative ones (no ECS).
	sourceBits := int16(min(max(c.SourceBits, -1), 128))
	version := v.Version()
	// A location's decision is in one of memoWays slots from the one its
	// address picks; a new one goes in the first of them that is empty or
	// holds this location, else in the first.
	table := m.table.Load()
	if table == nil {
		m.table.CompareAndSwap(nil, new(memoTable))
		table = m.table.Load()
	}
	home := memoSlot(loc, qtype, sourceBits)
	put := home
	for i := range memoWays {
		slot := (home + i) & (memoSlots - 1)
		e := table[slot].Load()
		if e == nil {
			put = slot
			break
		}
		if e.loc == loc && e.qtype == qtype && e.sourceBits == sourceBits {
			if e.version == version {
				return &e.d
			}
			put = slot
			break
		}
	}
	r.decideWith(hv, d, s, qtype, c, loc, false)
	table[put].Store(&memoEntry{loc: loc, qtype: qtype, sourceBits: sourceBits, version: version, d: *d})
	return d
}

// memoSlot picks the slot of a location's decisions for qtype and a
// source prefix length from its address.
func memoSlot(loc *geo.Location, qtype uint16, sourceBits int16) int {
	p := uint64(uintptr(unsafe.Pointer(loc)))>>4 ^ uint64(qtype)<<48 ^ uint64(uint16(sourceBits))<<32
	return int(p * 0x9e3779b97f4a7c15 >> (64 - memoBits))
}
