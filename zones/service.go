package zones

import (
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/miekg/dns"
	"go.yaml.in/yaml/v3"

	"github.com/meridian-dns/meridian/geo"
	"github.com/meridian-dns/meridian/healthcheck/check"
	"github.com/meridian-dns/meridian/internal/diag"
)

// RegionFile is one entry of a zone file's regions: a data center with a
// location and the explicit client maps that send traffic to it.
type RegionFile struct {
	Location     []float64 `yaml:"location"`
	Countries    []string  `yaml:"countries"`
	Continents   []string  `yaml:"continents"`
	Subdivisions []string  `yaml:"subdivisions"`
	Networks     []string  `yaml:"networks"`
	ASNs         []uint32  `yaml:"asns"`
}

// ServiceFile is one entry of a zone file's services: a name whose A and
// AAAA answers are computed per query.
type ServiceFile struct {
	TTL       *uint32        `yaml:"ttl"`
	Routing   string         `yaml:"routing"`
	Select    string         `yaml:"select"`
	Answers   answerCount    `yaml:"answers"`
	Fallback  []string       `yaml:"fallback"`
	Endpoints []EndpointFile `yaml:"endpoints"`
	// Check names the zone check every endpoint is probed with.
	Check string `yaml:"check"`
	// MinHealthy keeps a region up while this many (or this share) of its
	// endpoints are up.
	MinHealthy *check.MinHealthy `yaml:"min_healthy"`
	// AllDown is what to answer when no region is up.
	AllDown           string   `yaml:"all_down"`
	FallbackAddresses []string `yaml:"fallback_addresses"`
	// DegradedTTL is the TTL of failover and all-down answers.
	DegradedTTL *uint32 `yaml:"degraded_ttl"`

	// lines are the lines of the service's keys, for messages about them.
	lines map[string]int
}

// UnmarshalYAML decodes a service strictly and remembers the line of each
// of its keys.
func (s *ServiceFile) UnmarshalYAML(n *yaml.Node) error {
	type plain ServiceFile
	var p plain
	if err := decodeStrict(n, &p); err != nil {
		return err
	}
	*s = ServiceFile(p)
	s.lines = make(map[string]int, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		s.lines[n.Content[i].Value] = n.Content[i].Line
	}
	return nil
}

// line returns the line of key in the service, or def when it is absent.
func (s *ServiceFile) line(key string, def int) int {
	if l, ok := s.lines[key]; ok {
		return l
	}
	return def
}

// checkFile decodes one entry of a zone file's checks with check.Decode,
// the strict decoder of the checks the health checker probes.
type checkFile struct {
	spec check.Spec
	// portGiven is true when the check names its port rather than taking
	// its type's default.
	portGiven bool
}

// UnmarshalYAML decodes and validates the check.
func (c *checkFile) UnmarshalYAML(n *yaml.Node) error {
	spec, err := check.Decode(n)
	if err != nil {
		return yamlError(err, n.Line)
	}
	c.spec = spec
	c.portGiven = hasKey(n, "port")
	return nil
}

// hasKey reports whether mapping n has key, itself or through a merge
// ("<<: *anchor").
func hasKey(n *yaml.Node, key string) bool {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if n.Kind != yaml.MappingNode {
		return false
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		if k.Value == key || (k.Value == "<<" && k.Tag == "!!merge" && hasKey(n.Content[i+1], key)) {
			return true
		}
	}
	return false
}

// AllDown is what a service answers when none of its regions is up.
type AllDown uint8

// The all_down modes.
const (
	// AllDownServeAll answers from the preferred region as if all were up.
	AllDownServeAll AllDown = iota
	// AllDownNoData answers NODATA.
	AllDownNoData
	// AllDownFallback answers the service's fallback_addresses.
	AllDownFallback
)

var allDownNames = map[string]AllDown{"serve_all": AllDownServeAll, "nodata": AllDownNoData, "fallback": AllDownFallback}

// String returns the zone-file spelling.
func (a AllDown) String() string { return nameOf(allDownNames, a) }

// DefaultDegradedTTL is the TTL of failover answers unless a service sets
// degraded_ttl.
const DefaultDegradedTTL = 10

// EndpointFile is one endpoint of a service: an address (or a CNAME) in a
// region, with a weight.
type EndpointFile struct {
	Region       string `yaml:"region"`
	Address      string `yaml:"address"`
	CNAME        string `yaml:"cname"`
	Weight       *int   `yaml:"weight"`
	CheckAddress string `yaml:"check_address"`
	line         int
}

// UnmarshalYAML decodes an endpoint strictly and remembers its line.
func (e *EndpointFile) UnmarshalYAML(n *yaml.Node) error {
	type plain EndpointFile
	var p plain
	if err := decodeStrict(n, &p); err != nil {
		return err
	}
	*e = EndpointFile(p)
	e.line = n.Line
	return nil
}

// answerCount is a number of answers, or "all" (stored as 0).
type answerCount struct {
	n   int
	set bool
}

// UnmarshalYAML accepts a positive integer or "all".
func (a *answerCount) UnmarshalYAML(n *yaml.Node) error {
	a.set = true
	if n.Value == "all" {
		a.n = 0
		return nil
	}
	v, err := strconv.Atoi(n.Value)
	if err != nil || v < 1 || v > 64 {
		return errAt(n.Line, "answers: %q is not a number from 1 to 64 or \"all\"", n.Value)
	}
	a.n = v
	return nil
}

// Routing is how a service chooses the region that answers.
type Routing uint8

// The routing modes.
const (
	// RouteNearest uses the explicit maps, then distance.
	RouteNearest Routing = iota
	// RouteFailover uses the fallback list in order.
	RouteFailover
	// RouteWeighted draws regions by their total endpoint weight.
	RouteWeighted
)

var routingNames = map[string]Routing{"nearest": RouteNearest, "failover": RouteFailover, "weighted": RouteWeighted}

// String returns the zone-file spelling.
func (r Routing) String() string { return nameOf(routingNames, r) }

// Select is how a service picks endpoints inside the chosen region.
type Select uint8

// The selection policies.
const (
	SelectWeighted Select = iota
	SelectRoundRobin
	SelectRandom
	SelectHash
	SelectFirst
	SelectAll
	SelectFastest
	SelectLeastLoaded
)

var selectNames = map[string]Select{
	"weighted": SelectWeighted, "round_robin": SelectRoundRobin, "random": SelectRandom, "hash": SelectHash,
	"first": SelectFirst, "all": SelectAll, "fastest": SelectFastest, "least_loaded": SelectLeastLoaded,
}

// String returns the zone-file spelling.
func (s Select) String() string { return nameOf(selectNames, s) }

func nameOf[T comparable](m map[string]T, v T) string {
	for k, x := range m {
		if x == v {
			return k
		}
	}
	return "unknown"
}

// Region is a data center of a zone, compiled.
type Region struct {
	Name string
	Zone *Zone
	// Key names the region as operator overrides do: "zone./name".
	Key string
	// Index is the region's position in the zone file; the first region is
	// the default for clients nothing else places.
	Index               int
	Latitude, Longitude float64
	// Point is the location on the unit sphere, for ranking distances.
	Point        geo.Point
	Countries    []string
	Continents   []string
	Subdivisions []string
	Networks     []netip.Prefix
	ASNs         []uint32
}

// Endpoint is one answerable target of a service.
type Endpoint struct {
	Region *Region
	// Address is the address answered; invalid when CNAME is set.
	Address netip.Addr
	// CNAME, when set, is answered instead of addresses.
	CNAME string
	// Weight is the endpoint's share; 0 means only when nothing else is up.
	Weight int
	// CheckAddress is the address health checks probe (Address by default).
	CheckAddress netip.Addr
	// Key names the endpoint for health state and operator overrides:
	// "<service FQDN>/<address or cname>".
	Key string
	// Index is the endpoint's position in the service.
	Index int
	// Service is the owning service's name and Ident the address or CNAME
	// target: the two halves of an operator override's key.
	Service, Ident string
	// Checked is true when the endpoint has a health check; Target is what
	// is probed and CheckKey its identity in the health status.
	Checked  bool
	Target   check.Target
	CheckKey check.Key
}

// Is4 reports whether the endpoint answers A queries (CNAME endpoints
// answer both families).
func (e *Endpoint) Is4() bool { return e.CNAME != "" || e.Address.Is4() }

// Is6 reports whether the endpoint answers AAAA queries.
func (e *Endpoint) Is6() bool { return e.CNAME != "" || (e.Address.IsValid() && !e.Address.Is4()) }

// Serves reports whether the endpoint answers queries of type qtype.
func (e *Endpoint) Serves(qtype uint16) bool {
	if qtype == dns.TypeAAAA {
		return e.Is6()
	}
	return e.Is4()
}

// Service is a name whose A/AAAA answers are computed per query.
type Service struct {
	// Name is the owner name in canonical form ("*.cdn.example.com." for a
	// wildcard service).
	Name    string
	Zone    *Zone
	TTL     uint32
	Routing Routing
	Select  Select
	// Answers is the most addresses per answer; 0 means all.
	Answers   int
	Fallback  []*Region
	Endpoints []*Endpoint
	File      string
	Line      int
	// Check is the health check of every endpoint, nil for none.
	Check       *check.Spec
	MinHealthy  check.MinHealthy
	AllDown     AllDown
	DegradedTTL uint32
	// FallbackAddresses are answered when AllDown is AllDownFallback.
	FallbackAddresses []*Endpoint

	// pools are the endpoints grouped by region for routing: IPv4 (and
	// CNAME) endpoints, IPv6 (and CNAME) endpoints, and every endpoint.
	pools [3]Pools
	// rr is the round robin position of the service's answers: selection
	// state that lives and dies with the snapshot, so nothing outside it
	// keeps an old snapshot's services alive.
	rr atomic.Uint64
}

// RoundRobin returns the service's round robin counter. It is the one
// thing of a snapshot that answering queries writes.
func (s *Service) RoundRobin() *atomic.Uint64 { return &s.rr }

// Pools are a service's endpoints of one address family grouped by region,
// compiled with the snapshot so that routing a query neither scans nor
// copies the endpoint list.
type Pools struct {
	// Regions are the zone's regions that have endpoints of the family, in
	// zone file order.
	Regions []Pool
	// Weight is the total weight of the family's endpoints.
	Weight int
	// index maps a Region.Index to its position in Regions, -1 for none.
	index []int
}

// Pool is the endpoints of one region of a service that serve one family.
type Pool struct {
	Region *Region
	// Endpoints are in the service's file order. They are shared by every
	// query: callers must not modify them.
	Endpoints []*Endpoint
	// Weight is the total weight of Endpoints.
	Weight int
	// ring is Endpoints twice over, so that every rotation of the pool is
	// one slice of it.
	ring []*Endpoint
}

// Region returns the pool of region reg, or nil when reg has no endpoints
// of the family.
func (p *Pools) Region(reg *Region) *Pool {
	if reg == nil || reg.Index < 0 || reg.Index >= len(p.index) || p.index[reg.Index] < 0 {
		return nil
	}
	if pool := &p.Regions[p.index[reg.Index]]; pool.Region == reg {
		return pool
	}
	return nil
}

// Run returns the n endpoints of the pool from position i on, wrapping
// around to the start, as a slice shared with the snapshot: callers must
// not modify it (appending copies, its capacity is n). It needs 0 <= i <
// len(Endpoints) and 0 <= n <= len(Endpoints).
func (p *Pool) Run(i, n int) []*Endpoint { return p.ring[i : i+n : i+n] }

// Pools returns the service's endpoints that answer qtype, by region. Like
// Endpoint.Serves, every type but AAAA counts as IPv4.
func (s *Service) Pools(qtype uint16) *Pools {
	if qtype == dns.TypeAAAA {
		return &s.pools[1]
	}
	return &s.pools[0]
}

// AllPools returns every endpoint of the service, of both families, by
// region.
func (s *Service) AllPools() *Pools { return &s.pools[2] }

// buildPools groups the endpoints of s by region for Pools and AllPools.
func (s *Service) buildPools() {
	families := [3]func(*Endpoint) bool{(*Endpoint).Is4, (*Endpoint).Is6, func(*Endpoint) bool { return true }}
	regions := s.Zone.regions
	for f, serves := range families {
		p := &s.pools[f]
		p.index = make([]int, len(regions))
		for i, reg := range regions {
			p.index[i] = -1
			pool := Pool{Region: reg}
			for _, ep := range s.Endpoints {
				if ep.Region == reg && serves(ep) {
					pool.Endpoints = append(pool.Endpoints, ep)
					pool.Weight += ep.Weight
				}
			}
			if len(pool.Endpoints) == 0 {
				continue
			}
			n := len(pool.Endpoints)
			pool.ring = append(pool.Endpoints[:n:n], pool.Endpoints...)
			pool.Endpoints = pool.ring[:n:n]
			p.index[i] = len(p.Regions)
			p.Regions = append(p.Regions, pool)
			p.Weight += pool.Weight
		}
	}
}

// Regions returns the zone's regions in file order.
func (z *Zone) Regions() []*Region { return z.regions }

// Region returns the region with the given name, or nil.
func (z *Zone) Region(name string) *Region {
	for _, r := range z.regions {
		if r.Name == name {
			return r
		}
	}
	return nil
}

// Services returns the zone's services in file order.
func (z *Zone) Services() []*Service { return z.services }

// Service returns the service at the given owner name (any case), or nil.
func (z *Zone) Service(name string) *Service {
	if n := z.nodes[dns.CanonicalName(name)]; n != nil {
		return n.service
	}
	return nil
}

// Default values of services.
const (
	defaultServiceTTL = 30
)

// addRegions compiles the regions of f, checking that no country,
// continent, subdivision, network or ASN is claimed by two regions.
func (b *builder) addRegions(f *File) {
	claimed := map[string]string{}
	claim := func(line int, what, key, region string) {
		if other, dup := claimed[what+" "+key]; dup {
			b.fail(b.path, line, "%s %s is mapped to both regions %s and %s", what, key, other, region)
			return
		}
		claimed[what+" "+key] = region
	}
	for i, name := range f.Regions.Keys {
		rf := f.Regions.Values[name]
		line := f.Regions.Lines[name]
		r := &Region{Name: name, Zone: b.zone, Index: i, Key: b.zone.Origin + "/" + name}
		if len(rf.Location) != 2 || rf.Location[0] < -90 || rf.Location[0] > 90 || rf.Location[1] < -180 || rf.Location[1] > 180 {
			b.fail(b.path, line, "region %s: location must be [latitude, longitude] within [-90, 90] and [-180, 180]", name)
		} else {
			r.Latitude, r.Longitude = rf.Location[0], rf.Location[1]
			r.Point = geo.PointAt(r.Latitude, r.Longitude)
		}
		for _, c := range rf.Countries {
			c = strings.ToUpper(c)
			if !geo.IsCountry(c) {
				b.fail(b.path, line, "region %s: %q is not an ISO 3166-1 country code", name, c)
				continue
			}
			claim(line, "country", c, name)
			r.Countries = append(r.Countries, c)
		}
		for _, c := range rf.Continents {
			c = strings.ToUpper(c)
			if !geo.IsContinent(c) {
				b.fail(b.path, line, "region %s: %q is not a continent code (AF AN AS EU NA OC SA)", name, c)
				continue
			}
			claim(line, "continent", c, name)
			r.Continents = append(r.Continents, c)
		}
		for _, s := range rf.Subdivisions {
			s = strings.ToUpper(s)
			cc, _, ok := strings.Cut(s, "-")
			if !ok || !geo.IsCountry(cc) {
				b.fail(b.path, line, "region %s: %q is not an ISO 3166-2 subdivision like US-CA", name, s)
				continue
			}
			claim(line, "subdivision", s, name)
			r.Subdivisions = append(r.Subdivisions, s)
		}
		for _, s := range rf.Networks {
			p, err := netip.ParsePrefix(s)
			if err != nil {
				b.fail(b.path, line, "region %s: %q is not a network like 203.0.113.0/24", name, s)
				continue
			}
			if p.Masked() != p {
				b.fail(b.path, line, "region %s: network %s has host bits set (did you mean %s?)", name, s, p.Masked())
				continue
			}
			claim(line, "network", p.String(), name)
			r.Networks = append(r.Networks, p)
		}
		for _, a := range rf.ASNs {
			claim(line, "ASN", strconv.FormatUint(uint64(a), 10), name)
			r.ASNs = append(r.ASNs, a)
		}
		b.zone.regions = append(b.zone.regions, r)
	}
	b.zone.buildMaps()
}

// addServices compiles the checks and services of f and places the
// services in the tree.
func (b *builder) addServices(f *File) {
	b.addChecks(f)
	defer b.warnDefaultPorts()
	for _, owner := range f.Services.Keys {
		sf := f.Services.Values[owner]
		line := f.Services.Lines[owner]
		name, err := fqdn(owner, b.zone.Origin)
		if err != nil || !dns.IsSubDomain(b.zone.Origin, name) {
			b.fail(b.path, line, "service %q: not a name in the zone %s", owner, b.zone.Origin)
			continue
		}
		if i := strings.LastIndex(name, "*"); i > 0 || (i == 0 && !strings.HasPrefix(name, "*.")) {
			b.fail(b.path, line, "service %q: a wildcard must be the whole first label, as in *.cdn", owner)
			continue
		}
		s := &Service{Name: name, Zone: b.zone, TTL: or(sf.TTL, defaultServiceTTL), Answers: 1, File: b.path, Line: line}
		if sf.Answers.set {
			s.Answers = sf.Answers.n
		}
		var ok bool
		if s.Routing, ok = routingNames[or2(sf.Routing, "nearest")]; !ok {
			b.fail(b.path, sf.line("routing", line), "service %s: routing %q is not nearest, failover or weighted%s",
				owner, sf.Routing, diag.DidYouMean(sf.Routing, slices.Sorted(maps.Keys(routingNames))))
		}
		if s.Select, ok = selectNames[or2(sf.Select, "weighted")]; !ok {
			b.fail(b.path, sf.line("select", line), "service %s: select %q is not one of weighted, round_robin, random, hash, first, all, fastest, least_loaded%s",
				owner, sf.Select, diag.DidYouMean(sf.Select, slices.Sorted(maps.Keys(selectNames))))
		}
		for _, rn := range sf.Fallback {
			r := b.zone.Region(rn)
			if r == nil {
				b.fail(b.path, sf.line("fallback", line), "service %s: fallback names unknown region %q%s", owner, rn, diag.DidYouMean(rn, f.Regions.Keys))
				continue
			}
			s.Fallback = append(s.Fallback, r)
		}
		if s.Routing == RouteFailover && len(sf.Fallback) == 0 {
			b.fail(b.path, sf.line("routing", line), "service %s: routing failover needs a fallback list of regions", owner)
		}
		b.serviceHealth(s, &sf, f, owner, line)
		if len(sf.Endpoints) == 0 {
			b.fail(b.path, line, "service %s: at least one endpoint is required", owner)
		}
		seen := map[string]bool{}
		for i, ef := range sf.Endpoints {
			ep, err := b.endpoint(s, ef, i, sf.Check, f.Regions.Keys)
			if err != nil {
				b.fail(b.path, ef.line, "service %s: %v", owner, err)
				continue
			}
			if seen[ep.Key] {
				b.fail(b.path, ef.line, "service %s: endpoint %s is listed twice", owner, ep.Key)
				continue
			}
			seen[ep.Key] = true
			// A check that is named but not defined has its own message;
			// the endpoints are not also blamed for it.
			if ef.CheckAddress != "" && sf.Check == "" {
				b.fail(b.path, ef.line, "service %s: check_address given but the service has no check", owner)
				continue
			}
			if s.Check != nil {
				if !ep.CheckAddress.IsValid() {
					b.fail(b.path, ef.line, "service %s: endpoint %s is a CNAME: give it a check_address to probe", owner, ep.Key)
					continue
				}
				ep.Checked = true
				ep.Target = check.Target{Spec: *s.Check, Address: ep.CheckAddress}
				ep.CheckKey = ep.Target.Key()
			}
			s.Endpoints = append(s.Endpoints, ep)
		}
		s.buildPools()
		b.placeService(s, line)
	}
}

func or2(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// endpoint compiles one endpoint of s, whose check is named check ("" for
// none) in a zone whose regions are named regions.
func (b *builder) endpoint(s *Service, ef EndpointFile, i int, check string, regions []string) (*Endpoint, error) {
	r := b.zone.Region(ef.Region)
	if r == nil {
		return nil, fmt.Errorf("unknown region %q%s", ef.Region, diag.DidYouMean(ef.Region, regions))
	}
	ep := &Endpoint{Region: r, Weight: 1, Index: i}
	if ef.Weight != nil {
		if *ef.Weight < 0 || *ef.Weight > 1_000_000 {
			return nil, fmt.Errorf("weight %d is outside 0..1000000", *ef.Weight)
		}
		ep.Weight = *ef.Weight
	}
	switch {
	case ef.Address != "" && ef.CNAME != "":
		return nil, fmt.Errorf("an endpoint has an address or a cname, not both")
	case ef.Address != "":
		a, err := netip.ParseAddr(ef.Address)
		if ap, perr := netip.ParseAddrPort(ef.Address); err != nil && perr == nil {
			why := "DNS answers carry no port"
			if check != "" {
				why = portAdvice(check, ap.Port())
			}
			return nil, fmt.Errorf("address %q has a port; an endpoint is an address only (%s)", ef.Address, why)
		}
		if err != nil || a.Zone() != "" {
			return nil, fmt.Errorf("%q is not an IP address", ef.Address)
		}
		ep.Address = a.Unmap()
		ep.Ident = ep.Address.String()
	case ef.CNAME != "":
		target, err := fqdn(ef.CNAME, b.zone.Origin)
		if err != nil {
			return nil, err
		}
		ep.CNAME = target
		ep.Ident = target
	default:
		return nil, fmt.Errorf("an endpoint needs an address or a cname")
	}
	ep.Service = s.Name
	ep.Key = s.Name + "/" + ep.Ident
	ep.CheckAddress = ep.Address
	if ef.CheckAddress != "" {
		a, err := netip.ParseAddr(ef.CheckAddress)
		if ap, perr := netip.ParseAddrPort(ef.CheckAddress); err != nil && perr == nil && check != "" {
			return nil, fmt.Errorf("check_address %q has a port; it is an address only (%s)", ef.CheckAddress, portAdvice(check, ap.Port()))
		}
		if err != nil {
			return nil, fmt.Errorf("check_address %q is not an IP address", ef.CheckAddress)
		}
		ep.CheckAddress = a.Unmap()
	}
	return ep, nil
}

// portAdvice says where the port of an endpoint's address belongs.
func portAdvice(check string, port uint16) string {
	return fmt.Sprintf("the check's port is probed: set port: %d under checks: %s", port, check)
}

// serviceHealth compiles the health settings of a service.
func (b *builder) serviceHealth(s *Service, sf *ServiceFile, f *File, owner string, line int) {
	if sf.Check != "" {
		c, ok := f.Checks.Values[sf.Check]
		if !ok {
			b.fail(b.path, sf.line("check", line), "service %s: check %q is not defined under checks:%s", owner, sf.Check, diag.DidYouMean(sf.Check, f.Checks.Keys))
		} else {
			spec := c.spec
			spec.Name = sf.Check
			s.Check = &spec
		}
	}
	if sf.MinHealthy != nil {
		s.MinHealthy = *sf.MinHealthy
	}
	var ok bool
	if s.AllDown, ok = allDownNames[or2(sf.AllDown, "serve_all")]; !ok {
		b.fail(b.path, sf.line("all_down", line), "service %s: all_down %q is not serve_all, nodata or fallback%s",
			owner, sf.AllDown, diag.DidYouMean(sf.AllDown, slices.Sorted(maps.Keys(allDownNames))))
	}
	if s.AllDown == AllDownFallback && len(sf.FallbackAddresses) == 0 {
		b.fail(b.path, sf.line("all_down", line), "service %s: all_down fallback needs fallback_addresses", owner)
	}
	for _, a := range sf.FallbackAddresses {
		addr, err := netip.ParseAddr(a)
		if err != nil {
			b.fail(b.path, sf.line("fallback_addresses", line), "service %s: fallback address %q is not an IP address", owner, a)
			continue
		}
		addr = addr.Unmap()
		s.FallbackAddresses = append(s.FallbackAddresses, &Endpoint{Address: addr, Weight: 1, Service: s.Name, Ident: addr.String(), Key: s.Name + "/" + addr.String()})
	}
	s.DegradedTTL = min(or(sf.DegradedTTL, DefaultDegradedTTL), s.TTL)
}

// Targets returns what the health checker must probe for every service of
// every zone, one entry per checked endpoint (the checker merges equal
// targets).
func (s *Snapshot) Targets() []check.Target {
	var out []check.Target
	for _, z := range s.list {
		for _, svc := range z.services {
			for _, ep := range svc.Endpoints {
				if ep.Checked {
					out = append(out, ep.Target)
				}
			}
		}
	}
	return out
}

// placeService puts s at its owner name, refusing static data that would
// answer the same types.
func (b *builder) placeService(s *Service, line int) {
	n := b.zone.nodes[s.Name]
	if n == nil {
		n = &node{name: s.Name, line: int32(line)}
		b.zone.nodes[s.Name] = n
		b.addParents(s.Name)
	}
	file, nline := b.where(n)
	for _, t := range []uint16{dns.TypeA, dns.TypeAAAA, dns.TypeCNAME} {
		if n.get(t) != nil {
			b.fail(b.path, line, "%s is a service and also has static %s records (at %s:%d); a name is one or the other for A/AAAA",
				s.Name, dns.TypeToString[t], file, nline)
			return
		}
	}
	if n.service != nil {
		b.fail(b.path, line, "service %s is defined twice", s.Name)
		return
	}
	n.service = s
	b.zone.services = append(b.zone.services, s)
}

// Mapping is one entry of a zone's explicit client maps: the region it
// sends clients to and the rule text an explanation gives for it, built
// once with the snapshot so that routing a query does not assemble it.
type Mapping struct {
	Region *Region
	// Rule names the entry: "network 203.0.113.0/24", "asn 64500",
	// "subdivision US-CA", "country US" or "continent EU".
	Rule string
	// Network is the networks entry, for a network mapping.
	Network netip.Prefix
}

// regionMaps are a zone's explicit client maps, compiled for lookup.
type regionMaps struct {
	countries    codeMap
	continents   codeMap
	subdivisions map[string]*Mapping
	asns         map[uint32]*Mapping
	// networks is keyed by masked prefix; bits lists the prefix lengths in
	// use, longest first, so a lookup masks the client once per length.
	networks map[netip.Prefix]*Mapping
	bits4    []int
	bits6    []int
	// sorted is the networks entries in address order, each family's
	// together, for LongestNetworkWithin.
	sorted []netip.Prefix
}

func (z *Zone) buildMaps() {
	m := regionMaps{
		subdivisions: map[string]*Mapping{}, asns: map[uint32]*Mapping{}, networks: map[netip.Prefix]*Mapping{},
	}
	seen4, seen6 := map[int]bool{}, map[int]bool{}
	for _, r := range z.regions {
		for _, c := range r.Countries {
			m.countries.set(c, &Mapping{Region: r, Rule: "country " + c})
		}
		for _, c := range r.Continents {
			m.continents.set(c, &Mapping{Region: r, Rule: "continent " + c})
		}
		for _, s := range r.Subdivisions {
			m.subdivisions[s] = &Mapping{Region: r, Rule: "subdivision " + s}
		}
		for _, a := range r.ASNs {
			m.asns[a] = &Mapping{Region: r, Rule: "asn " + strconv.FormatUint(uint64(a), 10)}
		}
		for _, p := range r.Networks {
			m.networks[p] = &Mapping{Region: r, Rule: "network " + p.String(), Network: p}
			if p.Addr().Is4() && !seen4[p.Bits()] {
				seen4[p.Bits()] = true
				m.bits4 = append(m.bits4, p.Bits())
			} else if !p.Addr().Is4() && !seen6[p.Bits()] {
				seen6[p.Bits()] = true
				m.bits6 = append(m.bits6, p.Bits())
			}
		}
	}
	sortDesc(m.bits4)
	sortDesc(m.bits6)
	for p := range m.networks {
		m.sorted = append(m.sorted, p)
	}
	slices.SortFunc(m.sorted, func(a, b netip.Prefix) int { return a.Addr().Compare(b.Addr()) })
	z.maps = m
}

// codeMap maps two-letter upper-case codes (countries, continents) to
// mappings by direct index: one load per query, where a map of strings
// hashes and compares. It takes no room until a code is set.
type codeMap struct {
	m *[geo.CodeCount]*Mapping
}

// set maps code. Validation admits only codes of the geo tables, two
// upper-case letters; set ignores anything else.
func (c *codeMap) set(code string, m *Mapping) {
	i, ok := geo.CodeIndex(code)
	if !ok {
		return
	}
	if c.m == nil {
		c.m = new([geo.CodeCount]*Mapping)
	}
	c.m[i] = m
}

// get returns the mapping of code, or nil.
func (c codeMap) get(code string) *Mapping {
	if c.m == nil {
		return nil
	}
	if i, ok := geo.CodeIndex(code); ok {
		return c.m[i]
	}
	return nil
}

func sortDesc(v []int) {
	for i := 1; i < len(v); i++ {
		for j := i; j > 0 && v[j] > v[j-1]; j-- {
			v[j], v[j-1] = v[j-1], v[j]
		}
	}
}

// MatchNetwork returns the networks entry that most specifically contains
// addr, or nil.
func (z *Zone) MatchNetwork(addr netip.Addr) *Mapping {
	bits := z.maps.bits6
	if addr.Is4() {
		bits = z.maps.bits4
	}
	for _, b := range bits {
		p, _ := addr.Prefix(b)
		if m := z.maps.networks[p]; m != nil {
			return m
		}
	}
	return nil
}

// HasNetworks reports whether the zone maps any client network to a
// region: only then does a client's region depend on its address beyond
// what the GeoIP databases say of it.
func (z *Zone) HasNetworks() bool { return len(z.maps.networks) > 0 }

// MatchASN returns the mapping of the ASN, or nil.
func (z *Zone) MatchASN(asn uint32) *Mapping { return z.maps.asns[asn] }

// MatchSubdivision returns the mapping of an ISO 3166-2 code, or nil.
func (z *Zone) MatchSubdivision(s string) *Mapping { return z.maps.subdivisions[s] }

// MatchCountry returns the mapping of a country code, or nil.
func (z *Zone) MatchCountry(cc string) *Mapping { return z.maps.countries.get(cc) }

// MatchContinent returns the mapping of a continent code, or nil.
func (z *Zone) MatchContinent(c string) *Mapping { return z.maps.continents.get(c) }

// LongestNetworkWithin returns the longest networks entry of any region
// inside p (0 when none): answers within p can differ down to that length,
// which bounds the ECS scope a reply may claim.
func (z *Zone) LongestNetworkWithin(p netip.Prefix) int {
	if !p.IsValid() {
		return 0
	}
	// Entries are masked, so those inside p are the run of entries whose
	// address p contains, starting at p's first address.
	sorted := z.maps.sorted
	i, _ := slices.BinarySearchFunc(sorted, p.Masked().Addr(), func(q netip.Prefix, a netip.Addr) int { return q.Addr().Compare(a) })
	longest := 0
	for _, q := range sorted[i:] {
		if !p.Contains(q.Addr()) {
			break
		}
		if q.Bits() > p.Bits() && q.Bits() > longest {
			longest = q.Bits()
		}
	}
	return longest
}
