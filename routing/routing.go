// Package routing decides a service's answer for one client: which region
// serves it (explicit maps, then distance, then failover by health) and
// which endpoints of that region are answered.
package routing

import (
	"fmt"
	"math"
	"math/rand/v2"
	"net/netip"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/miekg/dns"

	"github.com/meridian-dns/meridian/geo"
	"github.com/meridian-dns/meridian/zones"
)

// Locator finds where a client address is. *geo.Source implements it.
type Locator interface {
	Lookup(ip netip.Addr) geo.Location
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
}

// Health answers "is this endpoint up?". Implementations must be safe for
// concurrent use and cheap: they are asked on every service query.
type Health interface {
	Endpoint(ep *zones.Endpoint) EndpointState
	// MinHealthy returns how many up endpoints keep region r of service s
	// up, given the number of its endpoints that serve the family.
	MinHealthy(s *zones.Service, total int) int
}

// AllUp is the Health used when no health checks are configured.
type AllUp struct{}

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
	rnd    func() uint64
	mu     sync.Mutex
	rr     map[*zones.Service]*atomic.Uint64
}

// New returns a router. geo may be nil (no GeoIP database); health may be
// nil (everything up).
func New(locator Locator, health Health) *Router {
	if health == nil {
		health = AllUp{}
	}
	return &Router{geo: locator, health: health, rnd: rand.Uint64, rr: map[*zones.Service]*atomic.Uint64{}}
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
	Location geo.Location
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
	Endpoints         []*zones.Endpoint
	TTL               uint32
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
}

// Decide picks the answer of service s to a qtype (A or AAAA) query from
// client c. With explain set it also fills Candidates with every region in
// the order it would be tried.
func (r *Router) Decide(s *zones.Service, qtype uint16, c Client, explain bool) Decision {
	var loc geo.Location
	if r.geo != nil && c.Addr.IsValid() {
		loc = r.geo.Lookup(c.Addr)
	}
	return r.DecideAt(s, qtype, c, loc, explain)
}

// DecideAt is Decide for a client whose location is already known (the
// status page shades each country this way, from its representative point).
func (r *Router) DecideAt(s *zones.Service, qtype uint16, c Client, loc geo.Location, explain bool) Decision {
	d := Decision{Location: loc}
	// Most answers come from the first choice: the failover order (distances
	// to every region, sorted) is worked out only when it is needed.
	order := r.regionOrder(s, qtype, c, &d, explain)
	if len(order) == 0 {
		d.NoData = true
		d.Scope = 0
		return d
	}
	d.Preferred = order[0].Region
	if !explain {
		if up, states := r.upEndpoints(s, order[0].Region, qtype, &order[0]); order[0].Up {
			d.Region = order[0].Region
			d.Endpoints = r.pick(s, up, states, c)
		} else {
			order = r.regionOrder(s, qtype, c, &d, true)
		}
	}
	for i := range order {
		if d.Region != nil && !explain {
			break
		}
		cand := &order[i]
		up, states := r.upEndpoints(s, cand.Region, qtype, cand)
		if d.Region == nil && cand.Up {
			d.Region = cand.Region
			d.Endpoints = r.pick(s, up, states, c)
			d.Degraded = i > 0
			if !explain {
				break
			}
		}
	}
	if explain {
		d.Candidates = order
	}
	if d.Region == nil {
		d.AllDown, d.Degraded = true, true
		switch s.AllDown {
		case zones.AllDownNoData:
			d.NoData = true
			return d
		case zones.AllDownFallback:
			d.Region = d.Preferred
			for _, ep := range s.FallbackAddresses {
				if ep.Serves(qtype) {
					d.Endpoints = append(d.Endpoints, ep)
				}
			}
			if len(d.Endpoints) == 0 {
				d.NoData = true
				return d
			}
		default:
			// Answer as if all were healthy, like Route 53 and gdnsd,
			// rather than answer nothing: from the first region in the
			// failover order that the operator has not drained.
			d.Region = d.Preferred
			all := serving(s, d.Preferred, qtype)
			for _, cand := range order {
				if eps := r.undrained(serving(s, cand.Region, qtype)); len(eps) > 0 {
					d.Region, all = cand.Region, eps
					break
				}
			}
			d.Endpoints = r.pick(s, all, make([]EndpointState, len(all)), c)
		}
	}
	d.TTL = s.TTL
	if d.Degraded {
		d.TTL = min(s.TTL, s.DegradedTTL)
	}
	d.Scope = r.scope(s, c, &d)
	return d
}

// undrained drops drained endpoints from eps: an operator's drain holds
// even when serving everything blindly.
func (r *Router) undrained(eps []*zones.Endpoint) []*zones.Endpoint {
	var out []*zones.Endpoint
	for _, ep := range eps {
		if !r.health.Endpoint(ep).Drained {
			out = append(out, ep)
		}
	}
	return out
}

// serving returns the endpoints of region reg that answer qtype.
func serving(s *zones.Service, reg *zones.Region, qtype uint16) []*zones.Endpoint {
	var out []*zones.Endpoint
	for _, ep := range s.Endpoints {
		if ep.Region == reg && ep.Serves(qtype) {
			out = append(out, ep)
		}
	}
	return out
}

// RegionState reports region reg of service s as routing sees it, over
// the endpoints of both families: whether it is up, and how many of its
// endpoints are healthy. The status page and metrics use it so they agree
// with the answers.
func (r *Router) RegionState(s *zones.Service, reg *zones.Region) Candidate {
	cand := Candidate{Region: reg, Distance: -1}
	r.upEndpoints(s, reg, 0, &cand)
	return cand
}

// upEndpoints fills cand's health counts and returns the endpoints of the
// region that may be answered (up and not drained) with their states.
func (r *Router) upEndpoints(s *zones.Service, reg *zones.Region, qtype uint16, cand *Candidate) ([]*zones.Endpoint, []EndpointState) {
	var up []*zones.Endpoint
	var states []EndpointState
	for _, ep := range s.Endpoints {
		if ep.Region != reg || (qtype != 0 && !ep.Serves(qtype)) {
			continue
		}
		cand.Total++
		st := r.health.Endpoint(ep)
		if st.Up {
			cand.Healthy++
			if !st.Drained {
				up = append(up, ep)
				states = append(states, st)
			}
		}
	}
	cand.Up = len(up) > 0 && cand.Healthy >= r.health.MinHealthy(s, cand.Total)
	return up, states
}

// regionOrder returns the regions that have endpoints for qtype, in the
// order they are tried: the rule's choice first, then the failover order.
func (r *Router) regionOrder(s *zones.Service, qtype uint16, c Client, d *Decision, full bool) []Candidate {
	z := s.Zone
	var eligible []*zones.Region
	for _, reg := range z.Regions() {
		for _, ep := range s.Endpoints {
			if ep.Region == reg && ep.Serves(qtype) {
				eligible = append(eligible, reg)
				break
			}
		}
	}
	if len(eligible) == 0 {
		return nil
	}
	loc := d.Location
	lat, lon, hasPos := loc.Latitude, loc.Longitude, loc.HasCoordinates
	dist := func(reg *zones.Region) float64 {
		if !hasPos {
			return -1
		}
		return geo.Distance(lat, lon, reg.Latitude, reg.Longitude)
	}
	has := func(reg *zones.Region) bool {
		for _, e := range eligible {
			if e == reg {
				return true
			}
		}
		return false
	}

	var first *zones.Region
	switch s.Routing {
	case zones.RouteFailover:
		d.Rule = "failover order"
		for _, reg := range s.Fallback {
			if has(reg) {
				first = reg
				break
			}
		}
	case zones.RouteWeighted:
		d.Rule = "weighted draw"
		first = r.drawRegion(s, eligible, qtype)
	default:
		d.Rule, d.Network = "", netip.Prefix{}
		if m := explicit(z, c, loc, has); m != nil {
			first, d.Rule, d.Network = m.Region, m.Rule, m.Network
		}
		if first == nil && hasPos {
			best := math.MaxFloat64
			for _, reg := range eligible {
				if dd := dist(reg); dd < best {
					best, first = dd, reg
				}
			}
			d.Rule = "distance"
		}
	}
	if first == nil {
		first, d.Rule = eligible[0], "default region"
	}

	order := make([]Candidate, 0, len(eligible))
	added := make(map[*zones.Region]bool, len(eligible))
	add := func(reg *zones.Region) {
		if !added[reg] && has(reg) {
			added[reg] = true
			order = append(order, Candidate{Region: reg, Distance: dist(reg)})
		}
	}
	add(first)
	if !full {
		return order
	}
	for _, reg := range s.Fallback {
		add(reg)
	}
	rest := make([]*zones.Region, 0, len(eligible))
	for _, reg := range eligible {
		if !added[reg] {
			rest = append(rest, reg)
		}
	}
	if hasPos {
		sort.SliceStable(rest, func(i, j int) bool { return dist(rest[i]) < dist(rest[j]) })
	}
	for _, reg := range rest {
		add(reg)
	}
	return order
}

// explicit applies a zone's maps, most specific first: networks, ASNs,
// subdivisions, countries, continents. Regions without endpoints of the
// family are passed over. It returns nil when no map places the client.
func explicit(z *zones.Zone, c Client, loc geo.Location, has func(*zones.Region) bool) *zones.Mapping {
	if c.Addr.IsValid() {
		if m := z.MatchNetwork(c.Addr); m != nil && has(m.Region) {
			return m
		}
	}
	if loc.ASN != 0 {
		if m := z.MatchASN(loc.ASN); m != nil && has(m.Region) {
			return m
		}
	}
	if loc.Subdivision != "" {
		if m := z.MatchSubdivision(loc.Subdivision); m != nil && has(m.Region) {
			return m
		}
	}
	if loc.Country != "" {
		if m := z.MatchCountry(loc.Country); m != nil && has(m.Region) {
			return m
		}
	}
	if loc.Continent != "" {
		if m := z.MatchContinent(loc.Continent); m != nil && has(m.Region) {
			return m
		}
	}
	return nil
}

// drawRegion draws a region with probability proportional to the total
// weight of its endpoints for the family (a global weighted pool).
func (r *Router) drawRegion(s *zones.Service, eligible []*zones.Region, qtype uint16) *zones.Region {
	total := 0
	weights := make([]int, len(eligible))
	for i, reg := range eligible {
		for _, ep := range s.Endpoints {
			if ep.Region == reg && ep.Serves(qtype) {
				weights[i] += ep.Weight
			}
		}
		total += weights[i]
	}
	if total == 0 {
		return eligible[0]
	}
	x := int(r.rnd() % uint64(total))
	for i, w := range weights {
		if x < w {
			return eligible[i]
		}
		x -= w
	}
	return eligible[len(eligible)-1]
}

// scope returns the ECS scope prefix length for d: how far the answer holds
// for other clients near c. It is the prefix of what decided it (the
// matched networks entry or the GeoIP record's network), lengthened where
// the zone maps a longer network inside it, and for sticky hashing at least
// the hashed client network; never longer than the source prefix.
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
			// Nothing located the client: the answer is known to hold only
			// for the subnet asked about.
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
