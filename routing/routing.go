// Package routing decides a service's answer for one client: which region
// serves it (explicit maps, then distance, then failover by health) and
// which endpoints of that region are answered.
package routing

import (
	"fmt"
	"math"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"

	"github.com/miekg/dns"

	"github.com/meridian-dns/meridian/geo"
	"github.com/meridian-dns/meridian/zones"
)

// Locator finds where a client address is. *geo.Source and *geo.Databases
// implement it. The location returned is shared and must not be modified.
type Locator interface {
	Locate(ip netip.Addr) *geo.Location
}

// EndpointState is what routing needs to know about an endpoint's health.
type EndpointState struct {
	// Up is false when health checks found the endpoint down or an
	// operator forced it down.
	Up bool
	// Drained endpoints are up but get no new answers.
	Drained bool
	// Latency is the smoothed probe latency in seconds, 0 when unknown.
	Latency float64
	// Load is the endpoint's reported load from 0 to 1, or -1 when unknown.
	Load float64
	// Reweighted is set when an operator changed the endpoint's weight at
	// runtime: selection then uses Weight instead of the zone file's.
	Reweighted bool
	// Weight is the runtime weight, when Reweighted.
	Weight int
}

// weight is the weight selection gives ep in state st: the runtime
// weight when an operator set one, else the zone file's.
func (st *EndpointState) weight(ep *zones.Endpoint) int {
	if st.Reweighted {
		return st.Weight
	}
	return ep.Weight
}

// Health answers "is this endpoint up?". Implementations must be safe for
// concurrent use and cheap: they are asked on every service query. A
// running server's is the View of package app/health (probe states and
// operator overrides); routing itself knows no health checker.
type Health interface {
	Endpoint(ep *zones.Endpoint) EndpointState
	// MinHealthy returns how many up endpoints keep region r of service s
	// up, given the number of its endpoints that serve the family.
	MinHealthy(s *zones.Service, total int) int
}

// A HealthSource is a Health that changes while the server runs (probe
// results arrive, the operator drains). Snapshot returns its state at one
// moment: one decision reads only that, so it never mixes two health maps.
type HealthSource interface {
	Health
	Snapshot() Health
}

// An UncheckedUp Health can say that, at this moment, it has no say over
// the endpoints without a health check (zones.Endpoint.Checked false): no
// operator override is in force. Routing then takes such an endpoint to be
// up, undrained and at its zone file's weight, as AllUp does, without
// asking, so a decision over unchecked endpoints makes no call per
// endpoint.
type UncheckedUp interface {
	UncheckedUp() bool
}

// uncheckedUp reports whether hv says it has no say over unchecked
// endpoints.
func uncheckedUp(hv Health) bool {
	u, ok := hv.(UncheckedUp)
	return ok && u.UncheckedUp()
}

// AllUp is the Health used when no health checks are configured.
type AllUp struct{}

// Reweighted is false: AllUp carries no runtime weight.
func (AllUp) Reweighted() bool { return false }

// UncheckedUp is true: AllUp has no say over any endpoint.
func (AllUp) UncheckedUp() bool { return true }

// Endpoint reports every endpoint up.
func (AllUp) Endpoint(*zones.Endpoint) EndpointState { return EndpointState{Up: true, Load: -1} }

// MinHealthy is 1: a region is up while one endpoint is.
func (AllUp) MinHealthy(*zones.Service, int) int { return 1 }

// Client is who a service answer is for.
type Client struct {
	// Addr is the address located: the ECS address when the query carried
	// a usable one, else the resolver's.
	Addr netip.Addr
	// SourceBits is the ECS source prefix length, or -1 without ECS.
	SourceBits int
}

// Router makes routing decisions. It is safe for concurrent use.
type Router struct {
	geo    Locator
	health Health
	// source is health when it changes over time: each decision reads one
	// snapshot of it.
	source HealthSource
	rnd    func() uint64
}

// New returns a router. geo may be nil (no GeoIP database); health may be
// nil (everything up).
func New(locator Locator, health Health) *Router {
	if health == nil {
		health = AllUp{}
	}
	r := &Router{geo: locator, health: health, rnd: rand.Uint64}
	r.source, _ = health.(HealthSource)
	return r
}

// view returns the health one decision reads throughout.
func (r *Router) view() Health {
	if r.source != nil {
		return r.source.Snapshot()
	}
	return r.health
}

// SetRand replaces the random source, for reproducible tests. The function
// must be safe for the concurrency the router is used with.
func (r *Router) SetRand(f func() uint64) { r.rnd = f }

// Candidate is one region considered for an answer, in the order tried.
type Candidate struct {
	Region *zones.Region
	// Distance from the client in km, or -1 when the client's position is
	// unknown.
	Distance float64
	Up       bool
	// Healthy and Total count the region's endpoints serving the family.
	Healthy, Total int
}

// Decision is the answer for one client and the reasons for it.
type Decision struct {
	// Location is where the client was placed, never nil. It is shared
	// with the locator's cache: callers must not modify it.
	Location *geo.Location
	// Rule says what chose the first region: "network 203.0.113.0/24",
	// "asn 64500", "subdivision US-CA", "country US", "continent EU",
	// "distance", "default region", "failover order", "weighted draw".
	Rule string
	// Network is the zone networks entry that decided, when one did.
	Network netip.Prefix
	// Preferred is the region the rule chose; Region the one that answers
	// (different after failover). Both nil for NODATA.
	Preferred, Region *zones.Region
	Candidates        []Candidate
	// Endpoints is the answer, in order. It may be a slice of the zone
	// snapshot's own lists (Decide copies only when it must), so callers
	// must not modify its elements; appending to it copies.
	Endpoints []*zones.Endpoint
	TTL       uint32
	// Scope is the ECS scope prefix length the answer is valid for.
	Scope int
	// Degraded is true when the answer comes from a failover region or
	// from serving while every region is down.
	Degraded bool
	// AllDown is true when no region was up and the preferred region was
	// served anyway.
	AllDown bool
	// NoData is true when no region has endpoints of the asked family.
	NoData bool
	// HealthNotes say more about the candidates' checked endpoints than up
	// or down, when explaining with a Health that is an EndpointExplainer.
	HealthNotes []string
}

// Decide picks the answer of service s to a qtype (A or AAAA) query from
// client c. With explain set it also fills Candidates with every region in
// the order it would be tried.
func (r *Router) Decide(s *zones.Service, qtype uint16, c Client, explain bool) Decision {
	var d Decision
	r.decide(&d, s, qtype, c, r.locate(c), explain)
	return d
}

// locate returns where the client is.
func (r *Router) locate(c Client) *geo.Location {
	if r.geo != nil && c.Addr.IsValid() {
		return r.geo.Locate(c.Addr)
	}
	return &unknown
}

// unknown is the location of a client that nothing locates.
var unknown geo.Location

// DecideAt is Decide for a client whose location is already known (the
// status page shades each country this way, from its representative point).
// The decision keeps loc, which must not be modified afterwards.
func (r *Router) DecideAt(s *zones.Service, qtype uint16, c Client, loc *geo.Location, explain bool) Decision {
	var d Decision
	r.decide(&d, s, qtype, c, loc, explain)
	return d
}

// decide makes the decision for a client at loc into d.
func (r *Router) decide(d *Decision, s *zones.Service, qtype uint16, c Client, loc *geo.Location, explain bool) {
	r.decideWith(r.view(), d, s, qtype, c, loc, explain)
}

// decideWith is decide by the health hv.
func (r *Router) decideWith(hv Health, d *Decision, s *zones.Service, qtype uint16, c Client, loc *geo.Location, explain bool) {
	*d = Decision{Location: loc}
	pools := s.Pools(qtype)
	if len(pools.Regions) == 0 {
		d.NoData = true
		return
	}
	if !explain {
		// Most answers come from the first choice: the failover order
		// (distances to every region, sorted) is worked out only when it
		// is needed. The arrays keep the first choice's up endpoints off
		// the heap for pools of up to stackEndpoints.
		var posBuf [stackEndpoints]int
		var cand Candidate
		d.Preferred = r.firstChoice(hv, s, pools, c, d)
		if up := upEndpoints(hv, s, countedPool(s, d.Preferred, qtype), &cand, posBuf[:0], stateRoom(s, hv)); cand.Up {
			d.Region = d.Preferred
			d.Endpoints = r.pick(hv, s, up, c)
			r.finish(s, c, d)
			return
		}
	}
	r.decideInOrder(hv, s, pools, qtype, c, d, explain)
}

// decideInOrder completes d by trying every region in the failover order,
// from the first that is up by hv, or by the service's all_down policy when
// none is. With explain set it reports every candidate.
func (r *Router) decideInOrder(hv Health, s *zones.Service, pools *zones.Pools, qtype uint16, c Client, d *Decision, explain bool) {
	var posBuf [stackEndpoints]int
	var orderBuf [8]Candidate
	order := r.regionOrder(hv, s, pools, c, d, orderBuf[:0])
	if explain {
		d.Preferred = order[0].Region
	}
	for i := range order {
		if d.Region != nil && !explain {
			break
		}
		cand := &order[i]
		up := upEndpoints(hv, s, countedPool(s, cand.Region, qtype), cand, posBuf[:0], stateRoom(s, hv))
		if d.Region == nil && cand.Up {
			d.Region = cand.Region
			d.Endpoints = r.pick(hv, s, up, c)
			d.Degraded = i > 0
			if !explain {
				break
			}
		}
	}
	if explain {
		d.Candidates = slices.Clone(order)
		d.HealthNotes = healthNotes(hv, s, qtype, d.Candidates)
	}
	if d.Region == nil {
		d.AllDown, d.Degraded = true, true
		switch s.AllDown {
		case zones.AllDownNoData:
			d.NoData = true
			return
		case zones.AllDownFallback:
			d.Region = d.Preferred
			for _, ep := range s.FallbackAddresses {
				if ep.Serves(qtype) {
					d.Endpoints = append(d.Endpoints, ep)
				}
			}
			if len(d.Endpoints) == 0 {
				d.NoData = true
				return
			}
		default:
			// Answer as if all were healthy, like Route 53 and gdnsd,
			// rather than answer nothing: from the first region in the
			// failover order that the operator has not drained.
			var all upSet
			for _, cand := range order {
				pool := pools.Region(cand.Region)
				if pos := undrained(hv, pool, posBuf[:0]); len(pos) > 0 {
					d.Region, all = cand.Region, upSet{pool: pool, pos: pos}
					break
				}
			}
			if all.pool == nil {
				d.Region = d.Preferred
				all.pool = pools.Region(d.Preferred)
				all.pos = posBuf[:0]
				for i := range all.pool.Endpoints {
					all.pos = append(all.pos, i)
				}
			}
			// Blind answers know nothing of the endpoints' health, but
			// keep the operator's runtime weights.
			all.blind = true
			d.Endpoints = r.pick(hv, s, all, c)
		}
	}
	r.finish(s, c, d)
}

// finish sets the TTL and the ECS scope of an answer.
func (r *Router) finish(s *zones.Service, c Client, d *Decision) {
	d.TTL = s.TTL
	if d.Degraded {
		d.TTL = min(s.TTL, s.DegradedTTL)
	}
	d.Scope = r.scope(s, c, d)
}

// stackEndpoints is the pool size up to which a decision keeps its
// working lists in fixed arrays on the stack; larger pools are decided the
// same way with lists on the heap.
const stackEndpoints = 32

// upSet is the endpoints of a pool that may be answered, as positions in
// pool.Endpoints in file order. Their states are kept only when selection
// needs more of them than the zone file says (stateRoom): most decisions
// need nothing, and keeping every state at hand would cost each of them.
type upSet struct {
	pool *zones.Pool
	pos  []int
	// states, parallel to pos, are kept when stateRoom gives room, nil
	// otherwise.
	states []upState
	// blind is set for an answer made without health, when every region
	// is down: it has no states, and its weights are read from the health
	// passed beside it (not in it, so that the positions stay on the
	// stack).
	blind bool
}

// upState is what selection needs of an endpoint's state.
type upState struct {
	// weight is the operator's runtime weight, or else the zone file's.
	weight        int
	latency, load float64
}

// stateRoom returns room for the states of a pool's up endpoints when
// selection needs more of them than the zone file says: s's policy ranks
// them by latency or load, or hv may carry runtime weights (a Health that
// is no Reweighter may). It is nil otherwise; on the stack for pools of up
// to stackEndpoints, and zeroed only when made.
func stateRoom(s *zones.Service, hv Health) []upState {
	if !needsStates(s, hv) {
		return nil
	}
	return make([]upState, 0, stackEndpoints) // inlined, so on the caller's stack
}

// needsStates reports whether selection for s needs the states kept.
func needsStates(s *zones.Service, hv Health) bool {
	if s.Select == zones.SelectFastest || s.Select == zones.SelectLeastLoaded {
		return true
	}
	rw, ok := hv.(Reweighter)
	return !ok || rw.Reweighted()
}

// weight returns the weight of the i-th endpoint of u in hv: the
// operator's runtime weight, or else the zone file's.
func (u *upSet) weight(hv Health, i int) int {
	if u.states != nil {
		return u.states[i].weight
	}
	if !u.blind {
		return u.pool.Endpoints[u.pos[i]].Weight
	}
	return u.runtimeWeight(hv, i)
}

// runtimeWeight is weight read from hv, for a blind answer.
func (u *upSet) runtimeWeight(hv Health, i int) int {
	ep := u.pool.Endpoints[u.pos[i]]
	st := hv.Endpoint(ep)
	return st.weight(ep)
}

// latency and load return the i-th endpoint's smoothed probe latency and
// reported load, kept for the policies that rank by them; 0 without
// states, for an answer made blind when every region is down.
func (u *upSet) latency(i int) float64 {
	if u.states == nil {
		return 0
	}
	return u.states[i].latency
}

func (u *upSet) load(i int) float64 {
	if u.states == nil {
		return 0
	}
	return u.states[i].load
}

// endpoints returns the endpoints at the positions of the pool listed in
// idx (indexes into u.pos). A run of consecutive positions, wrapping
// around, is returned as a slice of the snapshot's pool, without copying.
func (u upSet) endpoints(idx []int) []*zones.Endpoint {
	eps := u.pool.Endpoints
	start := u.pos[idx[0]]
	for k, i := range idx {
		if u.pos[i] != (start+k)%len(eps) {
			out := make([]*zones.Endpoint, len(idx))
			for k, i := range idx {
				out[k] = eps[u.pos[i]]
			}
			return out
		}
	}
	return u.pool.Run(start, len(idx))
}

// first returns the endpoints at the first n positions of u: a slice of
// the snapshot's pool when they are a run of it (always, when every
// endpoint is up), else a new slice.
func (u upSet) first(n int) []*zones.Endpoint {
	start := u.pos[0]
	for k, p := range u.pos[:n] {
		if p != start+k {
			out := make([]*zones.Endpoint, n)
			for k, p := range u.pos[:n] {
				out[k] = u.pool.Endpoints[p]
			}
			return out
		}
	}
	return u.pool.Run(start, n)
}

// undrained appends to pos the positions in pool of its endpoints the
// operator has not drained: a drain holds even when serving everything
// blindly.
func undrained(hv Health, pool *zones.Pool, pos []int) []int {
	for i, ep := range pool.Endpoints {
		if !hv.Endpoint(ep).Drained {
			pos = append(pos, i)
		}
	}
	return pos
}

// countedPool returns the endpoints of region reg whose health counts for
// qtype: those that answer it, or every endpoint for qtype 0.
func countedPool(s *zones.Service, reg *zones.Region, qtype uint16) *zones.Pool {
	if qtype == 0 {
		return s.AllPools().Region(reg)
	}
	return s.Pools(qtype).Region(reg)
}

// RegionState reports region reg of service s as routing sees it, over
// the endpoints of both families: whether it is up, and how many of its
// endpoints are healthy. The status page and metrics use it so they agree
// with the answers.
func (r *Router) RegionState(s *zones.Service, reg *zones.Region) Candidate {
	cand := Candidate{Region: reg, Distance: -1}
	var posBuf [stackEndpoints]int
	upEndpoints(r.view(), s, countedPool(s, reg, 0), &cand, posBuf[:0], nil)
	return cand
}

// upEndpoints fills cand's health counts, by hv, for the endpoints of pool
// (nil for none) and returns those that may be answered (up and not
// drained), their positions appended to pos, and their states appended to
// states unless it is nil.
func upEndpoints(hv Health, s *zones.Service, pool *zones.Pool, cand *Candidate, pos []int, states []upState) upSet {
	up := upSet{pool: pool, pos: pos, states: states}
	if pool != nil {
		plain := uncheckedUp(hv)
		for i, ep := range pool.Endpoints {
			cand.Total++
			if plain && !ep.Checked {
				cand.Healthy++
				up.pos = append(up.pos, i)
				if up.states != nil { // AllUp's state
					up.states = append(up.states, upState{weight: ep.Weight, load: -1})
				}
				continue
			}
			st := hv.Endpoint(ep)
			if st.Up {
				cand.Healthy++
				if !st.Drained {
					up.pos = append(up.pos, i)
					if up.states != nil {
						up.states = append(up.states, upState{weight: st.weight(ep), latency: st.Latency, load: st.Load})
					}
				}
			}
		}
	}
	cand.Up = len(up.pos) > 0 && cand.Healthy >= hv.MinHealthy(s, cand.Total)
	return up
}

// firstChoice returns the region the service's routing mode prefers for
// the client among those with endpoints in pools, and records in d the
// rule that chose it.
func (r *Router) firstChoice(hv Health, s *zones.Service, pools *zones.Pools, c Client, d *Decision) *zones.Region {
	loc := d.Location
	switch s.Routing {
	case zones.RouteFailover:
		d.Rule = "failover order"
		for _, reg := range s.Fallback {
			if pools.Region(reg) != nil {
				return reg
			}
		}
	case zones.RouteWeighted:
		d.Rule = "weighted draw"
		return r.drawRegion(hv, pools)
	default:
		d.Rule, d.Network = "", netip.Prefix{}
		if m := explicit(s.Zone, c, loc, pools); m != nil {
			d.Rule, d.Network = m.Rule, m.Network
			return m.Region
		}
		if loc.HasCoordinates {
			// The nearest region has the largest dot product with the
			// client's point: two sines and cosines for the query instead
			// of a haversine per region.
			d.Rule = "distance"
			var first *zones.Region
			here := geo.PointAt(loc.Latitude, loc.Longitude)
			best := math.Inf(-1)
			for i := range pools.Regions {
				reg := pools.Regions[i].Region
				if dot := here.Dot(reg.Point); dot > best {
					best, first = dot, reg
				}
			}
			if first != nil {
				return first
			}
		}
	}
	d.Rule = "default region"
	return pools.Regions[0].Region
}

// regionOrder appends to order the regions that have endpoints in pools,
// in the order they are tried: the rule's choice first, then the fallback
// list, then the rest by distance.
func (r *Router) regionOrder(hv Health, s *zones.Service, pools *zones.Pools, c Client, d *Decision, order []Candidate) []Candidate {
	first := r.firstChoice(hv, s, pools, c, d)
	loc := d.Location
	add := func(reg *zones.Region) {
		if pools.Region(reg) == nil {
			return
		}
		for i := range order {
			if order[i].Region == reg {
				return
			}
		}
		dist := -1.0
		if loc.HasCoordinates {
			dist = geo.Distance(loc.Latitude, loc.Longitude, reg.Latitude, reg.Longitude)
		}
		order = append(order, Candidate{Region: reg, Distance: dist})
	}
	add(first)
	for _, reg := range s.Fallback {
		add(reg)
	}
	rest := len(order)
	for i := range pools.Regions {
		add(pools.Regions[i].Region)
	}
	if loc.HasCoordinates {
		slices.SortStableFunc(order[rest:], func(a, b Candidate) int { return compare(a.Distance, b.Distance) })
	}
	return order
}

// compare orders floats by the < operator, for the slices sorting
// functions. Unlike cmp.Compare it leaves a NaN unordered, as a sort with
// a < b did.
func compare(a, b float64) int {
	switch {
	case a < b:
		return -1
	case b < a:
		return 1
	}
	return 0
}

// explicit applies a zone's maps, most specific first: networks, ASNs,
// subdivisions, countries, continents. Regions without endpoints in pools
// are passed over. It returns nil when no map places the client.
func explicit(z *zones.Zone, c Client, loc *geo.Location, pools *zones.Pools) *zones.Mapping {
	usable := func(m *zones.Mapping) bool { return m != nil && pools.Region(m.Region) != nil }
	if c.Addr.IsValid() {
		if m := z.MatchNetwork(c.Addr); usable(m) {
			return m
		}
	}
	if loc.ASN != 0 {
		if m := z.MatchASN(loc.ASN); usable(m) {
			return m
		}
	}
	if loc.Subdivision != "" {
		if m := z.MatchSubdivision(loc.Subdivision); usable(m) {
			return m
		}
	}
	if loc.Country != "" {
		if m := z.MatchCountry(loc.Country); usable(m) {
			return m
		}
	}
	if loc.Continent != "" {
		if m := z.MatchContinent(loc.Continent); usable(m) {
			return m
		}
	}
	return nil
}

// Reweighter is a Health in which an operator may have changed endpoint
// weights at runtime (EndpointState.Reweighted). Reweighted reports
// whether any weight is changed, so that a weighted draw of regions adds
// up its endpoints' states only then.
type Reweighter interface {
	Reweighted() bool
}

// drawRegion draws a region with probability proportional to the total
// weight of its endpoints for the family (a global weighted pool), with
// the runtime weights of hv when it has any.
func (r *Router) drawRegion(hv Health, pools *zones.Pools) *zones.Region {
	if rw, ok := hv.(Reweighter); ok && rw.Reweighted() {
		return r.drawReweighted(hv, pools)
	}
	if pools.Weight == 0 {
		return pools.Regions[0].Region
	}
	x := int(r.rnd() % uint64(pools.Weight))
	for i := range pools.Regions {
		w := pools.Regions[i].Weight
		if x < w {
			return pools.Regions[i].Region
		}
		x -= w
	}
	return pools.Regions[len(pools.Regions)-1].Region
}

// drawReweighted is drawRegion with each region's weight added up from
// its endpoints' states in hv.
func (r *Router) drawReweighted(hv Health, pools *zones.Pools) *zones.Region {
	var weightBuf [stackEndpoints]int
	weights := weightBuf[:0]
	total := 0
	for i := range pools.Regions {
		w := 0
		for _, ep := range pools.Regions[i].Endpoints {
			st := hv.Endpoint(ep)
			w += st.weight(ep)
		}
		weights = append(weights, w)
		total += w
	}
	if total == 0 {
		return pools.Regions[0].Region
	}
	x := int(r.rnd() % uint64(total))
	for i, w := range weights {
		if x < w {
			return pools.Regions[i].Region
		}
		x -= w
	}
	return pools.Regions[len(pools.Regions)-1].Region
}

// scope returns the ECS scope prefix length for d: how far the answer holds
// for other clients near c. It is the prefix of what decided it (the
// matched networks entry, or the location's network, over which every
// GeoIP database answers alike), lengthened where the zone maps a longer
// network inside it, and for sticky hashing at least the hashed client
// network; the source prefix when nothing located the client, since the
// answer is then known to hold only for the subnet asked about. It is never
// longer than the source prefix, and 0 without ECS.
func (r *Router) scope(s *zones.Service, c Client, d *Decision) int {
	if c.SourceBits < 0 {
		return 0
	}
	bits := 0
	clientDependent := s.Routing == zones.RouteNearest || d.Degraded
	if clientDependent {
		switch {
		case d.Network.IsValid():
			// Entries inside the matched one answer differently.
			bits = max(d.Network.Bits(), s.Zone.LongestNetworkWithin(d.Network))
		case d.Location.Network.IsValid():
			n := d.Location.Network
			bits = n.Bits()
			if c.Addr.Is4() && n.Addr().Is4In6() {
				bits -= 96
			}
			if p, err := c.Addr.Prefix(bits); err == nil {
				bits = max(bits, s.Zone.LongestNetworkWithin(p))
			}
		default:
			bits = c.SourceBits
		}
	}
	if s.Select == zones.SelectHash {
		bits = max(bits, stickyBits(c.Addr))
	}
	return min(bits, c.SourceBits)
}

// stickyBits is the client network size sticky hashing uses.
func stickyBits(a netip.Addr) int {
	if a.Is4() {
		return 24
	}
	return 56
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	return string(b[i:])
}

// Records renders the decision as answer records owned by owner.
func (d *Decision) Records(owner string, qtype uint16) []dns.RR {
	out := make([]dns.RR, 0, len(d.Endpoints))
	for _, ep := range d.Endpoints {
		hdr := dns.RR_Header{Name: owner, Rrtype: qtype, Class: dns.ClassINET, Ttl: d.TTL}
		switch {
		case ep.CNAME != "":
			hdr.Rrtype = dns.TypeCNAME
			// A CNAME is the whole answer: several would be invalid.
			return []dns.RR{&dns.CNAME{Hdr: hdr, Target: ep.CNAME}}
		case qtype == dns.TypeAAAA:
			b := ep.Address.As16()
			out = append(out, &dns.AAAA{Hdr: hdr, AAAA: b[:]})
		default:
			b := ep.Address.As4()
			out = append(out, &dns.A{Hdr: hdr, A: b[:]})
		}
	}
	return out
}

// ParseClient reads a client as given to explain: "IP" is a resolver
// address, "IP/PREFIX" a client subnet (as if sent in ECS).
func ParseClient(s string) (Client, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return Client{}, fmt.Errorf("client %q: %v", s, err)
		}
		return Client{Addr: p.Masked().Addr(), SourceBits: p.Bits()}, nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return Client{}, fmt.Errorf("client %q: not an IP address or IP/PREFIX", s)
	}
	return Client{Addr: a.Unmap(), SourceBits: -1}, nil
}
