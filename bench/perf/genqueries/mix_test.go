package main

import (
	"bytes"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/meridian-dns/meridian/bench/dnsperfinput"
	"github.com/meridian-dns/meridian/geo"
	"github.com/meridian-dns/meridian/geo/mmdbbuild"
	"github.com/miekg/dns"
)

// benchCSV is the benchmark's GeoIP data, from this package's directory.
const benchCSV = "../geoip.csv"

// benchDatabase builds benchCSV into a database, as bench/dnsperf.sh does
// with `meridian geoip build`, and opens it.
func benchDatabase(t *testing.T) *geo.Databases {
	t.Helper()
	path := filepath.Join(t.TempDir(), "bench-city.mmdb")
	if _, err := mmdbbuild.BuildFile(mmdbbuild.FormatCSV, []string{benchCSV}, path, mmdbbuild.TypeCity); err != nil {
		t.Fatal(err)
	}
	db, err := geo.Open(geo.Paths{City: path})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// TestECSMix checks the mix bench/dnsperf.sh sends against the benchmark's
// own database: 10,000 queries, half A and half AAAA, over thousands of
// distinct /24 and /56 client subnets each asked 2 or 3 times, a tenth of
// them in no network of the database, the rest in every network of it.
func TestECSMix(t *testing.T) {
	entries, err := readNetworks(benchCSV)
	if err != nil {
		t.Fatal(err)
	}
	qs, err := ecsMix(entries, mixOptions{Queries: 10000, Seed: 13, Name: "www.example.com."})
	if err != nil {
		t.Fatal(err)
	}
	if len(qs) != 10000 {
		t.Fatalf("got %d queries, want 10000", len(qs))
	}

	asked := map[netip.Prefix]int{}
	types := map[uint16]int{}
	for _, q := range qs {
		if q.Name != "www.example.com." {
			t.Fatalf("query %d asks %s", q.Line, q.Name)
		}
		types[q.Type]++
		asked[q.Subnet]++
	}
	if types[dns.TypeA] != 5000 || types[dns.TypeAAAA] != 5000 {
		t.Errorf("types %v, want 5000 A and 5000 AAAA", types)
	}

	db := benchDatabase(t)
	type family struct{ subnets, unmapped, unmappedQueries int }
	fams := map[int]*family{subnetBits4: {}, subnetBits6: {}}
	hitNetworks := map[netip.Prefix]int{}
	continents := map[string]int{}
	countries := map[string]int{}
	for p, n := range asked {
		f := fams[p.Bits()]
		if f == nil || p.Addr().Is4() != (p.Bits() == subnetBits4) || p != p.Masked() {
			t.Fatalf("client subnet %s: want IPv4 /24s and IPv6 /56s", p)
		}
		if n < 2 || n > 3 {
			t.Errorf("client subnet %s asked %d times, want 2 or 3", p, n)
		}
		if a := p.Addr(); !a.IsGlobalUnicast() || a.IsPrivate() {
			t.Errorf("client subnet %s is not global unicast: Meridian would ignore it", p)
		}
		f.subnets++
		loc := db.Lookup(p.Addr())
		if loc.IsZero() {
			f.unmapped++
			f.unmappedQueries += n
			for _, u := range unroutable {
				if p.Overlaps(u) {
					t.Errorf("unmapped client subnet %s lies in the special-purpose range %s", p, u)
				}
			}
			continue
		}
		if loc.Network.Bits() > p.Bits() || !loc.Network.Contains(p.Addr()) {
			t.Errorf("client subnet %s is not inside one network: the database says %s", p, loc.Network)
		}
		hitNetworks[loc.Network]++
		continents[loc.Continent]++
		countries[loc.Country]++
	}

	for bits, f := range fams {
		t.Logf("/%d: %d distinct client subnets, %d (%.1f %%) in no network of the database, asked %d times",
			bits, f.subnets, f.unmapped, 100*float64(f.unmapped)/float64(f.subnets), f.unmappedQueries)
		if f.subnets < 1000 {
			t.Errorf("/%d: %d distinct client subnets, want thousands", bits, f.subnets)
		}
		if share := float64(f.unmapped) / float64(f.subnets); share < 0.09 || share > 0.11 {
			t.Errorf("/%d: %.3f of the client subnets in no network, want about a tenth", bits, share)
		}
		if share := float64(f.unmappedQueries) / float64(len(qs)/2); share < 0.08 || share > 0.12 {
			t.Errorf("/%d: %.3f of the queries from subnets in no network, want about a tenth", bits, share)
		}
	}
	t.Logf("mapped subnets by continent: %v; %d countries", continents, len(countries))

	// Every network that can hold a client subnet holds some, so every
	// country and continent of the data, and every region the zone routes
	// them to, answers part of the mix.
	for _, e := range entries {
		p := e.Network
		bits := subnetBits6
		if p.Addr().Is4() {
			bits = subnetBits4
		}
		if p.Addr().IsLoopback() || p.Bits() > bits {
			continue
		}
		if hitNetworks[p] == 0 {
			t.Errorf("no client subnet in %s (%s, %s)", p, e.Country, e.Continent)
		}
	}
	for _, c := range []string{"AF", "AN", "AS", "EU", "NA", "OC", "SA"} {
		if continents[c] == 0 {
			t.Errorf("no client subnet on continent %s", c)
		}
	}
}

// TestECSMixReproducible runs the command twice with the same arguments and
// gets the same bytes, spec and binary input; a different seed gives a
// different mix.
func TestECSMixReproducible(t *testing.T) {
	gen := func(seed string) (spec, bin []byte) {
		dir := t.TempDir()
		var stderr bytes.Buffer
		args := []string{"-ecs-mix", "10000", "-networks", benchCSV, "-seed", seed,
			"-spec", filepath.Join(dir, "ecs.txt"), "-o", filepath.Join(dir, "ecs.bin")}
		if err := run(args, &stderr); err != nil {
			t.Fatalf("genqueries %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
		}
		spec, err := os.ReadFile(filepath.Join(dir, "ecs.txt"))
		if err != nil {
			t.Fatal(err)
		}
		bin, err = os.ReadFile(filepath.Join(dir, "ecs.bin"))
		if err != nil {
			t.Fatal(err)
		}
		return spec, bin
	}
	spec1, bin1 := gen("13")
	spec2, bin2 := gen("13")
	if !bytes.Equal(spec1, spec2) || !bytes.Equal(bin1, bin2) {
		t.Fatal("two runs with the same seed wrote different mixes")
	}
	if spec3, _ := gen("14"); bytes.Equal(spec1, spec3) {
		t.Error("seeds 13 and 14 wrote the same mix")
	}

	// The spec reads back as the queries the binary input holds.
	qs, err := dnsperfinput.ParseSpec(bytes.NewReader(spec1))
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := dnsperfinput.ReadBinary(bin1)
	if err != nil {
		t.Fatal(err)
	}
	if len(qs) != 10000 || len(msgs) != len(qs) {
		t.Fatalf("spec has %d queries and the binary input %d, want 10000 each", len(qs), len(msgs))
	}
	for i, m := range msgs {
		want := qs[i].Msg()
		want.Id = m.Id
		if m.String() != want.String() {
			t.Fatalf("message %d (spec line %d):\n%s\nwant\n%s", i, qs[i].Line, m, want)
		}
	}
}

func TestECSMixErrors(t *testing.T) {
	small := []mmdbbuild.Entry{
		{Network: netip.MustParsePrefix("64.0.0.0/23"), Country: "US"},
		{Network: netip.MustParsePrefix("2600:1::/55"), Country: "US"},
	}
	noIPv6 := []mmdbbuild.Entry{{Network: netip.MustParsePrefix("64.0.0.0/16"), Country: "US"}}
	for _, tc := range []struct {
		name    string
		entries []mmdbbuild.Entry
		queries int
		want    string
	}{
		{"too few queries", small, 9, "at least 10 queries"},
		{"networks too small", small, 100, "64.0.0.0/23: too small"},
		{"no IPv6 network", noIPv6, 100, "no network can hold a /56"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ecsMix(tc.entries, mixOptions{Queries: tc.queries, Name: "www.example.com."})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestRunUsage(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"-o", "x.bin"},
		{"-o", "x.bin", "-ecs-mix", "100", "extra.txt"},
		{"-o", "x.bin", "-spec", "x.txt", "spec.txt"},
	} {
		var stderr bytes.Buffer
		if err := run(args, &stderr); err != errUsage || !strings.Contains(stderr.String(), "usage: genqueries") {
			t.Errorf("run(%q) = %v, %q; want the usage", args, err, stderr.String())
		}
	}
}
