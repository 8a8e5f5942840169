package server

import (
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/miekg/dns"

	"github.com/meridian-dns/meridian/geo"
	"github.com/meridian-dns/meridian/geo/geotest"
	"github.com/meridian-dns/meridian/geo/mmdbbuild"
	"github.com/meridian-dns/meridian/routing"
	"github.com/meridian-dns/meridian/zones"
)

// geoZone is the issue example's zone with static data beside and in front
// of its services: a TXT record at the www service, a CNAME to it, and a
// wildcard service.
const geoZone = `
zone: example.com.
soa: {mname: ns1.example.com., rname: hostmaster.example.com., serial: 7, minimum: 300, ttl: 600}
ns: [ns1.example.com.]
records: |
  ns1   IN A     192.0.2.53
  mail  IN A     192.0.2.25
  www   IN TXT   "static text beside a service"
  docs  IN CNAME www
regions:
  us-east:  { location: [39.04, -77.49], countries: [US, CA, MX] }
  eu-west:  { location: [53.35, -6.26],  continents: [EU, AF] }
  ap-south: { location: [1.35, 103.82],  continents: [AS, OC], networks: [203.0.113.0/24], asns: [64500] }
  sa-east:  { location: [-23.55, -46.63] }
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
  "*.cdn":
    routing: failover
    fallback: [eu-west, us-east]
    endpoints:
      - { region: eu-west, address: 198.51.100.77 }
      - { region: us-east, address: 192.0.2.77 }
`

// geoNetworks is the synthetic GeoIP data the ECS tests locate clients
// with. 127.0.0.1 (the handler tests' resolver) is deliberately absent.
var geoNetworks = []mmdbbuild.Entry{
	{Network: netip.MustParsePrefix("198.51.100.0/24"), Country: "DE", Continent: "EU", Latitude: 50.11, Longitude: 8.68, HasCoordinates: true},
	{Network: netip.MustParsePrefix("203.0.113.0/24"), Country: "SG", Continent: "AS", Latitude: 1.35, Longitude: 103.82, HasCoordinates: true},
	{Network: netip.MustParsePrefix("192.0.2.0/24"), Country: "US", Continent: "NA", Latitude: 37.77, Longitude: -122.42, HasCoordinates: true},
	{Network: netip.MustParsePrefix("20.4.0.0/16"), Country: "FR", Continent: "EU", Latitude: 48.86, Longitude: 2.35, HasCoordinates: true},
	{Network: netip.MustParsePrefix("2001:db8:1::/48"), Country: "US", Continent: "NA", Latitude: 40.71, Longitude: -74.01, HasCoordinates: true},
	{Network: netip.MustParsePrefix("2001:db8:2::/48"), Country: "DE", Continent: "EU", Latitude: 52.52, Longitude: 13.40, HasCoordinates: true},
}

// newGeoHandler returns a handler over geoZone with a router that locates
// clients in geoNetworks.
func newGeoHandler(t *testing.T, opts Options) *Handler {
	t.Helper()
	snap, err := zones.Load(writeZones(t, map[string]string{"example.com.yaml": geoZone}), nil)
	if err != nil {
		t.Fatal(err)
	}
	db, err := geo.Open(geo.Paths{City: geotest.WriteMMDB(t, geoNetworks)})
	if err != nil {
		t.Fatal(err)
	}
	var p atomic.Pointer[zones.Snapshot]
	p.Store(snap)
	return NewHandler(&p, routing.New(db, nil), opts, nil)
}

// ecsOption is a Client Subnet option for the network p.
func ecsOption(p string) *dns.EDNS0_SUBNET {
	pr := netip.MustParsePrefix(p)
	o := &dns.EDNS0_SUBNET{Code: dns.EDNS0SUBNET, Family: 1, SourceNetmask: uint8(pr.Bits()), Address: net.IP(pr.Addr().AsSlice())}
	if pr.Addr().Is6() {
		o.Family = 2
	}
	return o
}

// ednsQuery is a query with an OPT record carrying opts.
func ednsQuery(name string, qtype uint16, opts ...dns.EDNS0) *dns.Msg {
	m := query(name, qtype)
	m.SetEdns0(1232, false)
	m.IsEdns0().Option = opts
	return m
}

// serveFrom answers m as if it came from resolver over UDP.
func serveFrom(t *testing.T, h *Handler, m *dns.Msg, resolver string) *dns.Msg {
	t.Helper()
	return serveOver(t, h, m, resolver, UDP)
}

// serveOver answers m as if it came from resolver over transport tr.
func serveOver(t *testing.T, h *Handler, m *dns.Msg, resolver string, tr Transport) *dns.Msg {
	t.Helper()
	out := h.Serve(mustPack(t, m), netip.MustParseAddr(resolver), tr, nil)
	if out == nil {
		t.Fatal("query dropped")
	}
	r := new(dns.Msg)
	if err := r.Unpack(out); err != nil {
		t.Fatalf("reply does not unpack: %v", err)
	}
	return r
}

// replySubnet returns the reply's Client Subnet option, or nil.
func replySubnet(r *dns.Msg) *dns.EDNS0_SUBNET {
	opt := r.IsEdns0()
	if opt == nil {
		return nil
	}
	var found *dns.EDNS0_SUBNET
	for _, o := range opt.Option {
		if s, ok := o.(*dns.EDNS0_SUBNET); ok {
			if found != nil {
				return nil
			}
			found = s
		}
	}
	return found
}

func TestECSAnswers(t *testing.T) {
	h := newGeoHandler(t, Options{ECS: true})
	soa := "example.com. 300 IN SOA ns1.example.com. hostmaster.example.com. 7 7200 3600 1209600 300"
	euWWW := []string{"www.example.com. 30 IN A 198.51.100.10"}
	usWWW := []string{"www.example.com. 30 IN A 192.0.2.10", "www.example.com. 30 IN A 192.0.2.11"}
	tests := []struct {
		name     string
		qname    string
		qtype    uint16
		subnet   string // the query's ECS network; "" for none
		resolver string
		rcode    int
		answer   []string
		ns       []string
		scope    uint8
	}{
		{name: "service by GeoIP", qname: "www.example.com.", qtype: dns.TypeA, subnet: "198.51.100.0/24", resolver: "192.0.2.1",
			answer: euWWW, scope: 24},
		{name: "service by networks entry", qname: "www.example.com.", qtype: dns.TypeA, subnet: "203.0.113.0/24", resolver: "192.0.2.1",
			answer: []string{"www.example.com. 30 IN A 203.0.113.10"}, scope: 24},
		{name: "scope of a /16 GeoIP network", qname: "www.example.com.", qtype: dns.TypeA, subnet: "20.4.1.0/24", resolver: "192.0.2.1",
			answer: euWWW, scope: 16},
		{name: "non-byte-aligned source", qname: "www.example.com.", qtype: dns.TypeA, subnet: "20.4.16.0/20", resolver: "192.0.2.1",
			answer: euWWW, scope: 16},
		{name: "unknown subnet: default region, scope of the network no database knows", qname: "www.example.com.", qtype: dns.TypeA, subnet: "30.1.0.0/16", resolver: "198.51.100.53",
			answer: usWWW, scope: 5},
		{name: "ipv6 subnet", qname: "www.example.com.", qtype: dns.TypeA, subnet: "2001:db8:1:ab00::/56", resolver: "198.51.100.53",
			answer: usWWW, scope: 48},
		{name: "ipv6 subnet AAAA from Europe", qname: "www.example.com.", qtype: dns.TypeAAAA, subnet: "2001:db8:2:1200::/56", resolver: "192.0.2.1",
			answer: []string{"www.example.com. 30 IN AAAA 2001:db8::10"}, scope: 48},
		{name: "CNAME to a service", qname: "docs.example.com.", qtype: dns.TypeA, subnet: "198.51.100.0/24", resolver: "192.0.2.1",
			answer: append([]string{"docs.example.com. 3600 IN CNAME www.example.com."}, euWWW...), scope: 24},
		{name: "static TXT beside a service", qname: "www.example.com.", qtype: dns.TypeTXT, subnet: "198.51.100.0/24", resolver: "192.0.2.1",
			answer: []string{`www.example.com. 3600 IN TXT "static text beside a service"`}, scope: 0},
		{name: "static name", qname: "mail.example.com.", qtype: dns.TypeA, subnet: "198.51.100.0/24", resolver: "192.0.2.1",
			answer: []string{"mail.example.com. 3600 IN A 192.0.2.25"}, scope: 0},
		{name: "NXDOMAIN", qname: "nope.example.com.", qtype: dns.TypeA, subnet: "198.51.100.0/24", resolver: "192.0.2.1",
			rcode: dns.RcodeNameError, ns: []string{soa}, scope: 0},
		{name: "wildcard service", qname: "img.cdn.example.com.", qtype: dns.TypeA, subnet: "203.0.113.0/24", resolver: "192.0.2.1",
			answer: []string{"img.cdn.example.com. 30 IN A 198.51.100.77"}, scope: 0},
		{name: "wildcard service two labels down", qname: "a.B.cdn.example.com.", qtype: dns.TypeA, subnet: "203.0.113.0/24", resolver: "192.0.2.1",
			answer: []string{"a.B.cdn.example.com. 30 IN A 198.51.100.77"}, scope: 0},
		{name: "wildcard service without the family", qname: "img.cdn.example.com.", qtype: dns.TypeAAAA, subnet: "203.0.113.0/24", resolver: "192.0.2.1",
			ns: []string{soa}, scope: 0},
		{name: "source prefix 0 uses the resolver", qname: "www.example.com.", qtype: dns.TypeA, subnet: "0.0.0.0/0", resolver: "198.51.100.53",
			answer: euWWW, scope: 0},
		{name: "ipv6 source prefix 0 uses the resolver", qname: "www.example.com.", qtype: dns.TypeA, subnet: "::/0", resolver: "192.0.2.1",
			answer: usWWW, scope: 0},
		{name: "private subnet uses the resolver", qname: "www.example.com.", qtype: dns.TypeA, subnet: "10.1.2.0/24", resolver: "198.51.100.53",
			answer: euWWW, scope: 0},
		{name: "private subnet uses the resolver (US)", qname: "www.example.com.", qtype: dns.TypeA, subnet: "192.168.1.0/24", resolver: "192.0.2.1",
			answer: usWWW, scope: 0},
		{name: "link-local ipv6 subnet uses the resolver", qname: "www.example.com.", qtype: dns.TypeA, subnet: "fe80::/64", resolver: "203.0.113.53",
			answer: []string{"www.example.com. 30 IN A 203.0.113.10"}, scope: 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := ednsQuery(tc.qname, tc.qtype, ecsOption(tc.subnet))
			r := serveFrom(t, h, m, tc.resolver)
			if r.Rcode != tc.rcode {
				t.Fatalf("rcode %s, want %s", dns.RcodeToString[r.Rcode], dns.RcodeToString[tc.rcode])
			}
			if !r.Authoritative {
				t.Error("AA not set")
			}
			want := slices.Clone(tc.answer)
			slices.Sort(want)
			if got := section(r.Answer); !slices.Equal(got, want) {
				t.Errorf("answer\n got %q\nwant %q", got, want)
			}
			if got := section(r.Ns); !slices.Equal(got, tc.ns) {
				t.Errorf("authority\n got %q\nwant %q", got, tc.ns)
			}
			echo := replySubnet(r)
			if echo == nil {
				t.Fatal("reply has no (single) ECS option")
			}
			sent := ecsOption(tc.subnet)
			if echo.Family != sent.Family || echo.SourceNetmask != sent.SourceNetmask || !echo.Address.Equal(sent.Address) {
				t.Errorf("echo %s (family %d), want %s (family %d)", echo, echo.Family, sent, sent.Family)
			}
			if echo.SourceScope != tc.scope {
				t.Errorf("scope /%d, want /%d", echo.SourceScope, tc.scope)
			}
		})
	}
}

func TestECSFamilyZero(t *testing.T) {
	h := newGeoHandler(t, Options{ECS: true})
	m := ednsQuery("www.example.com.", dns.TypeA, &dns.EDNS0_SUBNET{Code: dns.EDNS0SUBNET, Family: 0, Address: net.IPv4zero})
	r := serveFrom(t, h, m, "198.51.100.53")
	if got := section(r.Answer); !slices.Equal(got, []string{"www.example.com. 30 IN A 198.51.100.10"}) {
		t.Errorf("answer %q, want the resolver's region", got)
	}
	echo := replySubnet(r)
	if echo == nil || echo.Family != 0 || echo.SourceNetmask != 0 || echo.SourceScope != 0 {
		t.Errorf("echo %v, want family 0 /0 scope 0", echo)
	}
}

func TestECSNotEchoedWithoutECS(t *testing.T) {
	tests := []struct {
		name string
		opts Options
		m    *dns.Msg
		want []string
	}{
		{name: "ECS disabled: the resolver address is used", opts: Options{},
			m:    ednsQuery("www.example.com.", dns.TypeA, ecsOption("203.0.113.0/24")),
			want: []string{"www.example.com. 30 IN A 198.51.100.10"}},
		{name: "ECS disabled: a malformed option is ignored", opts: Options{},
			m:    ednsQuery("www.example.com.", dns.TypeA, &dns.EDNS0_LOCAL{Code: dns.EDNS0SUBNET, Data: []byte{0, 1, 20, 0, 203, 0, 113}}),
			want: []string{"www.example.com. 30 IN A 198.51.100.10"}},
		{name: "EDNS query without ECS", opts: Options{ECS: true},
			m:    ednsQuery("www.example.com.", dns.TypeA),
			want: []string{"www.example.com. 30 IN A 198.51.100.10"}},
		{name: "query without EDNS", opts: Options{ECS: true},
			m:    query("www.example.com.", dns.TypeA),
			want: []string{"www.example.com. 30 IN A 198.51.100.10"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := serveFrom(t, newGeoHandler(t, tc.opts), tc.m, "198.51.100.53")
			if r.Rcode != dns.RcodeSuccess {
				t.Fatalf("rcode %s", dns.RcodeToString[r.Rcode])
			}
			if got := section(r.Answer); !slices.Equal(got, tc.want) {
				t.Errorf("answer %q, want %q", got, tc.want)
			}
			if (r.IsEdns0() != nil) != (tc.m.IsEdns0() != nil) {
				t.Errorf("reply OPT %v for query OPT %v", r.IsEdns0(), tc.m.IsEdns0())
			}
			if opt := r.IsEdns0(); opt != nil {
				for _, o := range opt.Option {
					if o.Option() == dns.EDNS0SUBNET {
						t.Errorf("reply carries an ECS option: %v", o)
					}
				}
			}
		})
	}
}

func TestECSMalformed(t *testing.T) {
	h := newGeoHandler(t, Options{ECS: true})
	tests := []struct {
		name string
		data []byte
	}{
		{"family 3", []byte{0, 3, 24, 0, 198, 51, 100}},
		{"ipv4 source prefix 33", []byte{0, 1, 33, 0, 198, 51, 100, 7, 0}},
		{"ipv6 source prefix 129", append([]byte{0, 2, 129, 0}, make([]byte, 17)...)},
		{"ipv4 scope 33", []byte{0, 1, 24, 33, 198, 51, 100}},
		{"bits beyond the source prefix", []byte{0, 1, 20, 0, 198, 51, 100}},
		{"ipv6 bits beyond the source prefix", []byte{0, 2, 60, 0, 0x20, 0x01, 0x0d, 0xb8, 0, 2, 0x12, 0x3f}},
		{"address longer than the prefix", []byte{0, 1, 24, 0, 198, 51, 100, 7}},
		{"address shorter than the prefix", []byte{0, 1, 24, 0, 198, 51}},
		{"truncated option data", []byte{0, 1, 24}},
		{"empty option data", []byte{}},
		{"family 0 with a prefix", []byte{0, 0, 24, 0, 198, 51, 100}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := ednsQuery("www.example.com.", dns.TypeA, &dns.EDNS0_LOCAL{Code: dns.EDNS0SUBNET, Data: tc.data})
			m.Id = 0xbeef
			r := serveFrom(t, h, m, "198.51.100.53")
			if r.Rcode != dns.RcodeFormatError {
				t.Errorf("rcode %s, want FORMERR", dns.RcodeToString[r.Rcode])
			}
			if r.Id != 0xbeef || !r.Response {
				t.Errorf("reply id %#x response %v", r.Id, r.Response)
			}
			if len(r.Answer) != 0 || len(r.Ns) != 0 {
				t.Errorf("FORMERR with records: %v %v", r.Answer, r.Ns)
			}
			if replySubnet(r) != nil {
				t.Error("FORMERR echoes the malformed option")
			}
		})
	}
}

func TestExplainQuery(t *testing.T) {
	h := newGeoHandler(t, Options{ECS: true, DebugNetworks: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
	txt := func(r *dns.Msg) string {
		var lines []string
		for _, rr := range r.Answer {
			tx, ok := rr.(*dns.TXT)
			if !ok {
				t.Fatalf("explain answer has %v", rr)
			}
			if tx.Hdr.Name != r.Question[0].Name {
				t.Errorf("TXT owner %s, want %s", tx.Hdr.Name, r.Question[0].Name)
			}
			lines = append(lines, strings.Join(tx.Txt, ""))
		}
		return strings.Join(lines, "\n")
	}
	tests := []struct {
		name     string
		m        *dns.Msg
		resolver string
		rcode    int
		contains []string
	}{
		{name: "resolver address from a debug network", m: query("_explain.www.example.com.", dns.TypeTXT), resolver: "127.0.0.1",
			contains: []string{
				"service www.example.com. (A, routing nearest, select weighted, answers 2)",
				"service www.example.com. (AAAA, routing nearest, select weighted, answers 2)",
				"client 127.0.0.1 (resolver address)",
				"rule default region chose region us-east",
				"candidate 1: us-east",
				"endpoints 2001:db8::10",
			}},
		{name: "client subnet from a debug network", m: ednsQuery("_explain.WWW.example.com.", dns.TypeTXT, ecsOption("198.51.100.0/24")), resolver: "127.0.0.1",
			contains: []string{
				"client 198.51.100.0 (client subnet /24)",
				"country=DE continent=EU",
				"rule continent EU chose region eu-west",
				"endpoints 198.51.100.10",
				"ecs scope /24",
			}},
		{name: "outside the debug networks", m: query("_explain.www.example.com.", dns.TypeTXT), resolver: "192.0.2.1",
			rcode: dns.RcodeNameError},
		{name: "not a service", m: query("_explain.mail.example.com.", dns.TypeTXT), resolver: "127.0.0.1",
			rcode: dns.RcodeNameError},
		{name: "not TXT", m: query("_explain.www.example.com.", dns.TypeA), resolver: "127.0.0.1",
			rcode: dns.RcodeNameError},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// Explanations of four regions outgrow a UDP reply, so they are
			// read over TCP, as dig does after a truncated reply.
			r := serveOver(t, h, tc.m, tc.resolver, TCP)
			if r.Rcode != tc.rcode {
				t.Fatalf("rcode %s, want %s", dns.RcodeToString[r.Rcode], dns.RcodeToString[tc.rcode])
			}
			text := txt(r)
			if tc.rcode != dns.RcodeSuccess {
				if text != "" {
					t.Errorf("explanation leaked:\n%s", text)
				}
				return
			}
			if !r.Authoritative {
				t.Error("AA not set")
			}
			for _, want := range tc.contains {
				if !strings.Contains(text, want) {
					t.Errorf("explanation lacks %q:\n%s", want, text)
				}
			}
		})
	}
}

// TestECSConcurrent serves ECS queries from several goroutines (for -race).
func TestECSConcurrent(t *testing.T) {
	h := newGeoHandler(t, Options{ECS: true})
	subnets := []string{"198.51.100.0/24", "203.0.113.0/24", "20.4.1.0/24", "2001:db8:2:1200::/56"}
	queries := make([][]byte, len(subnets))
	for i, s := range subnets {
		queries[i] = mustPack(t, ednsQuery("www.example.com.", dns.TypeA, ecsOption(s)))
	}
	client := netip.MustParseAddr("192.0.2.1")
	errs := make(chan string, 8)
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			buf := make([]byte, 0, 512)
			for i := range 200 {
				out := h.Serve(queries[(w+i)%len(queries)], client, UDP, buf)
				r := new(dns.Msg)
				if err := r.Unpack(out); err != nil || r.Rcode != dns.RcodeSuccess || len(r.Answer) == 0 {
					errs <- "bad reply"
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

// TestECSTrustedResolvers: with ECSResolvers set, a Client Subnet option
// from another resolver is ignored: the answer is for the resolver's own
// address and the reply carries no ECS option (so it is cached for every
// client). A listed resolver's option is used and echoed, on both paths.
func TestECSTrustedResolvers(t *testing.T) {
	for _, fullOnly := range []bool{false, true} {
		h := newGeoHandler(t, Options{ECS: true, FullPathOnly: fullOnly,
			ECSResolvers: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/28")}})
		m := ednsQuery("www.example.com.", dns.TypeA, ecsOption("198.51.100.0/24"))
		for range 2 { // the second ask may come from the answer cache
			// 192.0.2.1 is trusted: located by the subnet, in Germany (eu-west).
			r := serveFrom(t, h, m, "192.0.2.1")
			if len(r.Answer) != 1 || r.Answer[0].(*dns.A).A.String() != "198.51.100.10" || replySubnet(r) == nil {
				t.Errorf("fullOnly=%v: trusted resolver: %v", fullOnly, r)
			}
			// 192.0.2.100 is not: located itself, in the US (us-east), no echo.
			r = serveFrom(t, h, m, "192.0.2.100")
			if len(r.Answer) != 2 || replySubnet(r) != nil {
				t.Errorf("fullOnly=%v: untrusted resolver: answer %v, ECS %v", fullOnly, r.Answer, replySubnet(r))
			}
			for _, rr := range r.Answer {
				if !strings.HasPrefix(rr.(*dns.A).A.String(), "192.0.2.1") {
					t.Errorf("fullOnly=%v: untrusted resolver answered from its subnet: %v", fullOnly, rr)
				}
			}
		}
		// A malformed option from an untrusted resolver is not read, so it
		// is not FORMERR either: it is ignored as with ECS off.
		// Four address bytes for a /24: RFC 7871 allows three.
		bad := ednsQuery("www.example.com.", dns.TypeA, &dns.EDNS0_LOCAL{Code: dns.EDNS0SUBNET, Data: []byte{0, 1, 24, 0, 198, 51, 100, 1}})
		if r := serveFrom(t, h, bad, "192.0.2.100"); r.Rcode != dns.RcodeSuccess {
			t.Errorf("fullOnly=%v: malformed ECS from an untrusted resolver: %s", fullOnly, dns.RcodeToString[r.Rcode])
		}
		if r := serveFrom(t, h, bad, "192.0.2.1"); r.Rcode != dns.RcodeFormatError {
			t.Errorf("fullOnly=%v: malformed ECS from a trusted resolver: %s, want FORMERR", fullOnly, dns.RcodeToString[r.Rcode])
		}
	}
}
