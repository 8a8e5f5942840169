package zones

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

const regionsBlock = `regions:
  us-east: { location: [39.04, -77.49], countries: [US] }
  eu-west: { location: [53.35, -6.26], continents: [EU] }
`

func TestServiceErrorsNameFileAndLine(t *testing.T) {
	// header is 3 lines; regionsBlock lines 4-6.
	tests := []struct{ name, body, want string }{
		{"static A beside a service",
			header + "records: |\n  www IN A 192.0.2.1\n" + regionsBlock + "services:\n  www:\n    endpoints: [{ region: us-east, address: 192.0.2.10 }]\n",
			"z.yaml:10: www.example.com. is a service and also has static A records (at"},
		{"CNAME beside a service",
			header + "records: |\n  www IN CNAME elsewhere.example.org.\n" + regionsBlock + "services:\n  www:\n    endpoints: [{ region: us-east, address: 192.0.2.10 }]\n",
			"is a service and also has static CNAME"},
		{"unknown region", header + regionsBlock + "services:\n  www:\n    endpoints:\n      - { region: ap-south, address: 192.0.2.10 }\n",
			`z.yaml:10: service www: unknown region "ap-south"`},
		{"unknown fallback region", header + regionsBlock + "services:\n  www:\n    fallback: [mars]\n    endpoints: [{ region: us-east, address: 192.0.2.10 }]\n",
			`z.yaml:9: service www: fallback names unknown region "mars"`},
		{"failover without fallback", header + regionsBlock + "services:\n  www:\n    routing: failover\n    endpoints: [{ region: us-east, address: 192.0.2.10 }]\n",
			"routing failover needs a fallback"},
		{"bad routing", header + regionsBlock + "services:\n  www:\n    routing: closest\n    endpoints: [{ region: us-east, address: 192.0.2.10 }]\n",
			`z.yaml:9: service www: routing "closest"`},
		{"bad select", header + regionsBlock + "services:\n  www:\n    select: roundrobin\n    endpoints: [{ region: us-east, address: 192.0.2.10 }]\n",
			`select "roundrobin"`},
		{"bad answers", header + regionsBlock + "services:\n  www:\n    answers: many\n    endpoints: [{ region: us-east, address: 192.0.2.10 }]\n",
			`z.yaml:9: answers: "many"`},
		{"no endpoints", header + regionsBlock + "services:\n  www:\n    ttl: 30\n", "at least one endpoint"},
		{"bad address", header + regionsBlock + "services:\n  www:\n    endpoints:\n      - { region: us-east, address: 192.0.2.300 }\n",
			`z.yaml:10: service www: "192.0.2.300" is not an IP address`},
		{"address and cname", header + regionsBlock + "services:\n  www:\n    endpoints:\n      - { region: us-east, address: 192.0.2.1, cname: x.example.org. }\n",
			"an address or a cname, not both"},
		{"duplicate endpoint", header + regionsBlock + "services:\n  www:\n    endpoints:\n      - { region: us-east, address: 192.0.2.1 }\n      - { region: us-east, address: 192.0.2.1 }\n",
			"z.yaml:11: service www: endpoint www.example.com./192.0.2.1 is listed twice"},
		{"negative weight", header + regionsBlock + "services:\n  www:\n    endpoints:\n      - { region: us-east, address: 192.0.2.1, weight: -1 }\n",
			"weight -1 is outside"},
		{"unknown endpoint key", header + regionsBlock + "services:\n  www:\n    endpoints:\n      - { region: us-east, adress: 192.0.2.1 }\n",
			`z.yaml:10: unknown key "adress"`},
		{"bad wildcard", header + regionsBlock + "services:\n  a.*.cdn:\n    endpoints: [{ region: us-east, address: 192.0.2.1 }]\n",
			"a wildcard must be the whole first label"},
		{"service outside the zone", header + regionsBlock + "services:\n  www.example.org.:\n    endpoints: [{ region: us-east, address: 192.0.2.1 }]\n",
			"not a name in the zone"},
		{"service below a delegation", header + "records: |\n  sub IN NS ns.example.org.\n" + regionsBlock + "services:\n  www.sub:\n    endpoints: [{ region: us-east, address: 192.0.2.1 }]\n",
			"service www.sub.example.com. is at or below a delegation"},
		{"region without location", header + "regions:\n  us-east: { countries: [US] }\n", "z.yaml:5: region us-east: location must be"},
		{"latitude out of range", header + "regions:\n  us-east: { location: [91, 0] }\n", "location must be [latitude, longitude]"},
		{"unknown country", header + "regions:\n  us-east: { location: [0, 0], countries: [XX] }\n", `"XX" is not an ISO 3166-1 country code`},
		{"unknown continent", header + "regions:\n  us-east: { location: [0, 0], continents: [EA] }\n", `"EA" is not a continent code`},
		{"bad subdivision", header + "regions:\n  us-east: { location: [0, 0], subdivisions: [California] }\n", "is not an ISO 3166-2 subdivision"},
		{"network with host bits", header + "regions:\n  us-east: { location: [0, 0], networks: [203.0.113.1/24] }\n", "has host bits set (did you mean 203.0.113.0/24?)"},
		{"country in two regions", header + "regions:\n  a: { location: [0, 0], countries: [US] }\n  b: { location: [0, 0], countries: [us] }\n",
			"z.yaml:6: country US is mapped to both regions a and b"},
		{"duplicate region", header + "regions:\n  a: { location: [0, 0] }\n  a: { location: [1, 1] }\n", `z.yaml:6: duplicate key "a"`},
		{"unknown check", header + regionsBlock + "services:\n  www:\n    check: web\n    endpoints: [{ region: us-east, address: 192.0.2.1 }]\n",
			`z.yaml:9: service www: check "web" is not defined`},
		{"bad check", header + "checks:\n  web: { type: htp, port: 80 }\n", `z.yaml:5: unknown type "htp"`},
		{"check_address without check", header + regionsBlock + "services:\n  www:\n    endpoints:\n      - { region: us-east, address: 192.0.2.1, check_address: 127.0.0.1 }\n",
			"check_address given but the service has no check"},
		{"CNAME endpoint with a check but no check_address", header + regionsBlock + "checks:\n  web: { type: tcp, port: 80 }\nservices:\n  www:\n    check: web\n    endpoints:\n      - { region: us-east, cname: lb.example.org. }\n",
			"is a CNAME: give it a check_address"},
		{"all_down fallback without addresses", header + regionsBlock + "services:\n  www:\n    all_down: fallback\n    endpoints: [{ region: us-east, address: 192.0.2.1 }]\n",
			"all_down fallback needs fallback_addresses"},
		{"bad min_healthy", header + regionsBlock + "services:\n  www:\n    min_healthy: 150%\n    endpoints: [{ region: us-east, address: 192.0.2.1 }]\n",
			"z.yaml:9:"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFile(t, dir, "z.yaml", tc.body)
			_, err := Load(dir, nil)
			if err == nil {
				t.Fatal("loaded without error")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q\ndoes not contain %q", err, tc.want)
			}
		})
	}
}

func TestServiceBesideOtherStaticTypes(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "z.yaml", header+"records: |\n  www IN TXT \"static text beside a service\"\n"+regionsBlock+
		"services:\n  www:\n    endpoints: [{ region: us-east, address: 192.0.2.10 }]\n")
	snap, err := Load(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r := snap.Lookup("www.example.com.", dns.TypeTXT); len(r.Answer) != 1 || r.Service != nil {
		t.Errorf("TXT beside a service: %+v", r)
	}
	if r := snap.Lookup("WWW.example.com.", dns.TypeA); r.Service == nil || r.ServiceOwner != "WWW.example.com." {
		t.Errorf("A at a service: %+v", r)
	}
	if r := snap.Lookup("www.example.com.", dns.TypeMX); r.Service != nil || len(r.Ns) != 1 {
		t.Errorf("MX at a service must be NODATA: %+v", r)
	}
	svc := snap.Zone("example.com.").Service("www.example.com.")
	if svc == nil || svc.TTL != 30 || svc.Answers != 1 || svc.Routing != RouteNearest || svc.Select != SelectWeighted ||
		svc.AllDown != AllDownServeAll || svc.DegradedTTL != 10 {
		t.Errorf("service defaults: %+v", svc)
	}
	if regs := snap.Zone("example.com.").Regions(); len(regs) != 2 || regs[0].Name != "us-east" || regs[1].Name != "eu-west" {
		t.Errorf("regions must keep file order: %v", regs)
	}
}

func TestPools(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "z.yaml", header+`regions:
  us-east: { location: [39.04, -77.49], countries: [US] }
  eu-west: { location: [53.35, -6.26], continents: [EU] }
  ap-south: { location: [1.35, 103.82] }
services:
  www:
    endpoints:
      - { region: eu-west, address: 198.51.100.1, weight: 2 }
      - { region: us-east, address: 192.0.2.1, weight: 3 }
      - { region: eu-west, address: "2001:db8::1" }
      - { region: eu-west, cname: lb.example.org., weight: 0 }
      - { region: us-east, address: 192.0.2.2 }
`)
	snap, err := Load(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	z := snap.Zone("example.com.")
	svc := z.Service("www.example.com.")
	usEast, euWest, apSouth := z.Region("us-east"), z.Region("eu-west"), z.Region("ap-south")
	idents := func(eps []*Endpoint) string {
		var s []string
		for _, ep := range eps {
			s = append(s, ep.Ident)
		}
		return strings.Join(s, " ")
	}
	tests := []struct {
		name   string
		pools  *Pools
		want   map[*Region]string
		order  []*Region
		weight int
	}{
		{"A", svc.Pools(dns.TypeA), map[*Region]string{usEast: "192.0.2.1 192.0.2.2", euWest: "198.51.100.1 lb.example.org."},
			[]*Region{usEast, euWest}, 6},
		{"AAAA", svc.Pools(dns.TypeAAAA), map[*Region]string{euWest: "2001:db8::1 lb.example.org."}, []*Region{euWest}, 1},
		{"all", svc.AllPools(), map[*Region]string{usEast: "192.0.2.1 192.0.2.2", euWest: "198.51.100.1 2001:db8::1 lb.example.org."},
			[]*Region{usEast, euWest}, 7},
	}
	for _, tc := range tests {
		var order []*Region
		for _, p := range tc.pools.Regions {
			order = append(order, p.Region)
		}
		if len(order) != len(tc.order) || tc.pools.Weight != tc.weight {
			t.Errorf("%s: regions %d, weight %d; want %d, %d", tc.name, len(order), tc.pools.Weight, len(tc.order), tc.weight)
		}
		for i := range min(len(order), len(tc.order)) {
			if order[i] != tc.order[i] {
				t.Errorf("%s: region %d is %s, want %s (zone file order)", tc.name, i, order[i].Name, tc.order[i].Name)
			}
		}
		for _, reg := range []*Region{usEast, euWest, apSouth, nil} {
			p := tc.pools.Region(reg)
			want, ok := tc.want[reg]
			if p == nil {
				if ok {
					t.Errorf("%s: no pool for a region with endpoints %s", tc.name, want)
				}
				continue
			}
			if p.Region != reg || idents(p.Endpoints) != want {
				t.Errorf("%s: pool of %s is %q, want %q", tc.name, reg.Name, idents(p.Endpoints), want)
			}
		}
	}
	other := &Region{Name: "us-east", Index: 0}
	if svc.AllPools().Region(other) != nil {
		t.Error("a region of another zone at the same index has a pool")
	}
	eu := svc.AllPools().Region(euWest)
	for _, tc := range []struct {
		i, n int
		want string
	}{{0, 3, "198.51.100.1 2001:db8::1 lb.example.org."}, {2, 2, "lb.example.org. 198.51.100.1"}, {1, 0, ""}} {
		run := eu.Run(tc.i, tc.n)
		if idents(run) != tc.want || cap(run) != tc.n {
			t.Errorf("Run(%d, %d) = %q cap %d, want %q cap %d", tc.i, tc.n, idents(run), cap(run), tc.want, tc.n)
		}
	}
	if w := svc.Pools(dns.TypeA).Region(euWest).Weight; w != 2 {
		t.Errorf("eu-west A weight %d, want 2", w)
	}
}

// TestLongestNetworkWithin checks the sorted search against the plain
// definition: the longest entry longer than p that overlaps it.
func TestLongestNetworkWithin(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	randomPrefix := func() netip.Prefix {
		var a netip.Addr
		var bits int
		if rng.IntN(2) == 0 {
			a = netip.AddrFrom4([4]byte{10, byte(rng.IntN(4)), byte(rng.IntN(4) * 64), byte(rng.IntN(256))})
			bits = 8 + rng.IntN(25)
		} else {
			a = netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, byte(rng.IntN(4)), byte(rng.IntN(4) * 64), 15: byte(rng.IntN(256))})
			bits = 16 + rng.IntN(113)
		}
		p, _ := a.Prefix(bits)
		return p
	}
	nonzero := 0
	for range 50 {
		var b strings.Builder
		b.WriteString(header + "regions:\n")
		var entries []netip.Prefix
		seen := map[netip.Prefix]bool{}
		for r := range 3 {
			fmt.Fprintf(&b, "  r%d: { location: [0, 0], networks: [", r)
			for range 1 + rng.IntN(20) {
				p := randomPrefix()
				if seen[p] {
					continue
				}
				seen[p] = true
				entries = append(entries, p)
				fmt.Fprintf(&b, "%q, ", p)
			}
			b.WriteString("] }\n")
		}
		dir := t.TempDir()
		writeFile(t, dir, "z.yaml", b.String())
		snap, err := Load(dir, nil)
		if err != nil {
			t.Fatal(err)
		}
		z := snap.Zone("example.com.")
		for range 200 {
			p := randomPrefix()
			switch rng.IntN(10) {
			case 0:
				p = netip.PrefixFrom(p.Addr().Next(), p.Bits()) // host bits set
			case 1:
				if p.Addr().Is4() {
					p = netip.PrefixFrom(netip.AddrFrom16(p.Addr().As16()), p.Bits()+96)
				}
			case 2:
				p = netip.Prefix{}
			}
			want := 0
			for _, q := range entries {
				if q.Bits() > p.Bits() && p.Overlaps(q) && q.Bits() > want {
					want = q.Bits()
				}
			}
			if want > 0 {
				nonzero++
			}
			if got := z.LongestNetworkWithin(p); got != want {
				t.Fatalf("LongestNetworkWithin(%s) = %d, want %d (entries %v)", p, got, want, entries)
			}
		}
	}
	if nonzero < 1000 {
		t.Errorf("only %d of 10000 prefixes had an entry inside: the test proves little", nonzero)
	}
}

// TestCodeMap: two-letter codes map by index, anything else maps to
// nothing, and an empty map takes no table.
func TestCodeMap(t *testing.T) {
	var c codeMap
	if c.get("US") != nil || c.m != nil {
		t.Fatal("an empty map answered or holds a table")
	}
	us, zz, aa := &Mapping{Rule: "US"}, &Mapping{Rule: "ZZ"}, &Mapping{Rule: "AA"}
	c.set("US", us)
	c.set("ZZ", zz)
	c.set("AA", aa)
	c.set("us", &Mapping{}) // not validated: ignored
	c.set("USA", &Mapping{})
	for code, want := range map[string]*Mapping{"US": us, "ZZ": zz, "AA": aa, "UT": nil, "us": nil, "U": nil, "": nil, "USA": nil, "U\xff": nil, "[A": nil, "@A": nil} {
		if got := c.get(code); got != want {
			t.Errorf("get(%q) = %v, want %v", code, got, want)
		}
	}
}
