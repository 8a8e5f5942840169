package main

import (
	"bytes"
	"math"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/meridian-dns/meridian/geo"
	"github.com/meridian-dns/meridian/geo/mmdbbuild"
)

// benchSplit is the split of bench/dnsperf.sh NETWORKS=split.
var benchSplit = splitOptions{Bits4: 20, Bits6: 40, Seed: 13}

// mustSplit splits entries and fails the test on an error.
func mustSplit(t *testing.T, entries []mmdbbuild.Entry, opts splitOptions) []mmdbbuild.Entry {
	t.Helper()
	out, err := splitNetworks(entries, opts)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// entry is an Entry for network with the data every test entry carries.
func entry(network string, lat, lon float64) mmdbbuild.Entry {
	return mmdbbuild.Entry{
		Network: netip.MustParsePrefix(network), Country: "US", Continent: "NA",
		Latitude: lat, Longitude: lon, HasCoordinates: true,
		ASN: 64500, ASOrg: "Example, Inc.", Subdivision: "US-VA",
	}
}

// within returns the entries of out whose networks lie in p.
func within(out []mmdbbuild.Entry, p netip.Prefix) []mmdbbuild.Entry {
	var in []mmdbbuild.Entry
	for _, e := range out {
		if p.Overlaps(e.Network) && e.Network.Bits() >= p.Bits() {
			in = append(in, e)
		}
	}
	return in
}

// checkMoved checks that got is want's data on a subnet of want's network
// with coordinates moved by at most half a degree (and the rounding to 4
// decimals), within the valid range.
func checkMoved(t *testing.T, got, want mmdbbuild.Entry, bits int) {
	t.Helper()
	if got.Network.Bits() != bits || !want.Network.Contains(got.Network.Addr()) {
		t.Errorf("%s: not a /%d of %s", got.Network, bits, want.Network)
	}
	if !want.HasCoordinates {
		if got.HasCoordinates || got.Latitude != 0 || got.Longitude != 0 {
			t.Errorf("%s: coordinates %v,%v, but %s has none", got.Network, got.Latitude, got.Longitude, want.Network)
		}
	} else {
		const most = 0.5 + 0.5e-4
		if !got.HasCoordinates || math.Abs(got.Latitude-want.Latitude) > most || math.Abs(got.Longitude-want.Longitude) > most ||
			got.Latitude < -90 || got.Latitude > 90 || got.Longitude < -180 || got.Longitude > 180 {
			t.Errorf("%s: coordinates %v,%v, want within half a degree of %v,%v and valid",
				got.Network, got.Latitude, got.Longitude, want.Latitude, want.Longitude)
		}
		for _, v := range []float64{got.Latitude, got.Longitude} {
			if math.Round(v*1e4)/1e4 != v {
				t.Errorf("%s: coordinate %v has more than 4 decimals", got.Network, v)
			}
		}
	}
	got.Network, got.Latitude, got.Longitude = want.Network, want.Latitude, want.Longitude
	if got != want {
		t.Errorf("data of %s: got %+v, want %+v", want.Network, got, want)
	}
}

// TestSplitCounts splits a /12 into 256 /20s and a /16 into 16, an IPv6
// /32 into 256 /40s, and copies a /24 and an IPv6 /48 as they are.
func TestSplitCounts(t *testing.T) {
	in := []mmdbbuild.Entry{
		entry("23.0.0.0/12", 39.0438, -77.4874),
		entry("73.0.0.0/16", 41.8781, -87.6298),
		entry("64.1.2.0/24", 37.3382, -121.8863),
		entry("2600:1::/32", 39.0438, -77.4874),
		entry("2600:2::/48", 37.3382, -121.8863),
		{Network: netip.MustParsePrefix("91.0.0.0/16"), Country: "DE", Continent: "EU"},
	}
	out := mustSplit(t, in, benchSplit)
	for _, tc := range []struct {
		entry, bits, want int
	}{
		{0, 20, 256},
		{1, 20, 16},
		{3, 40, 256},
		{5, 20, 16},
	} {
		e := in[tc.entry]
		got := within(out, e.Network)
		if len(got) != tc.want {
			t.Errorf("%s: %d networks, want %d /%ds", e.Network, len(got), tc.want, tc.bits)
		}
		seen := map[netip.Prefix]bool{}
		for _, g := range got {
			checkMoved(t, g, e, tc.bits)
			seen[g.Network] = true
		}
		if len(seen) != len(got) {
			t.Errorf("%s: %d networks, %d of them distinct", e.Network, len(got), len(seen))
		}
	}
	for _, i := range []int{2, 4} {
		if got := within(out, in[i].Network); len(got) != 1 || got[0] != in[i] {
			t.Errorf("%s: got %+v, want it copied as it is", in[i].Network, got)
		}
	}
	if len(out) != 256+16+1+256+1+16 {
		t.Errorf("%d networks, want %d", len(out), 256+16+1+256+1+16)
	}

	// Every new network is a record of its own: no two share coordinates
	// (with 256 draws of 10,000 by 10,000 points a clash is unlikely, and
	// the seed is fixed).
	points := map[[2]float64]netip.Prefix{}
	for _, g := range within(out, in[0].Network) {
		pt := [2]float64{g.Latitude, g.Longitude}
		if prev, ok := points[pt]; ok {
			t.Errorf("%s and %s share the coordinates %v", prev, g.Network, pt)
		}
		points[pt] = g.Network
	}
}

// TestSplitOrder checks that the networks come in turn from the entries, so
// that -ecs-mix, taking networks in turn, reaches every entry.
func TestSplitOrder(t *testing.T) {
	in := []mmdbbuild.Entry{
		entry("23.0.0.0/19", 39, -77),
		entry("64.1.2.0/24", 37, -121),
		entry("73.0.0.0/18", 41, -87),
	}
	var got []string
	for _, e := range mustSplit(t, in, benchSplit) {
		got = append(got, e.Network.String())
	}
	want := []string{
		"23.0.0.0/20", "64.1.2.0/24", "73.0.0.0/20",
		"23.0.16.0/20", "73.0.16.0/20",
		"73.0.32.0/20",
		"73.0.48.0/20",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("order %v, want %v", got, want)
	}
}

// TestSplitNested keeps a narrower network inside a split one as its own
// entry: the split leaves out the subnet it is (or lies in), so the data
// reads back without duplicates and lookups there find the same entry.
func TestSplitNested(t *testing.T) {
	in := []mmdbbuild.Entry{
		entry("10.0.0.0/12", 39, -77),
		{Network: netip.MustParsePrefix("10.0.16.0/20"), Country: "DE", Continent: "EU"},
		{Network: netip.MustParsePrefix("10.0.0.0/16"), Country: "FR", Continent: "EU"},
		{Network: netip.MustParsePrefix("10.1.2.0/24"), Country: "GB", Continent: "EU"},
	}
	out := mustSplit(t, in, benchSplit)
	count := map[string]int{}
	for _, e := range out {
		count[e.Country]++
	}
	// The /12's 256 /20s less the 16 of the /16; the /16 makes 16 /20s, one
	// of them the /20 of its own.
	want := map[string]int{"US": 240, "FR": 15, "DE": 1, "GB": 1}
	if !reflect.DeepEqual(count, want) {
		t.Errorf("networks by country %v, want %v", count, want)
	}
	back := roundTrip(t, out)
	if len(back) != len(out) {
		t.Errorf("%d networks read back, want %d", len(back), len(out))
	}
}

// TestSplitClamp keeps moved coordinates in the valid range.
func TestSplitClamp(t *testing.T) {
	in := []mmdbbuild.Entry{
		entry("23.0.0.0/12", 89.9, 179.9),
		entry("24.0.0.0/12", -89.9, -179.9),
	}
	out := mustSplit(t, in, benchSplit)
	clamped := 0
	for i, e := range in {
		for _, g := range within(out, e.Network) {
			checkMoved(t, g, in[i], 20)
			if math.Abs(g.Latitude) == 90 {
				clamped++
			}
			if math.Abs(g.Longitude) == 180 {
				clamped++
			}
		}
	}
	// Two in five draws go beyond the edge.
	if clamped < 100 {
		t.Errorf("%d coordinates of 1,024 clamped to the edge, want about 400", clamped)
	}
}

// TestSplitBench splits the benchmark's data as bench/dnsperf.sh
// NETWORKS=split does and checks every network against its entry.
func TestSplitBench(t *testing.T) {
	entries, err := readNetworks(benchCSV)
	if err != nil {
		t.Fatal(err)
	}
	out := mustSplit(t, entries, benchSplit)
	t.Logf("%d networks from %d", len(out), len(entries))
	total := 0
	for _, e := range entries {
		bits := splitBits(e.Network, benchSplit)
		got := within(out, e.Network)
		if e.Network.Bits() >= bits {
			if len(got) != 1 || got[0] != e {
				t.Errorf("%s: got %+v, want it copied", e.Network, got)
			}
		} else if want := 1 << (bits - e.Network.Bits()); len(got) != want {
			t.Errorf("%s: %d networks, want %d", e.Network, len(got), want)
		} else {
			for _, g := range got {
				checkMoved(t, g, e, bits)
			}
		}
		total += len(got)
	}
	if total != len(out) {
		t.Errorf("%d networks, %d of them in an entry's network", len(out), total)
	}
}

// roundTrip writes entries with writeCSV and reads them back with
// mmdbbuild.ReadCSV, which must give the same entries.
func roundTrip(t *testing.T, entries []mmdbbuild.Entry) []mmdbbuild.Entry {
	t.Helper()
	var b bytes.Buffer
	if err := writeCSV(&b, "test", entries); err != nil {
		t.Fatal(err)
	}
	back, err := mmdbbuild.ReadCSV(&b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, entries) {
		t.Errorf("read back %d entries that differ from the %d written", len(back), len(entries))
	}
	return back
}

// TestSplitRoundTrip runs the command as bench/dnsperf.sh does: its CSV
// reads back with mmdbbuild.ReadCSV as the split entries, builds into a
// City database that finds each network's own coordinates, and the ECS mix
// over its networks reaches every entry of the data, so every country.
func TestSplitRoundTrip(t *testing.T) {
	dir := t.TempDir()
	csvPath := filepath.Join(dir, "geoip-split.csv")
	var stderr bytes.Buffer
	args := []string{"-split", "20,40", "-networks", benchCSV, "-seed", "13", "-csv-out", csvPath}
	if err := run(args, &stderr); err != nil {
		t.Fatalf("genqueries %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	if !strings.Contains(stderr.String(), "networks from the 66 of") {
		t.Errorf("genqueries says %q", stderr.String())
	}
	entries, err := readNetworks(benchCSV)
	if err != nil {
		t.Fatal(err)
	}
	want := mustSplit(t, entries, benchSplit)
	got, err := readNetworks(csvPath)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("the CSV reads back as %d entries that differ from the %d split", len(got), len(want))
	}
	text, err := os.ReadFile(csvPath)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(text), "\n")
	if !strings.HasPrefix(lines[0], "# genqueries -split 20,40") || lines[1] != strings.Join(csvHeader, ",") {
		t.Errorf("CSV starts %q", lines[:2])
	}
	if !strings.Contains(string(text), "\n23.0.0.0/20,US,NA,") {
		t.Errorf("CSV lacks 23.0.0.0/20")
	}

	db := filepath.Join(dir, "bench-city.mmdb")
	if _, err := mmdbbuild.BuildFile(mmdbbuild.FormatCSV, []string{csvPath}, db, mmdbbuild.TypeCity); err != nil {
		t.Fatal(err)
	}
	dbs, err := geo.Open(geo.Paths{City: db})
	if err != nil {
		t.Fatal(err)
	}
	defer dbs.Close()
	for _, e := range got[:200] {
		loc := dbs.Lookup(e.Network.Addr())
		if loc.Network != e.Network || loc.Country != e.Country || loc.Latitude != e.Latitude || loc.Longitude != e.Longitude {
			t.Errorf("lookup of %s: %+v, want %+v", e.Network.Addr(), loc, e)
		}
	}

	qs, err := ecsMix(got, mixOptions{Queries: 10000, Seed: 13, Name: "www.example.com."})
	if err != nil {
		t.Fatal(err)
	}
	hit := map[netip.Prefix]int{}
	continents := map[string]int{}
	for _, q := range qs {
		for _, e := range entries {
			if e.Network.Contains(q.Subnet.Addr()) {
				hit[e.Network]++
				continents[e.Continent]++
			}
		}
	}
	t.Logf("mix queries by continent: %v", continents)
	for _, e := range entries {
		if !e.Network.Addr().IsLoopback() && hit[e.Network] == 0 {
			t.Errorf("no query of the mix in %s (%s)", e.Network, e.Country)
		}
	}
}

// TestSplitReproducible writes the same bytes for the same inputs, and
// other coordinates for another seed.
func TestSplitReproducible(t *testing.T) {
	gen := func(seed string) []byte {
		out := filepath.Join(t.TempDir(), "split.csv")
		var stderr bytes.Buffer
		args := []string{"-split", "20,40", "-networks", benchCSV, "-seed", seed, "-csv-out", out}
		if err := run(args, &stderr); err != nil {
			t.Fatalf("genqueries %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
		}
		b, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	a, b := gen("13"), gen("13")
	if !bytes.Equal(a, b) {
		t.Fatal("two runs with the same seed wrote different CSVs")
	}
	if bytes.Equal(a, gen("14")) {
		t.Error("seeds 13 and 14 wrote the same CSV")
	}
}

func TestSplitErrors(t *testing.T) {
	for _, tc := range []struct {
		value, want string
	}{
		{"20", "want IPv4 and IPv6 prefix lengths"},
		{"", "want IPv4 and IPv6 prefix lengths"},
		{"0,40", "IPv4 prefix length must be a whole number from 1 to 32"},
		{"33,40", "IPv4 prefix length must be a whole number from 1 to 32"},
		{"x,40", "IPv4 prefix length must be a whole number from 1 to 32"},
		{"20,0", "IPv6 prefix length must be a whole number from 1 to 128"},
		{"20,129", "IPv6 prefix length must be a whole number from 1 to 128"},
		{"20,40,56", "IPv6 prefix length must be a whole number from 1 to 128"},
	} {
		if _, err := parseSplit(tc.value); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("parseSplit(%q) = %v, want an error containing %q", tc.value, err, tc.want)
		}
	}
	if opts, err := parseSplit("20,40"); err != nil || opts != (splitOptions{Bits4: 20, Bits6: 40}) {
		t.Errorf("parseSplit(20,40) = %+v, %v", opts, err)
	}

	// Too many networks: 2^20 from one entry, 2 x 2^19 from two, and
	// 2^108 from one IPv6 /20.
	for _, tc := range []struct {
		entries []mmdbbuild.Entry
		opts    splitOptions
	}{
		{[]mmdbbuild.Entry{entry("16.0.0.0/4", 0, 0)}, splitOptions{Bits4: 24, Bits6: 40}},
		{[]mmdbbuild.Entry{entry("16.0.0.0/5", 0, 0), entry("24.0.0.0/5", 0, 0)}, splitOptions{Bits4: 24, Bits6: 40}},
		{[]mmdbbuild.Entry{entry("2600::/20", 0, 0)}, splitOptions{Bits4: 24, Bits6: 128}},
	} {
		if _, err := splitNetworks(tc.entries, tc.opts); err == nil || !strings.Contains(err.Error(), "more than 1000000 networks") {
			t.Errorf("split of %v to %+v: %v, want more than 1000000 networks refused", tc.entries[0].Network, tc.opts, err)
		}
	}

	// Through the command: a bad value or a split too large is an error
	// of its own, not the usage.
	for _, tc := range []struct {
		split, want string
	}{
		{"20,400", "from 1 to 128"},
		{"32,40", "more than 1000000 networks"}, // 127.0.0.0/8 in /32s
	} {
		var stderr bytes.Buffer
		err := run([]string{"-split", tc.split, "-networks", benchCSV, "-csv-out", filepath.Join(t.TempDir(), "x.csv")}, &stderr)
		if err == nil || err == errUsage || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("-split %s: %v, want an error containing %q", tc.split, err, tc.want)
		}
	}
}

func TestSplitUsage(t *testing.T) {
	for _, args := range [][]string{
		{"-split", "20,40"},
		{"-csv-out", "x.csv"},
		{"-split", "20,40", "-csv-out", "x.csv", "-o", "x.bin"},
		{"-split", "20,40", "-csv-out", "x.csv", "-ecs-mix", "100"},
		{"-split", "20,40", "-csv-out", "x.csv", "-do"},
		{"-split", "20,40", "-csv-out", "x.csv", "-spec", "x.txt"},
		{"-split", "20,40", "-csv-out", "x.csv", "extra.txt"},
	} {
		var stderr bytes.Buffer
		if err := run(args, &stderr); err != errUsage || !strings.Contains(stderr.String(), "genqueries -split") {
			t.Errorf("run(%q) = %v, %q; want the usage", args, err, stderr.String())
		}
	}
}
