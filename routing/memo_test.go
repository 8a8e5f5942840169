package routing

import (
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/miekg/dns"

	"github.com/meridian-dns/meridian/geo"
	"github.com/meridian-dns/meridian/zones"
)

// memoZone is the test regions without their networks entries (which
// keep decisions from being remembered), and services of every kind: some
// whose decisions depend only on the client's location and the health,
// and some that draw, hash or rotate.
func memoZone(t testing.TB, withNetworks bool) *zones.Zone {
	regions := testRegions
	if !withNetworks {
		regions = strings.Replace(testRegions, `networks: [203.0.113.0/24, 20.6.7.0/24, "2001:db8:ff::/48"], `, "", 1)
		if regions == testRegions {
			t.Fatal("the test regions' networks entry moved")
		}
	}
	var b strings.Builder
	b.WriteString(regions + "services:\n")
	for _, svc := range [][]string{
		{"nearest-all", "select: all", "ttl: 60", "degraded_ttl: 10"},
		{"nearest-first", "select: first", "answers: 2", "fallback: [sa-east]"},
		{"nearest-fastest", "select: fastest", "answers: 2", "all_down: nodata"},
		{"failover-all", "routing: failover", "fallback: [eu-west, ap-south, us-east]", "select: all"},
		{"fallback-first", "select: first", "all_down: fallback", `fallback_addresses: [192.0.2.99, "2001:db8::99"]`},
		{"hashed", "select: hash", "answers: 2"},
		{"rotating", "select: round_robin"},
		{"drawn", "routing: weighted", "select: all"},
	} {
		b.WriteString("  " + svc[0] + ":\n")
		for _, field := range svc[1:] {
			b.WriteString("    " + field + "\n")
		}
		b.WriteString("    endpoints:\n")
		for i, region := range []string{"us-east", "us-east", "us-east", "eu-west", "eu-west", "ap-south", "sa-east", "sa-east"} {
			b.WriteString("      - { region: " + region + ", address: 192.0.2." + itoa(i+1) + ", weight: " + itoa(i%3) + " }\n")
			b.WriteString("      - { region: " + region + ", address: \"2001:db8::" + itoa(i+1) + "\" }\n")
		}
	}
	return loadZone(t, b.String())
}

// versioned is a Health whose states change only with its version.
type versioned struct {
	down, drained map[*zones.Endpoint]bool
	latency       map[*zones.Endpoint]float64
	version       uint64
}

func (h *versioned) Endpoint(ep *zones.Endpoint) EndpointState {
	return EndpointState{Up: !h.down[ep], Drained: h.drained[ep], Latency: h.latency[ep], Load: -1}
}

func (*versioned) MinHealthy(*zones.Service, int) int { return 1 }

func (h *versioned) Version() uint64 { return h.version }

// remembers reports whether m holds the decision r would make for s, qtype
// and c under the health version.
func remembers(r *Router, m *Memo, s *zones.Service, qtype uint16, c Client, version uint64) bool {
	t := m.table.Load()
	if t == nil {
		return false
	}
	key := memoKey{s: s, loc: r.locate(c), qtype: qtype, sourceBits: int16(min(max(c.SourceBits, -1), 128)), version: version}
	e, _, _ := t.find(&key)
	return e != nil
}

// entries returns the entries m's slots hold.
func (m *Memo) entries() []*memoEntry {
	var out []*memoEntry
	if t := m.table.Load(); t != nil {
		for i := range t.slots {
			if e := t.slots[i].Load(); e != nil {
				out = append(out, e)
			}
		}
	}
	return out
}

// sameDecision reports whether two decisions answer alike.
func sameDecision(a, b *Decision) bool {
	return a.Location == b.Location && a.Rule == b.Rule && a.Network == b.Network &&
		a.Preferred == b.Preferred && a.Region == b.Region && slices.Equal(a.Endpoints, b.Endpoints) &&
		a.TTL == b.TTL && a.Scope == b.Scope && a.Degraded == b.Degraded && a.AllDown == b.AllDown && a.NoData == b.NoData
}

// TestMemoAgreesWithDecide: through thousands of queries for every
// service of a zone, through one Memo, from clients of every test
// network, with every ECS source prefix, between random health changes, a
// decision taken from the memo is the decision Decide makes; the memo is
// used for the services whose decisions depend only on the location and
// the health, and for no other.
func TestMemoAgreesWithDecide(t *testing.T) {
	for _, withNetworks := range []bool{false, true} {
		z := memoZone(t, withNetworks)
		db := testGeo(t)
		h := &versioned{down: map[*zones.Endpoint]bool{}, drained: map[*zones.Endpoint]bool{}, latency: map[*zones.Endpoint]float64{}}
		memoized, plain := newRouter(t, db, h), newRouter(t, db, h)
		var clients []string
		for _, e := range testNetworks {
			clients = append(clients, e.Network.Addr().String(), e.Network.Addr().Next().String())
		}
		clients = append(clients, "10.0.0.1", "2001:db8:99::1", "20.6.7.9")
		memo := new(Memo)
		var services []*zones.Service
		for _, s := range z.Services() {
			services = append(services, s)
		}
		r := rand.New(rand.NewPCG(5, 6))
		hits := 0
		for step := range 6000 {
			if step%200 == 0 { // the health changes, with its version
				s := services[r.IntN(len(services))]
				ep := s.Endpoints[r.IntN(len(s.Endpoints))]
				switch r.IntN(4) {
				case 0:
					h.down[ep] = !h.down[ep]
				case 1:
					h.drained[ep] = !h.drained[ep]
				case 2:
					h.latency[ep] = float64(r.IntN(100)) / 1000
				case 3:
					clear(h.down) // everything back
				}
				h.version++
			}
			s := services[r.IntN(len(services))]
			if !memoizable(s) {
				continue // draws and rotations differ from call to call
			}
			qtype := []uint16{dns.TypeA, dns.TypeAAAA}[r.IntN(2)]
			ip := clients[r.IntN(len(clients))]
			bits := []int{-1, 0, 8, 16, 20, 24, 32}[r.IntN(7)]
			if strings.Contains(ip, ":") {
				bits = []int{-1, 0, 24, 40, 48, 56, 64, 128}[r.IntN(8)]
			}
			c := client(ip, bits)
			if remembers(memoized, memo, s, qtype, c, h.version) {
				hits++
			}
			var got Decision
			memoized.DecideMemo(&got, memo, s, qtype, c)
			want := plain.Decide(s, qtype, c, false)
			if !sameDecision(&got, &want) {
				t.Fatalf("networks %v, step %d: %s %s from %s/%d: memo %+v, Decide %+v", withNetworks, step, s.Name, dns.TypeToString[qtype], ip, bits, got, want)
			}
		}
		filled := map[*zones.Service]int{}
		for _, e := range memo.entries() {
			filled[e.s]++
		}
		for _, s := range services {
			if want := memoizable(s); (filled[s] > 0) != want {
				t.Errorf("networks %v: %s remembered %d decisions, want some: %v", withNetworks, s.Name, filled[s], want)
			}
		}
		if !withNetworks && hits < 400 {
			t.Errorf("only %d decisions were taken from a memo", hits)
		}
	}
}

// TestMemoNeedsVersions: without a Versioned Health nothing is
// remembered, since nothing would say when a decision went stale.
func TestMemoNeedsVersions(t *testing.T) {
	z := memoZone(t, false)
	r := newRouter(t, testGeo(t), newTestHealth("nearest-all", nil, nil))
	s := service(t, z, "nearest-all")
	m := new(Memo)
	var d Decision
	for range 10 {
		r.DecideMemo(&d, m, s, dns.TypeA, client("20.4.0.1", 24))
	}
	for _, e := range m.entries() {
		if e != nil {
			t.Fatal("a decision was remembered without health versions")
		}
	}
	if d.Region == nil || d.Region.Name != "eu-west" {
		t.Errorf("decided %v, want eu-west", d.Region)
	}
}

// flipping is AllUp with a version that another goroutine moves on.
type flipping struct{ version atomic.Uint64 }

func (*flipping) Endpoint(ep *zones.Endpoint) EndpointState { return AllUp{}.Endpoint(ep) }
func (*flipping) MinHealthy(*zones.Service, int) int        { return 1 }
func (h *flipping) Version() uint64                         { return h.version.Load() }

// TestMemoConcurrent: goroutines deciding through one memo while the
// health version moves agree with Decide (run with -race).
func TestMemoConcurrent(t *testing.T) {
	z := memoZone(t, false)
	db := testGeo(t)
	h := &flipping{}
	r := newRouter(t, db, h)
	s := service(t, z, "nearest-all")
	m := new(Memo)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 200 {
			h.version.Add(1)
		}
	}()
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 2000 {
				e := testNetworks[(g+i)%len(testNetworks)].Network
				c := client(e.Addr().String(), 24)
				if e.Addr().Is6() {
					c = client(e.Addr().String(), 56)
				}
				var got Decision
				r.DecideMemo(&got, m, s, dns.TypeA, c)
				if want := r.Decide(s, dns.TypeA, c, false); !sameDecision(&got, &want) {
					t.Errorf("%s: memo %+v, Decide %+v", c.Addr, got, want)
					return
				}
			}
		}()
	}
	wg.Wait()
	<-done
}

// places is a Locator that puts every address in a location of its own,
// spread over the globe, as a GeoIP database of many networks does.
type places struct {
	mu sync.Mutex
	m  map[netip.Addr]*geo.Location
}

func (p *places) Locate(ip netip.Addr) *geo.Location {
	p.mu.Lock()
	defer p.mu.Unlock()
	l := p.m[ip]
	if l == nil {
		i := len(p.m)
		l = &geo.Location{Latitude: float64(i*7%170) - 85, Longitude: float64(i*13%360) - 180, HasCoordinates: true, Network: netip.PrefixFrom(ip, 32)}
		p.m[ip] = l
	}
	return l
}

// placeClient is the i-th client of places, asking with a /32 source
// prefix.
func placeClient(i int) Client {
	return Client{Addr: netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), SourceBits: 32}
}

// TestMemoGrows: asked about more locations than its first table holds,
// a Memo grows until the clients that come back find their decisions
// remembered, and its decisions stay Decide's; asked about ever more, it
// stops growing at memoMaxBits.
func TestMemoGrows(t *testing.T) {
	z := memoZone(t, false)
	h := &versioned{}
	loc := &places{m: map[netip.Addr]*geo.Location{}}
	r := newRouter(t, loc, h)
	s := service(t, z, "nearest-all")
	m := new(Memo)
	const clients = 5000 // over four times the first table's slots
	for pass := range 3 {
		hits := 0
		for i := range clients {
			if remembers(r, m, s, dns.TypeA, placeClient(i), h.version) {
				hits++
			}
			var made Decision
			d := &made
			r.DecideMemo(d, m, s, dns.TypeA, placeClient(i))
			if want := r.Decide(s, dns.TypeA, placeClient(i), false); !sameDecision(d, &want) {
				t.Fatalf("pass %d, client %d: memo %+v, Decide %+v", pass, i, *d, want)
			}
		}
		t.Logf("pass %d: %d of %d decisions remembered, table of %d slots", pass, hits, clients, len(m.table.Load().slots))
		if pass == 2 && hits < clients*95/100 {
			t.Errorf("pass %d: only %d of %d decisions remembered", pass, hits, clients)
		}
	}
	if bits := m.table.Load().bits; bits <= memoMinBits {
		t.Errorf("the memo did not grow: %d bits", bits)
	}
	// The locations share the few answers there are.
	shared := map[*Decision]bool{}
	entries := m.entries()
	for _, e := range entries {
		shared[e.d] = true
		if e.d.Location != nil || e.d.Scope != 0 {
			t.Fatalf("a shared decision keeps a client's location or scope: %+v", *e.d)
		}
	}
	if len(entries) < clients/2 || len(shared) > 16 {
		t.Errorf("%d entries point to %d shared decisions", len(entries), len(shared))
	}

	for i := range 8 << memoMaxBits {
		var made Decision
		r.DecideMemo(&made, m, s, dns.TypeA, placeClient(clients+i))
	}
	if bits, n := m.table.Load().bits, len(m.table.Load().slots); bits != memoMaxBits || n != 1<<memoMaxBits {
		t.Errorf("asked about %d locations, the memo has %d slots (%d bits), want %d", 8<<memoMaxBits, n, bits, 1<<memoMaxBits)
	}
}

// TestMemoGrowsConcurrently: goroutines asking about many locations at
// once, so that the memo grows while others read and store, agree with
// Decide (run with -race).
func TestMemoGrowsConcurrently(t *testing.T) {
	z := memoZone(t, false)
	h := &flipping{}
	r := newRouter(t, &places{m: map[netip.Addr]*geo.Location{}}, h)
	s := service(t, z, "nearest-all")
	m := new(Memo)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 3000 {
				c := placeClient((g*1000 + i) % 5000)
				if i%500 == 0 {
					h.version.Add(1)
				}
				var made Decision
				d := &made
				r.DecideMemo(d, m, s, dns.TypeAAAA, c)
				if want := r.Decide(s, dns.TypeAAAA, c, false); !sameDecision(d, &want) {
					t.Errorf("%s: memo %+v, Decide %+v", c.Addr, *d, want)
					return
				}
			}
		})
	}
	wg.Wait()
	if bits := m.table.Load().bits; bits <= memoMinBits {
		t.Errorf("the memo did not grow: %d bits", bits)
	}
}
