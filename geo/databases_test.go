package geo_test

import (
	"bytes"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/meridian-dns/meridian/geo"
	"github.com/meridian-dns/meridian/geo/geotest"
	"github.com/meridian-dns/meridian/geo/mmdbbuild"
)

// cityEntries is the synthetic City data shared by the lookup tests.
var cityEntries = []mmdbbuild.Entry{
	{
		Network: netip.MustParsePrefix("192.0.2.0/24"), Country: "US", Continent: "NA",
		Latitude: 37.7749, Longitude: -122.4194, HasCoordinates: true,
		ASN: 64496, ASOrg: "City ASN Org", Subdivision: "US-CA",
	},
	// A more specific network inside the one above.
	{
		Network: netip.MustParsePrefix("192.0.2.128/25"), Country: "CA", Continent: "NA",
		Latitude: 43.6532, Longitude: -79.3832, HasCoordinates: true, Subdivision: "CA-ON",
	},
	// Country without coordinates or continent: both come from the tables.
	{Network: netip.MustParsePrefix("198.51.100.0/24"), Country: "DE"},
	// Continent only: coordinates come from the continent centroid.
	{Network: netip.MustParsePrefix("203.0.113.0/24"), Continent: "AS"},
	// Coordinates at 0°, 0° must not be mistaken for "absent".
	{
		Network: netip.MustParsePrefix("10.0.0.0/8"), Country: "GH", Continent: "AF",
		HasCoordinates: true,
	},
	{
		Network: netip.MustParsePrefix("2001:db8:1::/48"), Country: "GB", Continent: "EU",
		Latitude: 51.5074, Longitude: -0.1278, HasCoordinates: true, ASN: 64497, Subdivision: "GB-ENG",
	},
}

// countryEntries is the synthetic Country data.
var countryEntries = []mmdbbuild.Entry{
	{Network: netip.MustParsePrefix("192.0.2.0/24"), Country: "MX", Continent: "NA"},
	{Network: netip.MustParsePrefix("203.0.113.0/24"), Country: "JP", Continent: "AS"},
	{Network: netip.MustParsePrefix("100.64.0.0/10"), Country: "FR", Continent: "EU"},
	{Network: netip.MustParsePrefix("2001:db8::/32"), Country: "NL", Continent: "EU"},
}

// asnEntries is the synthetic ASN data.
var asnEntries = []mmdbbuild.Entry{
	{Network: netip.MustParsePrefix("192.0.2.0/23"), ASN: 65551, ASOrg: "ASN DB Org"},
	{Network: netip.MustParsePrefix("2001:db8::/32"), ASN: 65550, ASOrg: "ASN DB Org v6"},
}

func TestLookup(t *testing.T) {
	city := geotest.WriteMMDB(t, cityEntries)
	country := geotest.WriteMMDBType(t, countryEntries, mmdbbuild.TypeCountry)
	asn := geotest.WriteMMDBType(t, asnEntries, mmdbbuild.TypeASN)
	deLat, deLon, _ := geo.CountryCentroid("DE")
	asLat, asLon, _ := geo.ContinentCentroid("AS")
	jpLat, jpLon, _ := geo.CountryCentroid("JP")
	mxLat, mxLon, _ := geo.CountryCentroid("MX")

	tests := []struct {
		name  string
		paths geo.Paths
		ip    string
		want  geo.Location
	}{
		{
			name: "city ipv4", paths: geo.Paths{City: city}, ip: "192.0.2.1",
			want: geo.Location{
				Country: "US", Continent: "NA", Subdivision: "US-CA", ASN: 64496, ASOrg: "City ASN Org",
				Latitude: 37.7749, Longitude: -122.4194, HasCoordinates: true,
				Network: netip.MustParsePrefix("192.0.2.0/25"),
			},
		},
		{
			name: "ipv4-mapped ipv6 is looked up as ipv4", paths: geo.Paths{City: city}, ip: "::ffff:192.0.2.1",
			want: geo.Location{
				Country: "US", Continent: "NA", Subdivision: "US-CA", ASN: 64496, ASOrg: "City ASN Org",
				Latitude: 37.7749, Longitude: -122.4194, HasCoordinates: true,
				Network: netip.MustParsePrefix("192.0.2.0/25"),
			},
		},
		{
			name: "more specific network wins", paths: geo.Paths{City: city}, ip: "192.0.2.200",
			want: geo.Location{
				Country: "CA", Continent: "NA", Subdivision: "CA-ON",
				Latitude: 43.6532, Longitude: -79.3832, HasCoordinates: true,
				Network: netip.MustParsePrefix("192.0.2.128/25"),
			},
		},
		{
			name: "city ipv6", paths: geo.Paths{City: city}, ip: "2001:db8:1::53",
			want: geo.Location{
				Country: "GB", Continent: "EU", Subdivision: "GB-ENG", ASN: 64497,
				Latitude: 51.5074, Longitude: -0.1278, HasCoordinates: true,
				Network: netip.MustParsePrefix("2001:db8:1::/48"),
			},
		},
		{
			name: "country centroid and continent from tables", paths: geo.Paths{City: city}, ip: "198.51.100.7",
			want: geo.Location{
				Country: "DE", Continent: "EU", Latitude: deLat, Longitude: deLon, HasCoordinates: true,
				Network: netip.MustParsePrefix("198.51.100.0/24"),
			},
		},
		{
			name: "continent centroid", paths: geo.Paths{City: city}, ip: "203.0.113.9",
			want: geo.Location{
				Continent: "AS", Latitude: asLat, Longitude: asLon, HasCoordinates: true,
				Network: netip.MustParsePrefix("203.0.113.0/24"),
			},
		},
		{
			name: "zero coordinates are kept", paths: geo.Paths{City: city}, ip: "10.1.2.3",
			want: geo.Location{
				Country: "GH", Continent: "AF", HasCoordinates: true,
				Network: netip.MustParsePrefix("10.0.0.0/8"),
			},
		},
		{
			name: "unknown address", paths: geo.Paths{City: city}, ip: "8.8.8.8",
			want: geo.Location{Network: netip.MustParsePrefix("8.0.0.0/7")}, // the span no record covers
		},
		{
			name: "unknown ipv6 address", paths: geo.Paths{City: city}, ip: "2001:db8:ffff::1",
			want: geo.Location{Network: netip.MustParsePrefix("2001:db8:8000::/33")},
		},
		{
			name: "invalid address", paths: geo.Paths{City: city}, ip: "",
			want: geo.Location{},
		},
		{
			name: "country only database", paths: geo.Paths{Country: country}, ip: "203.0.113.1",
			want: geo.Location{
				Country: "JP", Continent: "AS", Latitude: jpLat, Longitude: jpLon, HasCoordinates: true,
				Network: netip.MustParsePrefix("203.0.113.0/24"),
			},
		},
		{
			name: "country only database ipv6", paths: geo.Paths{Country: country}, ip: "2001:db8:9::1",
			want: geo.Location{
				Country: "NL", Continent: "EU", Latitude: 52.3676, Longitude: 4.9041, HasCoordinates: true,
				Network: netip.MustParsePrefix("2001:db8::/32"),
			},
		},
		{
			name: "country database fills what city lacks", paths: geo.Paths{City: city, Country: country}, ip: "203.0.113.1",
			want: geo.Location{
				Country: "JP", Continent: "AS", Latitude: jpLat, Longitude: jpLon, HasCoordinates: true,
				Network: netip.MustParsePrefix("203.0.113.0/24"),
			},
		},
		{
			name: "city wins over country", paths: geo.Paths{City: city, Country: country}, ip: "192.0.2.1",
			want: geo.Location{
				Country: "US", Continent: "NA", Subdivision: "US-CA", ASN: 64496, ASOrg: "City ASN Org",
				Latitude: 37.7749, Longitude: -122.4194, HasCoordinates: true,
				Network: netip.MustParsePrefix("192.0.2.0/25"),
			},
		},
		{
			name: "asn only database", paths: geo.Paths{ASN: asn}, ip: "192.0.3.4",
			want: geo.Location{ASN: 65551, ASOrg: "ASN DB Org", Network: netip.MustParsePrefix("192.0.2.0/23")},
		},
		{
			name:  "asn database overrides city asn, most specific network kept",
			paths: geo.Paths{City: city, ASN: asn}, ip: "192.0.2.1",
			want: geo.Location{
				Country: "US", Continent: "NA", Subdivision: "US-CA", ASN: 65551, ASOrg: "ASN DB Org",
				Latitude: 37.7749, Longitude: -122.4194, HasCoordinates: true,
				Network: netip.MustParsePrefix("192.0.2.0/25"),
			},
		},
		{
			name: "country and asn databases", paths: geo.Paths{Country: country, ASN: asn}, ip: "192.0.2.1",
			want: geo.Location{
				Country: "MX", Continent: "NA", ASN: 65551, ASOrg: "ASN DB Org",
				Latitude: mxLat, Longitude: mxLon, HasCoordinates: true,
				Network: netip.MustParsePrefix("192.0.2.0/24"),
			},
		},
		{
			name: "no databases", paths: geo.Paths{}, ip: "192.0.2.1",
			want: geo.Location{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dbs, err := geo.Open(tt.paths)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			var ip netip.Addr
			if tt.ip != "" {
				ip = netip.MustParseAddr(tt.ip)
			}
			if got := dbs.Lookup(ip); got != tt.want {
				t.Errorf("Lookup(%s)\n got %v\nwant %v", tt.ip, got, tt.want)
			}
		})
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.mmdb")
	if err := os.WriteFile(garbage, []byte("this is not a database"), 0o644); err != nil {
		t.Fatal(err)
	}
	city := geotest.WriteMMDB(t, cityEntries)
	asn := geotest.WriteMMDBType(t, asnEntries, mmdbbuild.TypeASN)
	missing := filepath.Join(dir, "missing.mmdb")

	tests := []struct {
		name     string
		paths    geo.Paths
		wantFile string
		wantText string
	}{
		{"missing file", geo.Paths{City: missing}, missing, "no such file"},
		{"not a database", geo.Paths{Country: garbage}, garbage, "invalid MaxMind DB"},
		{"asn database as city", geo.Paths{City: asn}, asn, `"GeoLite2-ASN" is not a City or Country database`},
		{"city database as asn", geo.Paths{City: city, ASN: city}, city, `"GeoIP2-City" is not an ASN database`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := geo.Open(tt.paths)
			if err == nil {
				t.Fatal("Open succeeded, want error")
			}
			var fe *geo.FileError
			if !errors.As(err, &fe) || fe.Path != tt.wantFile {
				t.Fatalf("error %v does not name %s", err, tt.wantFile)
			}
			if want := "geo: open " + tt.wantFile + ": "; !strings.HasPrefix(err.Error(), want) {
				t.Errorf("error %q, want prefix %q", err, want)
			}
			if !strings.Contains(err.Error(), tt.wantText) {
				t.Errorf("error %q, want it to contain %q", err, tt.wantText)
			}
		})
	}
}

func TestDatabasesMetadata(t *testing.T) {
	city := geotest.WriteMMDB(t, cityEntries)
	asn := geotest.WriteMMDBType(t, asnEntries, mmdbbuild.TypeASN)

	empty, err := geo.Open(geo.Paths{})
	if err != nil {
		t.Fatal(err)
	}
	if !empty.Empty() || !empty.BuildTime().IsZero() || len(empty.Info()) != 0 {
		t.Errorf("empty set: Empty=%v BuildTime=%v Info=%v", empty.Empty(), empty.BuildTime(), empty.Info())
	}

	dbs, err := geo.Open(geo.Paths{City: city, ASN: asn})
	if err != nil {
		t.Fatal(err)
	}
	if dbs.Empty() {
		t.Error("Empty() = true with two databases")
	}
	if !dbs.BuildTime().Equal(geotest.BuildTime) {
		t.Errorf("BuildTime() = %v, want %v", dbs.BuildTime(), geotest.BuildTime)
	}
	info := dbs.Info()
	if len(info) != 2 || info[0].Role != geo.RoleCity || info[0].Type != mmdbbuild.TypeCity ||
		info[1].Role != geo.RoleASN || info[1].Path != asn {
		t.Errorf("Info() = %+v", info)
	}
	if dbs.Paths() != (geo.Paths{City: city, ASN: asn}) {
		t.Errorf("Paths() = %+v", dbs.Paths())
	}

	ip := netip.MustParseAddr("192.0.2.1")
	if dbs.Lookup(ip).IsZero() {
		t.Fatal("lookup before Close found nothing")
	}
	if err := dbs.Close(); err != nil {
		t.Fatal(err)
	}
	if got := dbs.Lookup(ip); !got.IsZero() {
		t.Errorf("lookup after Close = %v, want zero", got)
	}
}

func TestLocationString(t *testing.T) {
	tests := []struct {
		loc  geo.Location
		want string
	}{
		{geo.Location{}, "unknown"},
		{
			geo.Location{
				Country: "US", Continent: "NA", Subdivision: "US-VA", ASN: 64496, ASOrg: "Example Org",
				Latitude: 39.0438, Longitude: -77.4874, HasCoordinates: true,
				Network: netip.MustParsePrefix("127.0.0.0/8"),
			},
			`country=US continent=NA subdivision=US-VA asn=64496 as_org="Example Org" lat=39.0438 lon=-77.4874 network=127.0.0.0/8`,
		},
		{geo.Location{Continent: "EU"}, "continent=EU"},
	}
	for _, tt := range tests {
		if got := tt.loc.String(); got != tt.want {
			t.Errorf("String() = %q, want %q", got, tt.want)
		}
	}
}

func TestDemoDatabase(t *testing.T) {
	dbs, err := geo.Open(geo.Paths{City: geotest.DemoMMDB(t)})
	if err != nil {
		t.Fatal(err)
	}
	nlLat, nlLon, _ := geo.CountryCentroid("NL")
	jpLat, jpLon, _ := geo.CountryCentroid("JP")
	tests := []struct {
		ip   string
		want geo.Location
	}{
		{"127.0.0.1", geo.Location{
			Country: "US", Continent: "NA", Subdivision: "US-VA", ASN: 64496, ASOrg: "Meridian Demo Loopback",
			Latitude: 39.0438, Longitude: -77.4874, HasCoordinates: true, Network: netip.MustParsePrefix("127.0.0.0/8"),
		}},
		{"::1", geo.Location{
			Country: "US", Continent: "NA", Subdivision: "US-VA", ASN: 64496, ASOrg: "Meridian Demo Loopback",
			Latitude: 39.0438, Longitude: -77.4874, HasCoordinates: true, Network: netip.MustParsePrefix("::1/128"),
		}},
		{"192.0.2.10", geo.Location{
			Country: "US", Continent: "NA", Subdivision: "US-CA", ASN: 64497, ASOrg: "Example Transit West",
			Latitude: 37.7749, Longitude: -122.4194, HasCoordinates: true, Network: netip.MustParsePrefix("192.0.2.0/24"),
		}},
		{"198.51.100.20", geo.Location{
			Country: "DE", Continent: "EU", Subdivision: "DE-HE", ASN: 64498, ASOrg: "Example Carrier Frankfurt",
			Latitude: 50.1109, Longitude: 8.6821, HasCoordinates: true, Network: netip.MustParsePrefix("198.51.100.0/24"),
		}},
		{"203.0.113.30", geo.Location{
			Country: "SG", Continent: "AS", ASN: 64499, ASOrg: "Example Networks Singapore",
			Latitude: 1.3521, Longitude: 103.8198, HasCoordinates: true, Network: netip.MustParsePrefix("203.0.113.0/24"),
		}},
		{"185.0.130.1", geo.Location{
			Country: "GB", Continent: "EU", Subdivision: "GB-ENG", ASN: 64510, ASOrg: "Example Internet London",
			Latitude: 51.5074, Longitude: -0.1278, HasCoordinates: true, Network: netip.MustParsePrefix("185.0.128.0/18"),
		}},
		{"::ffff:1.129.5.5", geo.Location{
			Country: "AU", Continent: "OC", Subdivision: "AU-VIC", ASN: 64501, ASOrg: "Example Pacific",
			Latitude: -37.8136, Longitude: 144.9631, HasCoordinates: true, Network: netip.MustParsePrefix("1.129.0.0/16"),
		}},
		{"2001:db8:4::1", geo.Location{
			Country: "BR", Continent: "SA", Subdivision: "BR-SP", ASN: 64500, ASOrg: "Exemplo Telecom",
			Latitude: -23.5505, Longitude: -46.6333, HasCoordinates: true, Network: netip.MustParsePrefix("2001:db8:4::/48"),
		}},
		{"2001:db8:6:1::1", geo.Location{
			Country: "ZA", Continent: "AF", Subdivision: "ZA-GP", ASN: 64502, ASOrg: "Example Africa Online",
			Latitude: -26.2041, Longitude: 28.0473, HasCoordinates: true, Network: netip.MustParsePrefix("2001:db8:6::/48"),
		}},
		{"185.1.2.3", geo.Location{
			Country: "NL", Continent: "EU", ASN: 65541, ASOrg: "Example Netherlands",
			Latitude: nlLat, Longitude: nlLon, HasCoordinates: true, Network: netip.MustParsePrefix("185.1.0.0/16"),
		}},
		{"2001:db8:8::8", geo.Location{
			Country: "JP", Continent: "AS", Latitude: jpLat, Longitude: jpLon, HasCoordinates: true,
			Network: netip.MustParsePrefix("2001:db8:8::/48"),
		}},
		{"8.8.8.8", geo.Location{Network: netip.MustParsePrefix("8.0.0.0/5")}},
		{"2001:db8:99::1", geo.Location{Network: netip.MustParsePrefix("2001:db8:80::/41")}},
	}
	for _, tt := range tests {
		t.Run(tt.ip, func(t *testing.T) {
			if got := dbs.Lookup(netip.MustParseAddr(tt.ip)); got != tt.want {
				t.Errorf("Lookup(%s)\n got %v\nwant %v", tt.ip, got, tt.want)
			}
		})
	}
}

func TestDemoDatabaseContinents(t *testing.T) {
	entries, err := readDemoCSV(t)
	if err != nil {
		t.Fatal(err)
	}
	perContinent := map[string]int{}
	for _, e := range entries {
		perContinent[e.Continent]++
	}
	for _, c := range []string{"AF", "AN", "AS", "EU", "NA", "OC", "SA"} {
		if perContinent[c] < 2 {
			t.Errorf("demo.csv has %d networks in %s, want at least 2", perContinent[c], c)
		}
	}
}

// readDemoCSV parses the committed demo.csv.
func readDemoCSV(t *testing.T) ([]mmdbbuild.Entry, error) {
	t.Helper()
	f, err := os.Open(geotest.DemoCSV())
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return mmdbbuild.ReadCSV(f)
}

// TestDemoDatabaseUpToDate fails when testdata/geoip/demo-city.mmdb no
// longer matches what `go run ./testdata/geoip/gen` builds from demo.csv.
func TestDemoDatabaseUpToDate(t *testing.T) {
	out := filepath.Join(t.TempDir(), "demo-city.mmdb")
	if _, err := geotest.BuildDemo(out); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	committed, err := os.ReadFile(geotest.DemoMMDB(t))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, committed) {
		t.Fatal("testdata/geoip/demo-city.mmdb is stale: run `go run ./testdata/geoip/gen` and commit the result")
	}
}

func BenchmarkLookup(b *testing.B) {
	dbs, err := geo.Open(geo.Paths{City: geotest.DemoMMDB(b)})
	if err != nil {
		b.Fatal(err)
	}
	ips := []netip.Addr{
		netip.MustParseAddr("192.0.2.10"),
		netip.MustParseAddr("185.0.130.1"),
		netip.MustParseAddr("2001:db8:4::1"),
		netip.MustParseAddr("8.8.8.8"),
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if loc := dbs.Lookup(ips[i%len(ips)]); i%len(ips) != 3 && loc.Country == "" {
			b.Fatal("lookup found no country")
		}
	}
}

// TestLookupNetworkOfNestedDatabases: a location's network is where every
// database answers alike, found or not: a City record narrowed by the ASN
// database's records and empty networks inside it.
func TestLookupNetworkOfNestedDatabases(t *testing.T) {
	city := geotest.WriteMMDB(t, []mmdbbuild.Entry{{Network: netip.MustParsePrefix("20.40.0.0/16"), Country: "FR", Continent: "EU"}})
	asn := geotest.WriteMMDBType(t, []mmdbbuild.Entry{{Network: netip.MustParsePrefix("20.40.128.0/20"), ASN: 64500}}, mmdbbuild.TypeASN)
	dbs, err := geo.Open(geo.Paths{City: city, ASN: asn})
	if err != nil {
		t.Fatal(err)
	}
	defer dbs.Close()
	for ip, want := range map[string]string{
		"20.40.1.1":   "20.40.0.0/17",   // the ASN database's empty network
		"20.40.130.1": "20.40.128.0/20", // its record
		"20.40.200.1": "20.40.192.0/18",
		"20.41.0.1":   "20.41.0.0/16", // both empty: the City database's empty network
	} {
		for _, loc := range []geo.Location{dbs.Lookup(netip.MustParseAddr(ip)), dbs.CachedLookup(netip.MustParseAddr(ip))} {
			if loc.Network.String() != want {
				t.Errorf("%s: network %s, want %s (%v)", ip, loc.Network, want, loc)
			}
		}
	}
}
