package routing

import (
	"fmt"
	"math"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/miekg/dns"

	"github.com/meridian-dns/meridian/geo"
	"github.com/meridian-dns/meridian/geo/geotest"
	"github.com/meridian-dns/meridian/geo/mmdbbuild"
	"github.com/meridian-dns/meridian/zones"
)

// zoneHeader is the apex of every zone these tests load.
const zoneHeader = `
zone: example.com.
soa: {mname: ns1.example.com., rname: hostmaster.example.com., serial: 1, minimum: 60}
ns: [ns1.example.com.]
records: |
  ns1 IN A 192.0.2.53
`

// testRegions are the issue example's regions with one mapping of each kind
// added, so that every level of the explicit maps can be the deciding one:
// Iceland (EU) is mapped by country to us-east, AS64501 to eu-west, Florida
// to sa-east, and 20.6.7.0/24 (inside a GeoIP /16 of AS64501) to ap-south.
const testRegions = `
regions:
  us-east:  { location: [39.04, -77.49], countries: [US, CA, MX, IS] }
  eu-west:  { location: [53.35, -6.26],  continents: [EU, AF], asns: [64501] }
  ap-south: { location: [1.35, 103.82],  continents: [AS, OC], networks: [203.0.113.0/24, 20.6.7.0/24, "2001:db8:ff::/48"], asns: [64500] }
  sa-east:  { location: [-23.55, -46.63], subdivisions: [US-FL] }
`

// testServices are the issue example's www service and one service per
// routing mode and selection policy. The selection services live in
// us-east, the default region, so a router without GeoIP reaches them.
const testServices = `
services:
  www:
    ttl: 30
    routing: nearest
    select: weighted
    answers: 2
    fallback: [us-east, eu-west]
    endpoints:
      - { region: us-east, address: 192.0.2.10, weight: 3 }
      - { region: us-east, address: 192.0.2.11 }
      - { region: us-east, address: "2001:db8::10" }
      - { region: eu-west, address: 198.51.100.10 }
      - { region: ap-south, address: 203.0.113.10 }
      - { region: sa-east, cname: sa-lb.example.net. }
  v4:
    endpoints:
      - { region: us-east, address: 192.0.2.20 }
      - { region: eu-west, address: 198.51.100.20 }
  near:
    ttl: 60
    endpoints:
      - { region: us-east, address: 192.0.2.30 }
      - { region: eu-west, address: 198.51.100.30 }
      - { region: ap-south, address: 203.0.113.30 }
      - { region: sa-east, address: 192.0.2.31 }
  fo:
    routing: failover
    fallback: [eu-west, us-east]
    endpoints:
      - { region: us-east, address: 192.0.2.40 }
      - { region: eu-west, address: 198.51.100.40 }
      - { region: ap-south, address: 203.0.113.40 }
  fo-hash:
    routing: failover
    select: hash
    fallback: [eu-west, us-east]
    endpoints:
      - { region: us-east, address: 192.0.2.41 }
      - { region: eu-west, address: 198.51.100.41 }
      - { region: eu-west, address: "2001:db8:2::41" }
  wr:
    routing: weighted
    endpoints:
      - { region: us-east, address: 192.0.2.50, weight: 3 }
      - { region: us-east, address: 192.0.2.51 }
      - { region: eu-west, address: 198.51.100.50, weight: 2 }
      - { region: ap-south, address: 203.0.113.50, weight: 2 }
  sticky:
    select: hash
    endpoints:
      - { region: us-east, address: 192.0.2.60 }
      - { region: eu-west, address: 198.51.100.60 }
      - { region: eu-west, address: "2001:db8:2::60" }
  sel-weighted:
    endpoints:
      - { region: us-east, address: 192.0.2.1, weight: 3 }
      - { region: us-east, address: 192.0.2.2 }
  sel-weighted2:
    answers: 2
    endpoints:
      - { region: us-east, address: 192.0.2.1, weight: 3 }
      - { region: us-east, address: 192.0.2.2 }
  sel-rr:
    select: round_robin
    endpoints:
      - { region: us-east, address: 192.0.2.1 }
      - { region: us-east, address: 192.0.2.2 }
      - { region: us-east, address: 192.0.2.3 }
  sel-rr2:
    select: round_robin
    answers: 2
    endpoints:
      - { region: us-east, address: 192.0.2.1 }
      - { region: us-east, address: 192.0.2.2 }
      - { region: us-east, address: 192.0.2.3 }
  sel-random:
    select: random
    endpoints:
      - { region: us-east, address: 192.0.2.1 }
      - { region: us-east, address: 192.0.2.2 }
      - { region: us-east, address: 192.0.2.3 }
      - { region: us-east, address: 192.0.2.4 }
  sel-random2:
    select: random
    answers: 2
    endpoints:
      - { region: us-east, address: 192.0.2.1 }
      - { region: us-east, address: 192.0.2.2 }
      - { region: us-east, address: 192.0.2.3 }
      - { region: us-east, address: 192.0.2.4 }
  sel-first:
    select: first
    answers: 2
    endpoints:
      - { region: us-east, address: 192.0.2.1 }
      - { region: us-east, address: 192.0.2.2 }
      - { region: us-east, address: 192.0.2.3 }
  sel-all:
    select: all
    answers: 1
    endpoints:
      - { region: us-east, address: 192.0.2.1 }
      - { region: us-east, address: 192.0.2.2 }
      - { region: us-east, address: 192.0.2.3 }
  sel-first-zero:
    select: first
    answers: 2
    endpoints:
      - { region: us-east, address: 192.0.2.1, weight: 0 }
      - { region: us-east, address: 192.0.2.2 }
      - { region: us-east, address: 192.0.2.3 }
      - { region: us-east, address: 192.0.2.4 }
  sel-all-zero:
    select: all
    endpoints:
      - { region: us-east, address: 192.0.2.1, weight: 0 }
      - { region: us-east, address: 192.0.2.2, weight: 0 }
      - { region: us-east, address: 192.0.2.3, weight: 0 }
  sel-answers-all:
    answers: all
    endpoints:
      - { region: us-east, address: 192.0.2.1, weight: 5 }
      - { region: us-east, address: 192.0.2.2 }
      - { region: us-east, address: 192.0.2.3 }
  sel-zero:
    answers: 2
    endpoints:
      - { region: us-east, address: 192.0.2.1, weight: 0 }
      - { region: us-east, address: 192.0.2.2, weight: 2 }
      - { region: us-east, address: 192.0.2.3 }
  sel-hash-weighted:
    select: hash
    endpoints:
      - { region: us-east, address: 192.0.2.1, weight: 3 }
      - { region: us-east, address: 192.0.2.2 }
`

// City coordinates used by the GeoIP records.
var (
	miami     = [2]float64{25.76, -80.19}
	reykjavik = [2]float64{64.15, -21.94}
	paris     = [2]float64{48.86, 2.35}
	lyon      = [2]float64{45.76, 4.84}
	tokyo     = [2]float64{35.68, 139.69}
	newYork   = [2]float64{40.71, -74.01}
	cairo     = [2]float64{30.04, 31.24}
	sydney    = [2]float64{-33.87, 151.21}
	berlin    = [2]float64{52.52, 13.40}
	saoPaulo  = [2]float64{-23.55, -46.63}
	singapore = [2]float64{1.35, 103.82}
)

func at(e mmdbbuild.Entry, c [2]float64) mmdbbuild.Entry {
	e.Latitude, e.Longitude, e.HasCoordinates = c[0], c[1], true
	return e
}

func pfx(s string) netip.Prefix { return netip.MustParsePrefix(s) }

// testNetworks is the synthetic GeoIP data: IPv4 /16s and IPv6 /48s on
// every continent, each shaped for the rule it exercises.
var testNetworks = []mmdbbuild.Entry{
	at(mmdbbuild.Entry{Network: pfx("203.0.113.0/24"), Country: "SG", Continent: "AS", ASN: 64501}, singapore),
	at(mmdbbuild.Entry{Network: pfx("20.1.0.0/16"), Country: "US", Continent: "NA", Subdivision: "US-FL", ASN: 64500}, miami),
	at(mmdbbuild.Entry{Network: pfx("20.2.0.0/16"), Country: "US", Continent: "NA", Subdivision: "US-FL", ASN: 65000}, miami),
	at(mmdbbuild.Entry{Network: pfx("20.3.0.0/16"), Country: "IS", Continent: "EU"}, reykjavik),
	at(mmdbbuild.Entry{Network: pfx("20.4.0.0/16"), Country: "FR", Continent: "EU"}, paris),
	at(mmdbbuild.Entry{Network: pfx("20.5.0.0/16")}, tokyo),
	at(mmdbbuild.Entry{Network: pfx("20.6.0.0/16"), Country: "FR", Continent: "EU", ASN: 64501}, lyon),
	at(mmdbbuild.Entry{Network: pfx("20.8.0.0/16"), Country: "US", Continent: "NA", Subdivision: "US-NY"}, newYork),
	at(mmdbbuild.Entry{Network: pfx("20.9.0.0/16"), Country: "EG", Continent: "AF"}, cairo),
	{Network: pfx("20.10.0.0/16"), Country: "AR"},
	{Network: pfx("20.11.0.0/16"), Continent: "SA"},
	{Network: pfx("20.12.0.0/16"), ASN: 65001},
	at(mmdbbuild.Entry{Network: pfx("20.13.0.0/16"), Country: "AU", Continent: "OC"}, sydney),
	{Network: pfx("20.14.0.0/16"), Continent: "NA"},
	at(mmdbbuild.Entry{Network: pfx("2001:db8:1::/48"), Country: "US", Continent: "NA", Subdivision: "US-NY"}, newYork),
	at(mmdbbuild.Entry{Network: pfx("2001:db8:2::/48"), Country: "DE", Continent: "EU"}, berlin),
	at(mmdbbuild.Entry{Network: pfx("2001:db8:3::/48"), Country: "AU", Continent: "OC"}, sydney),
	at(mmdbbuild.Entry{Network: pfx("2001:db8:4::/48"), Country: "BR", Continent: "SA"}, saoPaulo),
	at(mmdbbuild.Entry{Network: pfx("2001:db8:ff::/48"), Country: "DE", Continent: "EU"}, berlin),
}

// loadZone loads example.com from the given regions and services.
func loadZone(t testing.TB, body string) *zones.Zone {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "example.com.yaml"), []byte(zoneHeader+body), 0o644); err != nil {
		t.Fatal(err)
	}
	snap, err := zones.Load(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	return snap.Zone("example.com.")
}

func testZone(t testing.TB) *zones.Zone { return loadZone(t, testRegions+testServices) }

func testGeo(t testing.TB) *geo.Databases {
	t.Helper()
	db, err := geo.Open(geo.Paths{City: geotest.WriteMMDB(t, testNetworks)})
	if err != nil {
		t.Fatal(err)
	}
	return db
}

// splitMix64 is a deterministic SplitMix64 generator. Its state advances
// with one atomic add, so it is safe for concurrent use.
func splitMix64(seed uint64) func() uint64 {
	var state atomic.Uint64
	state.Store(seed)
	return func() uint64 {
		z := state.Add(0x9e3779b97f4a7c15)
		z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
		z = (z ^ z>>27) * 0x94d049bb133111eb
		return z ^ z>>31
	}
}

const seed = 0x5eed_2024

func newRouter(t testing.TB, locator Locator, health Health) *Router {
	t.Helper()
	r := New(locator, health)
	r.SetRand(splitMix64(seed))
	return r
}

func service(t testing.TB, z *zones.Zone, name string) *zones.Service {
	t.Helper()
	s := z.Service(name + ".example.com.")
	if s == nil {
		t.Fatalf("no service %s", name)
	}
	return s
}

// client is a client with ECS source prefix bits (-1: none); with ECS its
// address is masked to the prefix, as a resolver sends it.
func client(ip string, bits int) Client {
	a := netip.MustParseAddr(ip)
	if bits >= 0 {
		p, err := a.Prefix(bits)
		if err != nil {
			panic(err)
		}
		a = p.Addr()
	}
	return Client{Addr: a, SourceBits: bits}
}

func endpointName(ep *zones.Endpoint) string {
	if ep.CNAME != "" {
		return "CNAME " + ep.CNAME
	}
	return ep.Address.String()
}

// names returns the endpoints' addresses (or CNAME targets), sorted.
func names(eps []*zones.Endpoint) []string {
	out := make([]string, len(eps))
	for i, ep := range eps {
		out[i] = endpointName(ep)
	}
	slices.Sort(out)
	return out
}

func regionName(r *zones.Region) string {
	if r == nil {
		return ""
	}
	return r.Name
}

var usEast = []string{"192.0.2.10", "192.0.2.11"}

func TestDecide(t *testing.T) {
	z := testZone(t)
	r := newRouter(t, testGeo(t), nil)
	A, AAAA := dns.TypeA, dns.TypeAAAA
	tests := []struct {
		name      string
		service   string
		ip        string
		bits      int
		qtype     uint16
		rule      string // prefix of Decision.Rule
		preferred string
		region    string // "" means the same as preferred
		endpoints []string
		ttl       uint32
		scope     int
		noData    bool
	}{
		// The explicit maps, most specific first.
		{name: "network beats asn", service: "www", ip: "203.0.113.7", bits: -1, qtype: A,
			rule: "network 203.0.113.0/24", preferred: "ap-south", endpoints: []string{"203.0.113.10"}, ttl: 30},
		{name: "network beats asn and continent", service: "www", ip: "20.6.7.1", bits: -1, qtype: A,
			rule: "network 20.6.7.0/24", preferred: "ap-south", endpoints: []string{"203.0.113.10"}, ttl: 30},
		{name: "asn beats continent", service: "www", ip: "20.6.1.1", bits: -1, qtype: A,
			rule: "asn 64501", preferred: "eu-west", endpoints: []string{"198.51.100.10"}, ttl: 30},
		{name: "asn beats subdivision and country", service: "www", ip: "20.1.2.3", bits: -1, qtype: A,
			rule: "asn 64500", preferred: "ap-south", endpoints: []string{"203.0.113.10"}, ttl: 30},
		{name: "subdivision beats country", service: "www", ip: "20.2.2.3", bits: -1, qtype: A,
			rule: "subdivision US-FL", preferred: "sa-east", endpoints: []string{"CNAME sa-lb.example.net."}, ttl: 30},
		{name: "country beats continent", service: "www", ip: "20.3.2.3", bits: -1, qtype: A,
			rule: "country IS", preferred: "us-east", endpoints: usEast, ttl: 30},
		{name: "country", service: "www", ip: "20.8.1.1", bits: -1, qtype: A,
			rule: "country US", preferred: "us-east", endpoints: usEast, ttl: 30},
		{name: "continent EU", service: "www", ip: "20.4.1.1", bits: -1, qtype: A,
			rule: "continent EU", preferred: "eu-west", endpoints: []string{"198.51.100.10"}, ttl: 30},
		{name: "continent AF", service: "www", ip: "20.9.1.1", bits: -1, qtype: A,
			rule: "continent AF", preferred: "eu-west", endpoints: []string{"198.51.100.10"}, ttl: 30},
		{name: "continent OC", service: "near", ip: "20.13.1.1", bits: -1, qtype: A,
			rule: "continent OC", preferred: "ap-south", endpoints: []string{"203.0.113.30"}, ttl: 60},

		// Distance when no map applies.
		{name: "distance from coordinates only", service: "near", ip: "20.5.1.1", bits: -1, qtype: A,
			rule: "distance", preferred: "ap-south", endpoints: []string{"203.0.113.30"}, ttl: 60},
		{name: "distance from country centroid", service: "near", ip: "20.10.1.1", bits: -1, qtype: A,
			rule: "distance", preferred: "sa-east", endpoints: []string{"192.0.2.31"}, ttl: 60},
		{name: "distance from continent centroid SA", service: "near", ip: "20.11.1.1", bits: -1, qtype: A,
			rule: "distance", preferred: "sa-east", endpoints: []string{"192.0.2.31"}, ttl: 60},
		{name: "distance from continent centroid NA", service: "near", ip: "20.14.1.1", bits: -1, qtype: A,
			rule: "distance", preferred: "us-east", endpoints: []string{"192.0.2.30"}, ttl: 60},

		// Nothing places the client.
		{name: "unknown client gets the default region", service: "near", ip: "30.0.0.1", bits: -1, qtype: A,
			rule: "default region", preferred: "us-east", endpoints: []string{"192.0.2.30"}, ttl: 60},
		{name: "asn-only record gets the default region", service: "near", ip: "20.12.1.1", bits: -1, qtype: A,
			rule: "default region", preferred: "us-east", endpoints: []string{"192.0.2.30"}, ttl: 60},

		// IPv6 clients.
		{name: "ipv6 country", service: "www", ip: "2001:db8:1::1", bits: -1, qtype: A,
			rule: "country US", preferred: "us-east", endpoints: usEast, ttl: 30},
		{name: "ipv6 country AAAA", service: "www", ip: "2001:db8:1::1", bits: -1, qtype: AAAA,
			rule: "country US", preferred: "us-east", endpoints: []string{"2001:db8::10"}, ttl: 30},
		{name: "ipv6 continent", service: "www", ip: "2001:db8:2::1", bits: -1, qtype: A,
			rule: "continent EU", preferred: "eu-west", endpoints: []string{"198.51.100.10"}, ttl: 30},
		{name: "ipv6 continent OC", service: "www", ip: "2001:db8:3::1", bits: -1, qtype: A,
			rule: "continent OC", preferred: "ap-south", endpoints: []string{"203.0.113.10"}, ttl: 30},
		{name: "ipv6 distance", service: "www", ip: "2001:db8:4::1", bits: -1, qtype: A,
			rule: "distance", preferred: "sa-east", endpoints: []string{"CNAME sa-lb.example.net."}, ttl: 30},
		{name: "ipv6 network beats continent", service: "www", ip: "2001:db8:ff::1", bits: -1, qtype: A,
			rule: "network 2001:db8:ff::/48", preferred: "ap-south", endpoints: []string{"203.0.113.10"}, ttl: 30},

		// Families: regions without endpoints of the family are passed over.
		{name: "AAAA from Europe goes to the nearest region with AAAA", service: "www", ip: "20.4.1.1", bits: -1, qtype: AAAA,
			rule: "distance", preferred: "us-east", endpoints: []string{"2001:db8::10"}, ttl: 30},
		{name: "AAAA from ipv6 Europe", service: "www", ip: "2001:db8:2::1", bits: -1, qtype: AAAA,
			rule: "distance", preferred: "us-east", endpoints: []string{"2001:db8::10"}, ttl: 30},
		{name: "AAAA from Oceania: a CNAME endpoint serves both families", service: "www", ip: "20.13.1.1", bits: -1, qtype: AAAA,
			rule: "distance", preferred: "sa-east", endpoints: []string{"CNAME sa-lb.example.net."}, ttl: 30},
		{name: "family no region has", service: "v4", ip: "20.4.1.1", bits: -1, qtype: AAAA, noData: true},
		{name: "family no region has with ECS", service: "v4", ip: "20.4.1.1", bits: 24, qtype: AAAA, noData: true},
		{name: "v4 A", service: "v4", ip: "20.4.1.1", bits: -1, qtype: A,
			rule: "continent EU", preferred: "eu-west", endpoints: []string{"198.51.100.20"}, ttl: 30},

		// Routing modes other than nearest.
		{name: "failover routing uses the fallback order", service: "fo", ip: "20.8.1.1", bits: -1, qtype: A,
			rule: "failover order", preferred: "eu-west", endpoints: []string{"198.51.100.40"}, ttl: 30},
		{name: "failover routing ignores the networks map", service: "fo", ip: "203.0.113.7", bits: -1, qtype: A,
			rule: "failover order", preferred: "eu-west", endpoints: []string{"198.51.100.40"}, ttl: 30},

		// ECS scopes.
		{name: "scope of a networks entry", service: "www", ip: "203.0.113.0", bits: 24, qtype: A,
			rule: "network 203.0.113.0/24", preferred: "ap-south", endpoints: []string{"203.0.113.10"}, ttl: 30, scope: 24},
		{name: "scope of a networks entry below a longer source", service: "www", ip: "203.0.113.7", bits: 32, qtype: A,
			rule: "network 203.0.113.0/24", preferred: "ap-south", endpoints: []string{"203.0.113.10"}, ttl: 30, scope: 24},
		{name: "scope of an ipv6 networks entry", service: "www", ip: "2001:db8:ff:1200::", bits: 56, qtype: A,
			rule: "network 2001:db8:ff::/48", preferred: "ap-south", endpoints: []string{"203.0.113.10"}, ttl: 30, scope: 48},
		{name: "scope of an ipv4 GeoIP network is its ipv4 length", service: "www", ip: "20.4.1.0", bits: 24, qtype: A,
			rule: "continent EU", preferred: "eu-west", endpoints: []string{"198.51.100.10"}, ttl: 30, scope: 16},
		{name: "scope capped at the source prefix", service: "www", ip: "20.4.0.0", bits: 14, qtype: A,
			rule: "continent EU", preferred: "eu-west", endpoints: []string{"198.51.100.10"}, ttl: 30, scope: 14},
		{name: "scope raised to a networks entry inside the GeoIP network", service: "www", ip: "20.6.1.0", bits: 24, qtype: A,
			rule: "asn 64501", preferred: "eu-west", endpoints: []string{"198.51.100.10"}, ttl: 30, scope: 24},
		{name: "raised scope capped at the source prefix", service: "www", ip: "20.6.0.0", bits: 20, qtype: A,
			rule: "asn 64501", preferred: "eu-west", endpoints: []string{"198.51.100.10"}, ttl: 30, scope: 20},
		{name: "scope of an ipv6 GeoIP network", service: "www", ip: "2001:db8:2:1200::", bits: 56, qtype: A,
			rule: "continent EU", preferred: "eu-west", endpoints: []string{"198.51.100.10"}, ttl: 30, scope: 48},
		{name: "scope of a record that only has an ASN", service: "near", ip: "20.12.1.0", bits: 24, qtype: A,
			rule: "default region", preferred: "us-east", endpoints: []string{"192.0.2.30"}, ttl: 60, scope: 16},
		// The database knows nothing in 24.0.0.0/5 and 2001:db8:40::/42:
		// every client there gets the default region.
		{name: "scope of an unknown location is the network no database knows", service: "near", ip: "30.0.0.0", bits: 24, qtype: A,
			rule: "default region", preferred: "us-east", endpoints: []string{"192.0.2.30"}, ttl: 60, scope: 5},
		{name: "scope of an unknown ipv6 location is the network no database knows", service: "near", ip: "2001:db8:77::", bits: 56, qtype: A,
			rule: "default region", preferred: "us-east", endpoints: []string{"192.0.2.30"}, ttl: 60, scope: 42},
		{name: "scope of an unknown location held to the source prefix", service: "near", ip: "24.0.0.0", bits: 4, qtype: A,
			rule: "default region", preferred: "us-east", endpoints: []string{"192.0.2.30"}, ttl: 60, scope: 4},
		{name: "no ECS has scope 0", service: "www", ip: "20.4.1.1", bits: -1, qtype: A,
			rule: "continent EU", preferred: "eu-west", endpoints: []string{"198.51.100.10"}, ttl: 30, scope: 0},
		{name: "hash scope is at least /24", service: "sticky", ip: "20.4.1.0", bits: 24, qtype: A,
			rule: "continent EU", preferred: "eu-west", endpoints: []string{"198.51.100.60"}, ttl: 30, scope: 24},
		{name: "hash scope capped at the source prefix", service: "sticky", ip: "20.4.0.0", bits: 20, qtype: A,
			rule: "continent EU", preferred: "eu-west", endpoints: []string{"198.51.100.60"}, ttl: 30, scope: 20},
		{name: "hash scope is at least /56", service: "sticky", ip: "2001:db8:2:1200::", bits: 64, qtype: AAAA,
			rule: "continent EU", preferred: "eu-west", endpoints: []string{"2001:db8:2::60"}, ttl: 30, scope: 56},
		{name: "ipv6 hash scope capped at the source prefix", service: "sticky", ip: "2001:db8:2::", bits: 48, qtype: AAAA,
			rule: "continent EU", preferred: "eu-west", endpoints: []string{"2001:db8:2::60"}, ttl: 30, scope: 48},
		{name: "failover routing has scope 0", service: "fo", ip: "20.4.1.0", bits: 24, qtype: A,
			rule: "failover order", preferred: "eu-west", endpoints: []string{"198.51.100.40"}, ttl: 30, scope: 0},
		{name: "failover routing with hash has the hash scope", service: "fo-hash", ip: "20.4.1.0", bits: 24, qtype: A,
			rule: "failover order", preferred: "eu-west", endpoints: []string{"198.51.100.41"}, ttl: 30, scope: 24},
		{name: "failover routing with ipv6 hash", service: "fo-hash", ip: "2001:db8:2:1200::", bits: 64, qtype: AAAA,
			rule: "failover order", preferred: "eu-west", endpoints: []string{"2001:db8:2::41"}, ttl: 30, scope: 56},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := service(t, z, tc.service)
			d := r.Decide(s, tc.qtype, client(tc.ip, tc.bits), false)
			if d.NoData != tc.noData {
				t.Fatalf("NoData = %v, want %v (decision %+v)", d.NoData, tc.noData, d)
			}
			if tc.noData {
				if d.Region != nil || d.Preferred != nil || len(d.Endpoints) != 0 || d.Scope != 0 {
					t.Errorf("NODATA decision has region %s, preferred %s, endpoints %v, scope %d",
						regionName(d.Region), regionName(d.Preferred), names(d.Endpoints), d.Scope)
				}
				return
			}
			region := tc.region
			if region == "" {
				region = tc.preferred
			}
			if !strings.HasPrefix(d.Rule, tc.rule) {
				t.Errorf("Rule = %q, want prefix %q (location %s)", d.Rule, tc.rule, d.Location)
			}
			if got := regionName(d.Preferred); got != tc.preferred {
				t.Errorf("Preferred = %s, want %s", got, tc.preferred)
			}
			if got := regionName(d.Region); got != region {
				t.Errorf("Region = %s, want %s", got, region)
			}
			if got := names(d.Endpoints); !slices.Equal(got, tc.endpoints) {
				t.Errorf("Endpoints = %v, want %v", got, tc.endpoints)
			}
			if d.TTL != tc.ttl {
				t.Errorf("TTL = %d, want %d", d.TTL, tc.ttl)
			}
			if d.Scope != tc.scope {
				t.Errorf("Scope = %d, want %d (location %s)", d.Scope, tc.scope, d.Location)
			}
			if d.Degraded || d.AllDown {
				t.Errorf("Degraded = %v, AllDown = %v with every endpoint up", d.Degraded, d.AllDown)
			}
		})
	}
}

// TestDecideWithoutGeoIP checks a router with no locator: every client
// that no networks entry matches gets the first region of the file.
func TestDecideWithoutGeoIP(t *testing.T) {
	z := testZone(t)
	r := New(nil, nil)
	tests := []struct {
		ip, rule, region string
		bits, scope      int
	}{
		{ip: "20.4.1.1", bits: -1, rule: "default region", region: "us-east"},
		{ip: "20.4.1.0", bits: 24, rule: "default region", region: "us-east", scope: 24},
		{ip: "2001:db8:2::", bits: 48, rule: "default region", region: "us-east", scope: 48},
		{ip: "203.0.113.0", bits: 24, rule: "network 203.0.113.0/24", region: "ap-south", scope: 24},
	}
	for _, tc := range tests {
		d := r.Decide(service(t, z, "near"), dns.TypeA, client(tc.ip, tc.bits), false)
		if d.Rule != tc.rule || regionName(d.Region) != tc.region || d.Scope != tc.scope {
			t.Errorf("%s/%d: rule %q region %s scope %d, want %q %s %d",
				tc.ip, tc.bits, d.Rule, regionName(d.Region), d.Scope, tc.rule, tc.region, tc.scope)
		}
		if !d.Location.IsZero() {
			t.Errorf("%s: location %s without a locator", tc.ip, d.Location)
		}
	}
}

// testHealth reports the endpoints whose keys it lists as down or
// drained; a region stays up while one endpoint is. It is read-only once
// built, so it is safe for concurrent use.
type testHealth struct {
	down, drained map[string]bool
}

func newTestHealth(service string, down, drained []string) testHealth {
	h := testHealth{down: map[string]bool{}, drained: map[string]bool{}}
	for _, a := range down {
		h.down[service+".example.com./"+a] = true
	}
	for _, a := range drained {
		h.drained[service+".example.com./"+a] = true
	}
	return h
}

func (h testHealth) Endpoint(ep *zones.Endpoint) EndpointState {
	return EndpointState{Up: !h.down[ep.Key], Drained: h.drained[ep.Key], Load: -1}
}

func (testHealth) MinHealthy(*zones.Service, int) int { return 1 }

func TestDecideHealth(t *testing.T) {
	z := testZone(t)
	db := testGeo(t)
	tests := []struct {
		name            string
		service         string
		ip              string
		bits            int
		qtype           uint16
		down, drained   []string
		preferred       string
		region          string
		endpoints       []string
		ttl             uint32
		scope           int
		degraded        bool
		allDown         bool
		rule            string
		healthyCounts   map[string][2]int // region -> healthy, total (explain)
		candidateRegion []string          // order of candidates (explain)
	}{
		{name: "regions without the family are not candidates", service: "www", ip: "20.4.1.1", bits: -1, qtype: dns.TypeAAAA,
			preferred: "us-east", region: "us-east", endpoints: []string{"2001:db8::10"}, ttl: 30,
			rule: "distance", candidateRegion: []string{"us-east", "sa-east"}},
		{name: "one endpoint down: the region still answers", service: "www", ip: "20.8.1.1", bits: -1, qtype: dns.TypeA,
			down: []string{"192.0.2.10"}, preferred: "us-east", region: "us-east", endpoints: []string{"192.0.2.11"}, ttl: 30,
			rule: "country US"},
		{name: "preferred down: next in the fallback list", service: "www", ip: "20.4.1.1", bits: -1, qtype: dns.TypeA,
			down: []string{"198.51.100.10"}, preferred: "eu-west", region: "us-east", endpoints: usEast, ttl: 10, degraded: true,
			rule:            "continent EU",
			candidateRegion: []string{"eu-west", "us-east", "sa-east", "ap-south"},
			healthyCounts:   map[string][2]int{"eu-west": {0, 1}, "us-east": {2, 2}, "sa-east": {1, 1}, "ap-south": {1, 1}}},
		{name: "fallback list before distance", service: "www", ip: "20.13.1.1", bits: -1, qtype: dns.TypeA,
			down: []string{"203.0.113.10"}, preferred: "ap-south", region: "us-east", endpoints: usEast, ttl: 10, degraded: true,
			rule: "continent OC", candidateRegion: []string{"ap-south", "us-east", "eu-west", "sa-east"}},
		{name: "without fallback: next by distance", service: "near", ip: "20.13.1.1", bits: -1, qtype: dns.TypeA,
			down: []string{"203.0.113.30"}, preferred: "ap-south", region: "sa-east", endpoints: []string{"192.0.2.31"}, ttl: 10, degraded: true,
			rule: "continent OC", candidateRegion: []string{"ap-south", "sa-east", "us-east", "eu-west"}},
		{name: "without fallback: next by distance from Tokyo", service: "near", ip: "20.5.1.1", bits: -1, qtype: dns.TypeA,
			down: []string{"203.0.113.30"}, preferred: "ap-south", region: "eu-west", endpoints: []string{"198.51.100.30"}, ttl: 10, degraded: true,
			rule: "distance"},
		{name: "two regions down", service: "near", ip: "20.13.1.1", bits: -1, qtype: dns.TypeA,
			down: []string{"203.0.113.30", "192.0.2.31"}, preferred: "ap-south", region: "us-east", endpoints: []string{"192.0.2.30"}, ttl: 10, degraded: true,
			rule: "continent OC"},
		{name: "all down: serve the preferred region", service: "near", ip: "20.4.1.1", bits: -1, qtype: dns.TypeA,
			down:      []string{"192.0.2.30", "198.51.100.30", "203.0.113.30", "192.0.2.31"},
			preferred: "eu-west", region: "eu-west", endpoints: []string{"198.51.100.30"}, ttl: 10, degraded: true, allDown: true,
			rule: "continent EU"},
		{name: "all down with answers 2", service: "www", ip: "20.8.1.1", bits: -1, qtype: dns.TypeA,
			down:      []string{"192.0.2.10", "192.0.2.11", "198.51.100.10", "203.0.113.10", "sa-lb.example.net."},
			preferred: "us-east", region: "us-east", endpoints: usEast, ttl: 10, degraded: true, allDown: true,
			rule: "country US"},
		{name: "drained endpoint gets no answers", service: "www", ip: "20.8.1.1", bits: -1, qtype: dns.TypeA,
			drained: []string{"192.0.2.10"}, preferred: "us-east", region: "us-east", endpoints: []string{"192.0.2.11"}, ttl: 30,
			rule: "country US"},
		{name: "drained region fails over", service: "www", ip: "20.4.1.1", bits: -1, qtype: dns.TypeA,
			drained: []string{"198.51.100.10"}, preferred: "eu-west", region: "us-east", endpoints: usEast, ttl: 10, degraded: true,
			rule: "continent EU", healthyCounts: map[string][2]int{"eu-west": {1, 1}}},
		{name: "failover routing: next in the list", service: "fo", ip: "20.8.1.1", bits: -1, qtype: dns.TypeA,
			down: []string{"198.51.100.40"}, preferred: "eu-west", region: "us-east", endpoints: []string{"192.0.2.40"}, ttl: 10, degraded: true,
			rule: "failover order"},
		{name: "failover routing: past the list", service: "fo", ip: "20.8.1.1", bits: -1, qtype: dns.TypeA,
			down: []string{"198.51.100.40", "192.0.2.40"}, preferred: "eu-west", region: "ap-south", endpoints: []string{"203.0.113.40"}, ttl: 10, degraded: true,
			rule: "failover order"},
		{name: "degraded nearest answer keeps the location scope", service: "near", ip: "20.5.1.0", bits: 24, qtype: dns.TypeA,
			down: []string{"203.0.113.30"}, preferred: "ap-south", region: "eu-west", endpoints: []string{"198.51.100.30"}, ttl: 10, degraded: true,
			rule: "distance", scope: 16},
		{name: "weight 0 only when no positive weight is up", service: "sel-zero", ip: "30.0.0.1", bits: -1, qtype: dns.TypeA,
			down: []string{"192.0.2.2", "192.0.2.3"}, preferred: "us-east", region: "us-east", endpoints: []string{"192.0.2.1"}, ttl: 30,
			rule: "default region"},
		{name: "weight 0 not used while one positive weight is up", service: "sel-zero", ip: "30.0.0.1", bits: -1, qtype: dns.TypeA,
			down: []string{"192.0.2.2"}, preferred: "us-east", region: "us-east", endpoints: []string{"192.0.2.3"}, ttl: 30,
			rule: "default region"},
		{name: "weight 0 not used when the positive one is drained", service: "sel-zero", ip: "30.0.0.1", bits: -1, qtype: dns.TypeA,
			down: []string{"192.0.2.2"}, drained: []string{"192.0.2.3"}, preferred: "us-east", region: "us-east", endpoints: []string{"192.0.2.1"}, ttl: 30,
			rule: "default region"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newRouter(t, db, newTestHealth(tc.service, tc.down, tc.drained))
			s := service(t, z, tc.service)
			for _, explain := range []bool{false, true} {
				d := r.Decide(s, tc.qtype, client(tc.ip, tc.bits), explain)
				if !strings.HasPrefix(d.Rule, tc.rule) {
					t.Errorf("explain=%v: Rule = %q, want prefix %q", explain, d.Rule, tc.rule)
				}
				if got := regionName(d.Preferred); got != tc.preferred {
					t.Errorf("explain=%v: Preferred = %s, want %s", explain, got, tc.preferred)
				}
				if got := regionName(d.Region); got != tc.region {
					t.Errorf("explain=%v: Region = %s, want %s", explain, got, tc.region)
				}
				if got := names(d.Endpoints); !slices.Equal(got, tc.endpoints) {
					t.Errorf("explain=%v: Endpoints = %v, want %v", explain, got, tc.endpoints)
				}
				if d.TTL != tc.ttl || d.Scope != tc.scope || d.Degraded != tc.degraded || d.AllDown != tc.allDown {
					t.Errorf("explain=%v: TTL %d scope %d degraded %v allDown %v, want %d %d %v %v",
						explain, d.TTL, d.Scope, d.Degraded, d.AllDown, tc.ttl, tc.scope, tc.degraded, tc.allDown)
				}
				if !explain {
					if d.Candidates != nil {
						t.Errorf("Candidates filled without explain: %v", d.Candidates)
					}
					continue
				}
				var order []string
				for _, c := range d.Candidates {
					order = append(order, c.Region.Name)
					if want, ok := tc.healthyCounts[c.Region.Name]; ok && (c.Healthy != want[0] || c.Total != want[1]) {
						t.Errorf("candidate %s: %d/%d healthy, want %d/%d", c.Region.Name, c.Healthy, c.Total, want[0], want[1])
					}
					if d.Location.HasCoordinates && c.Distance < 0 {
						t.Errorf("candidate %s: distance unknown for a located client", c.Region.Name)
					}
				}
				if tc.candidateRegion != nil && !slices.Equal(order, tc.candidateRegion) {
					t.Errorf("candidates %v, want %v", order, tc.candidateRegion)
				}
				if len(order) == 0 || order[0] != tc.preferred {
					t.Errorf("first candidate of %v is not the preferred region %s", order, tc.preferred)
				}
			}
		})
	}
}

// share draws n decisions and returns the share of answers each endpoint
// (or region, when byRegion) got.
func share(r *Router, s *zones.Service, c Client, n int, byRegion bool) map[string]float64 {
	counts := map[string]int{}
	total := 0
	for range n {
		d := r.Decide(s, dns.TypeA, c, false)
		if byRegion {
			counts[d.Region.Name]++
			total++
			continue
		}
		for _, ep := range d.Endpoints {
			counts[endpointName(ep)]++
			total++
		}
	}
	out := map[string]float64{}
	for k, v := range counts {
		out[k] = float64(v) / float64(total)
	}
	return out
}

func checkShares(t *testing.T, got, want map[string]float64, tolerance float64) {
	t.Helper()
	for k, w := range want {
		if math.Abs(got[k]-w) > tolerance {
			t.Errorf("share of %s = %.3f, want %.3f ± %.2f (all: %v)", k, got[k], w, tolerance, got)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("unexpected answer %s (all: %v)", k, got)
		}
	}
}

func TestWeightedRouting(t *testing.T) {
	z := testZone(t)
	r := newRouter(t, testGeo(t), nil)
	s := service(t, z, "wr")
	// us-east weighs 3+1, eu-west 2, ap-south 2, wherever the client is.
	for _, ip := range []string{"20.4.1.1", "203.0.113.7"} {
		got := share(r, s, client(ip, -1), 20000, true)
		checkShares(t, got, map[string]float64{"us-east": 0.5, "eu-west": 0.25, "ap-south": 0.25}, 0.02)
	}
	d := r.Decide(s, dns.TypeA, client("20.4.1.0", 24), false)
	if d.Rule != "weighted draw" || d.Scope != 0 || d.Degraded {
		t.Errorf("rule %q scope %d degraded %v, want weighted draw, 0, false", d.Rule, d.Scope, d.Degraded)
	}
	// Within us-east the 3:1 weights apply.
	byEndpoint := share(r, s, client("20.4.1.1", -1), 20000, false)
	checkShares(t, byEndpoint, map[string]float64{
		"192.0.2.50": 0.375, "192.0.2.51": 0.125, "198.51.100.50": 0.25, "203.0.113.50": 0.25,
	}, 0.02)
}

func TestSelection(t *testing.T) {
	z := testZone(t)
	c := client("30.0.0.1", -1)

	t.Run("weighted", func(t *testing.T) {
		r := newRouter(t, nil, nil)
		got := share(r, service(t, z, "sel-weighted"), c, 20000, false)
		checkShares(t, got, map[string]float64{"192.0.2.1": 0.75, "192.0.2.2": 0.25}, 0.02)
	})
	t.Run("weighted without replacement", func(t *testing.T) {
		r := newRouter(t, nil, nil)
		s := service(t, z, "sel-weighted2")
		firsts := map[string]int{}
		for range 20000 {
			d := r.Decide(s, dns.TypeA, c, false)
			if got := names(d.Endpoints); !slices.Equal(got, []string{"192.0.2.1", "192.0.2.2"}) {
				t.Fatalf("answers 2 gave %v, want both endpoints", got)
			}
			firsts[endpointName(d.Endpoints[0])]++
		}
		// The first draw still follows the weights.
		if f := float64(firsts["192.0.2.1"]) / 20000; math.Abs(f-0.75) > 0.02 {
			t.Errorf("heavier endpoint drawn first %.3f of the time, want 0.75", f)
		}
	})
	t.Run("round robin", func(t *testing.T) {
		r := newRouter(t, nil, nil)
		s := service(t, testZone(t), "sel-rr") // counters live in the snapshot: a fresh one
		var got []string
		for range 7 {
			got = append(got, names(r.Decide(s, dns.TypeA, c, false).Endpoints)...)
		}
		want := []string{"192.0.2.1", "192.0.2.2", "192.0.2.3", "192.0.2.1", "192.0.2.2", "192.0.2.3", "192.0.2.1"}
		if !slices.Equal(got, want) {
			t.Errorf("round robin gave %v, want %v", got, want)
		}
	})
	t.Run("round robin answers 2", func(t *testing.T) {
		r := newRouter(t, nil, nil)
		s := service(t, testZone(t), "sel-rr2")
		want := [][]string{{"192.0.2.1", "192.0.2.2"}, {"192.0.2.2", "192.0.2.3"}, {"192.0.2.3", "192.0.2.1"}, {"192.0.2.1", "192.0.2.2"}}
		for i, w := range want {
			d := r.Decide(s, dns.TypeA, c, false)
			var got []string
			for _, ep := range d.Endpoints {
				got = append(got, endpointName(ep))
			}
			if !slices.Equal(got, w) {
				t.Errorf("query %d: %v, want %v", i, got, w)
			}
		}
	})
	t.Run("round robin counters are per service", func(t *testing.T) {
		r := newRouter(t, nil, nil)
		fresh := testZone(t)
		a, b := service(t, fresh, "sel-rr"), service(t, fresh, "sel-rr2")
		r.Decide(a, dns.TypeA, c, false)
		r.Decide(a, dns.TypeA, c, false)
		if got := endpointName(r.Decide(b, dns.TypeA, c, false).Endpoints[0]); got != "192.0.2.1" {
			t.Errorf("first answer of another service starts at %s, want 192.0.2.1", got)
		}
	})
	t.Run("random", func(t *testing.T) {
		r := newRouter(t, nil, nil)
		got := share(r, service(t, z, "sel-random"), c, 20000, false)
		checkShares(t, got, map[string]float64{"192.0.2.1": 0.25, "192.0.2.2": 0.25, "192.0.2.3": 0.25, "192.0.2.4": 0.25}, 0.02)
	})
	t.Run("random answers 2 are distinct", func(t *testing.T) {
		r := newRouter(t, nil, nil)
		s := service(t, z, "sel-random2")
		pairs := map[string]int{}
		for range 6000 {
			got := names(r.Decide(s, dns.TypeA, c, false).Endpoints)
			if len(got) != 2 || got[0] == got[1] {
				t.Fatalf("answers 2 gave %v", got)
			}
			pairs[strings.Join(got, ",")]++
		}
		// Six pairs, each about a sixth of the time.
		if len(pairs) != 6 {
			t.Errorf("saw pairs %v, want all 6", pairs)
		}
		for p, n := range pairs {
			if f := float64(n) / 6000; math.Abs(f-1.0/6) > 0.03 {
				t.Errorf("pair %s drawn %.3f of the time, want 0.167", p, f)
			}
		}
	})
	t.Run("first", func(t *testing.T) {
		r := newRouter(t, nil, nil)
		s := service(t, z, "sel-first")
		for range 10 {
			d := r.Decide(s, dns.TypeA, c, false)
			var got []string
			for _, ep := range d.Endpoints {
				got = append(got, endpointName(ep))
			}
			if !slices.Equal(got, []string{"192.0.2.1", "192.0.2.2"}) {
				t.Fatalf("first gave %v, want the first two in file order", got)
			}
		}
	})
	t.Run("first skips a down endpoint", func(t *testing.T) {
		r := newRouter(t, nil, newTestHealth("sel-first", []string{"192.0.2.1"}, nil))
		d := r.Decide(service(t, z, "sel-first"), dns.TypeA, c, false)
		if got := names(d.Endpoints); !slices.Equal(got, []string{"192.0.2.2", "192.0.2.3"}) {
			t.Errorf("first with the first down gave %v", got)
		}
	})
	t.Run("first and all by weight and health", func(t *testing.T) {
		for _, tc := range []struct {
			service string
			down    []string
			want    []string
		}{
			{"sel-first-zero", nil, []string{"192.0.2.2", "192.0.2.3"}},
			{"sel-first-zero", []string{"192.0.2.3"}, []string{"192.0.2.2", "192.0.2.4"}},
			{"sel-first-zero", []string{"192.0.2.2", "192.0.2.3", "192.0.2.4"}, []string{"192.0.2.1"}},
			{"sel-first", []string{"192.0.2.2"}, []string{"192.0.2.1", "192.0.2.3"}},
			{"sel-all-zero", nil, []string{"192.0.2.1", "192.0.2.2", "192.0.2.3"}},
			{"sel-all-zero", []string{"192.0.2.2"}, []string{"192.0.2.1", "192.0.2.3"}},
		} {
			r := newRouter(t, nil, newTestHealth(tc.service, tc.down, nil))
			d := r.Decide(service(t, z, tc.service), dns.TypeA, c, false)
			if got := names(d.Endpoints); !slices.Equal(got, tc.want) {
				t.Errorf("%s with %v down gave %v, want %v", tc.service, tc.down, got, tc.want)
			}
		}
	})
	t.Run("all ignores answers", func(t *testing.T) {
		r := newRouter(t, nil, nil)
		d := r.Decide(service(t, z, "sel-all"), dns.TypeA, c, false)
		if got := names(d.Endpoints); !slices.Equal(got, []string{"192.0.2.1", "192.0.2.2", "192.0.2.3"}) {
			t.Errorf("select all gave %v", got)
		}
	})
	t.Run("answers all", func(t *testing.T) {
		r := newRouter(t, nil, nil)
		s := service(t, z, "sel-answers-all")
		for range 100 {
			d := r.Decide(s, dns.TypeA, c, false)
			if got := names(d.Endpoints); !slices.Equal(got, []string{"192.0.2.1", "192.0.2.2", "192.0.2.3"}) {
				t.Fatalf("answers all gave %v", got)
			}
		}
	})
	t.Run("weight 0 never while positive weights are up", func(t *testing.T) {
		r := newRouter(t, nil, nil)
		s := service(t, z, "sel-zero")
		for range 1000 {
			d := r.Decide(s, dns.TypeA, c, false)
			if got := names(d.Endpoints); !slices.Equal(got, []string{"192.0.2.2", "192.0.2.3"}) {
				t.Fatalf("gave %v, want the two positive-weight endpoints", got)
			}
		}
	})
}

// hashZone is a zone with one region and a hash service over the given
// endpoint addresses.
func hashZone(t *testing.T, answers int, addrs ...string) *zones.Service {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "regions:\n  dc: { location: [0, 0] }\nservices:\n  h:\n    select: hash\n    answers: %d\n    endpoints:\n", answers)
	for _, a := range addrs {
		fmt.Fprintf(&b, "      - { region: dc, address: %q }\n", a)
	}
	return service(t, loadZone(t, b.String()), "h")
}

func TestHashSelection(t *testing.T) {
	five := []string{"192.0.2.1", "192.0.2.2", "192.0.2.3", "192.0.2.4", "192.0.2.5"}
	s := hashZone(t, 1, five...)
	r := New(nil, nil)
	r.SetRand(func() uint64 { t.Error("hash selection drew a random number"); return 0 })

	// v4 returns the n-th client /24 of 20.0.0.0/8.
	v4 := func(n, host int) string { return fmt.Sprintf("20.%d.%d.%d", n/256, n%256, host) }

	t.Run("same network same endpoints", func(t *testing.T) {
		for n := range 200 {
			want := names(r.Decide(s, dns.TypeA, client(v4(n, 1), -1), false).Endpoints)
			for _, c := range []Client{client(v4(n, 254), -1), client(v4(n, 77), 24), client(v4(n, 128), 25)} {
				if got := names(r.Decide(s, dns.TypeA, c, false).Endpoints); !slices.Equal(got, want) {
					t.Fatalf("%s/%d got %v, %s got %v", c.Addr, c.SourceBits, got, v4(n, 1), want)
				}
			}
		}
		for n := range 200 {
			base := fmt.Sprintf("2001:db8:%x:%x", n, 0xab00)
			want := names(r.Decide(s, dns.TypeA, client(base+"::1", -1), false).Endpoints)
			for _, c := range []Client{client(fmt.Sprintf("2001:db8:%x:abff:ffff::1", n), -1), client(base+":1234::", 64), client(base+"::", 56)} {
				if got := names(r.Decide(s, dns.TypeA, c, false).Endpoints); !slices.Equal(got, want) {
					t.Fatalf("%s/%d got %v, %s::1 got %v", c.Addr, c.SourceBits, got, base, want)
				}
			}
		}
	})
	t.Run("networks spread across endpoints", func(t *testing.T) {
		for _, family := range []string{"ipv4", "ipv6"} {
			counts := map[string]int{}
			for n := range 2000 {
				ip := v4(n, 1)
				if family == "ipv6" {
					ip = fmt.Sprintf("2001:db8:%x:%x00::1", n/256, n%256)
				}
				counts[names(r.Decide(s, dns.TypeA, client(ip, -1), false).Endpoints)[0]]++
			}
			for _, a := range five {
				if f := float64(counts[a]) / 2000; f < 0.15 || f > 0.25 {
					t.Errorf("%s: endpoint %s got %.3f of the networks, want about 0.2 (%v)", family, a, f, counts)
				}
			}
		}
	})
	t.Run("weights shift the share", func(t *testing.T) {
		z := testZone(t)
		ws := service(t, z, "sel-hash-weighted")
		heavy := 0
		for n := range 4000 {
			if names(r.Decide(ws, dns.TypeA, client(v4(n, 1), -1), false).Endpoints)[0] == "192.0.2.1" {
				heavy++
			}
		}
		if f := float64(heavy) / 4000; math.Abs(f-0.75) > 0.03 {
			t.Errorf("weight 3 of 4 got %.3f of the networks, want 0.75", f)
		}
	})
	for _, answers := range []int{1, 2} {
		t.Run(fmt.Sprintf("removing an endpoint moves only its clients, answers %d", answers), func(t *testing.T) {
			const removed = "192.0.2.3"
			before := hashZone(t, answers, five...)
			after := hashZone(t, answers, slices.DeleteFunc(slices.Clone(five), func(a string) bool { return a == removed })...)
			moved, hadIt := 0, 0
			for n := range 2000 {
				for _, ip := range []string{v4(n, 1), fmt.Sprintf("2001:db8:%x:%x00::1", n/256, n%256)} {
					c := client(ip, -1)
					old := names(r.Decide(before, dns.TypeA, c, false).Endpoints)
					now := names(r.Decide(after, dns.TypeA, c, false).Endpoints)
					if len(old) != answers || len(now) != answers {
						t.Fatalf("%s: %v then %v, want %d answers", ip, old, now, answers)
					}
					if slices.Contains(old, removed) {
						hadIt++
						// Only the removed endpoint is replaced.
						for _, a := range old {
							if a != removed && !slices.Contains(now, a) {
								t.Errorf("%s: kept endpoint %s moved: %v -> %v", ip, a, old, now)
							}
						}
						continue
					}
					if !slices.Equal(old, now) {
						moved++
						t.Errorf("%s: did not have %s but moved: %v -> %v", ip, removed, old, now)
					}
				}
			}
			if moved != 0 {
				t.Errorf("%d clients moved that did not have the removed endpoint", moved)
			}
			if hadIt == 0 {
				t.Error("no client had the removed endpoint: the test proves nothing")
			}
		})
	}
}

func TestExplain(t *testing.T) {
	z := testZone(t)
	r := newRouter(t, testGeo(t), newTestHealth("www", []string{"198.51.100.10"}, nil))
	s := service(t, z, "www")
	c := client("20.4.1.0", 24)
	d := r.Decide(s, dns.TypeA, c, true)
	text := strings.Join(Explain(s, dns.TypeA, c, d), "\n")
	for _, want := range []string{
		"service www.example.com. (A, routing nearest, select weighted, answers 2)",
		"client 20.4.1.0 (client subnet /24)",
		"country=FR continent=EU",
		"network=20.4.0.0/16",
		"rule continent EU chose region eu-west",
		"candidate 1: eu-west, ",
		"down (0/1 endpoints healthy)",
		"candidate 2: us-east, ",
		"up (2/2 endpoints healthy)",
		"candidate 3: sa-east",
		"candidate 4: ap-south",
		"failover: eu-west is down, answering from us-east",
		"endpoints 192.0.2.1",
		"ttl 10, ecs scope /16",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("explanation lacks %q:\n%s", want, text)
		}
	}

	healthy := newRouter(t, testGeo(t), nil)
	c = client("20.4.1.1", -1)
	d = healthy.Decide(s, dns.TypeA, c, true)
	text = strings.Join(Explain(s, dns.TypeA, c, d), "\n")
	for _, want := range []string{"client 20.4.1.1 (resolver address)", "answering from eu-west", "endpoints 198.51.100.10", "ttl 30, ecs scope /0"} {
		if !strings.Contains(text, want) {
			t.Errorf("explanation lacks %q:\n%s", want, text)
		}
	}

	v4 := service(t, z, "v4")
	d = healthy.Decide(v4, dns.TypeAAAA, c, true)
	text = strings.Join(Explain(v4, dns.TypeAAAA, c, d), "\n")
	if !strings.Contains(text, "no region has AAAA endpoints: NODATA") {
		t.Errorf("NODATA explanation:\n%s", text)
	}

	unknown := New(nil, nil)
	c = client("30.0.0.1", -1)
	d = unknown.Decide(service(t, z, "near"), dns.TypeA, c, true)
	text = strings.Join(Explain(service(t, z, "near"), dns.TypeA, c, d), "\n")
	for _, want := range []string{"location unknown", "rule default region chose region us-east", "distance unknown"} {
		if !strings.Contains(text, want) {
			t.Errorf("explanation lacks %q:\n%s", want, text)
		}
	}
}

func TestRecords(t *testing.T) {
	z := testZone(t)
	r := newRouter(t, testGeo(t), nil)
	s := service(t, z, "www")
	tests := []struct {
		ip    string
		qtype uint16
		want  []string
	}{
		{"20.8.1.1", dns.TypeA, []string{"www.example.com.\t30\tIN\tA\t192.0.2.10", "www.example.com.\t30\tIN\tA\t192.0.2.11"}},
		{"20.8.1.1", dns.TypeAAAA, []string{"www.example.com.\t30\tIN\tAAAA\t2001:db8::10"}},
		{"20.2.1.1", dns.TypeA, []string{"www.example.com.\t30\tIN\tCNAME\tsa-lb.example.net."}},
	}
	for _, tc := range tests {
		d := r.Decide(s, tc.qtype, client(tc.ip, -1), false)
		var got []string
		for _, rr := range d.Records("www.example.com.", tc.qtype) {
			got = append(got, rr.String())
		}
		slices.Sort(got)
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s %s: %q, want %q", tc.ip, dns.TypeToString[tc.qtype], got, tc.want)
		}
	}
}

// TestDecideConcurrent runs decisions from many goroutines (for -race) and
// checks that round robin still hands out every endpoint equally.
func TestDecideConcurrent(t *testing.T) {
	z := testZone(t)
	r := newRouter(t, testGeo(t), nil)
	rr := service(t, z, "sel-rr")
	www := service(t, z, "www")
	const workers, each = 8, 300
	var mu sync.Mutex
	counts := map[string]int{}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			local := map[string]int{}
			for i := range each {
				d := r.Decide(rr, dns.TypeA, client("30.0.0.1", -1), false)
				local[endpointName(d.Endpoints[0])]++
				r.Decide(www, dns.TypeA, client(fmt.Sprintf("20.4.%d.0", (w*each+i)%256), 24), i%10 == 0)
			}
			mu.Lock()
			defer mu.Unlock()
			for k, v := range local {
				counts[k] += v
			}
		})
	}
	wg.Wait()
	for _, a := range []string{"192.0.2.1", "192.0.2.2", "192.0.2.3"} {
		if counts[a] != workers*each/3 {
			t.Errorf("round robin gave %s %d times, want %d (%v)", a, counts[a], workers*each/3, counts)
		}
	}
}

// TestScopeNestedNetworks: when a networks entry decides and a longer entry
// of another region lies inside it, the scope must not cover that longer
// entry's clients (RFC 7871 section 7.2.1), or resolvers would serve them
// the wrong region from cache.
func TestScopeNestedNetworks(t *testing.T) {
	z := loadZone(t, `
regions:
  us-east: { location: [39.04, -77.49], networks: [203.0.0.0/16] }
  eu-west: { location: [53.35, -6.26], networks: [203.0.113.128/25] }
services:
  www:
    endpoints:
      - { region: us-east, address: 192.0.2.10 }
      - { region: eu-west, address: 198.51.100.10 }
`)
	r := New(nil, nil)
	s := service(t, z, "www")
	for _, tc := range []struct {
		client string
		bits   int
		region string
		scope  int
	}{
		{"203.0.113.0", 24, "us-east", 24},   // the /25 inside: capped at the source /24
		{"203.0.5.0", 24, "us-east", 24},     // elsewhere in the /16: still /25 -> /24
		{"203.0.113.128", 25, "eu-west", 25}, // decided by the /25 itself
		{"203.0.0.0", 16, "us-east", 16},     // a /16 source cannot be narrowed further
	} {
		d := r.Decide(s, 1, client(tc.client, tc.bits), false)
		if regionName(d.Region) != tc.region || d.Scope != tc.scope {
			t.Errorf("%s/%d: region %s scope %d, want %s scope %d", tc.client, tc.bits, regionName(d.Region), d.Scope, tc.region, tc.scope)
		}
	}
}

// TestScopeOfNestedDatabases: with a City and an ASN database whose
// networks nest, the scope of an answer is the network over which both
// answer alike. A client of a City network outside the ASN record inside
// it is answered for the part of the City network the ASN record is not
// in, never for the whole City network, whose ASN clients the zone
// routes elsewhere.
func TestScopeOfNestedDatabases(t *testing.T) {
	city := geotest.WriteMMDB(t, []mmdbbuild.Entry{{Network: pfx("20.40.0.0/16"), Country: "FR", Continent: "EU"}})
	asn := geotest.WriteMMDBType(t, []mmdbbuild.Entry{{Network: pfx("20.40.128.0/20"), ASN: 64500}}, mmdbbuild.TypeASN)
	db, err := geo.Open(geo.Paths{City: city, ASN: asn})
	if err != nil {
		t.Fatal(err)
	}
	r := newRouter(t, db, nil)
	s := service(t, memoZone(t, false), "nearest-all")
	for _, tc := range []struct {
		ip            string
		region, scope string
	}{
		{"20.40.1.0", "eu-west", "20.40.0.0/17"},      // continent EU; the ASN database knows nothing in 20.40.0.0/17
		{"20.40.128.0", "ap-south", "20.40.128.0/20"}, // asn 64500
		{"20.40.160.0", "eu-west", "20.40.160.0/19"},
	} {
		d := r.Decide(s, dns.TypeA, client(tc.ip, 24), false)
		got := netip.PrefixFrom(netip.MustParseAddr(tc.ip), d.Scope).Masked()
		if d.Region.Name != tc.region || got.String() != tc.scope {
			t.Errorf("%s/24: %s with scope %s, want %s with scope %s", tc.ip, d.Region.Name, got, tc.region, tc.scope)
		}
	}
}
