package mmdbbuild_test

import (
	"bytes"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/oschwald/geoip2-golang/v2"
	"github.com/oschwald/maxminddb-golang/v2"

	"github.com/meridian-dns/meridian/geo"
	"github.com/meridian-dns/meridian/geo/mmdbbuild"
)

var buildTime = time.Date(2024, 6, 1, 12, 0, 0, 0, time.UTC)

var sampleEntries = []mmdbbuild.Entry{
	{
		Network: netip.MustParsePrefix("192.0.2.0/24"), Country: "US", Continent: "NA",
		Latitude: 37.7749, Longitude: -122.4194, HasCoordinates: true,
		ASN: 64496, ASOrg: "Example Org", Subdivision: "US-CA",
	},
	{Network: netip.MustParsePrefix("10.0.0.0/8"), Country: "DE", Continent: "EU"},
	{Network: netip.MustParsePrefix("10.1.0.0/16"), Country: "FR", Continent: "EU"},
	{Network: netip.MustParsePrefix("2001:db8:5::/48"), Country: "AU", Continent: "OC", ASN: 64497},
	{Network: netip.MustParsePrefix("100.64.0.0/10"), ASN: 65551, ASOrg: "ASN only"},
}

// write builds entries into memory.
func write(t *testing.T, entries []mmdbbuild.Entry, dbType string) []byte {
	t.Helper()
	var buf bytes.Buffer
	if _, err := mmdbbuild.WriteOptions(&buf, entries, mmdbbuild.Options{DatabaseType: dbType, BuildTime: buildTime}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// rawRecord returns the record stored for ip, decoded generically.
func rawRecord(t *testing.T, db []byte, ip string) map[string]any {
	t.Helper()
	r, err := maxminddb.OpenBytes(db)
	if err != nil {
		t.Fatal(err)
	}
	var rec map[string]any
	if err := r.Lookup(netip.MustParseAddr(ip)).Decode(&rec); err != nil {
		t.Fatal(err)
	}
	return rec
}

func TestWriteLayouts(t *testing.T) {
	tests := []struct {
		dbType string
		ip     string
		want   map[string]any
	}{
		{mmdbbuild.TypeCity, "192.0.2.1", map[string]any{
			"country":                        map[string]any{"iso_code": "US"},
			"continent":                      map[string]any{"code": "NA"},
			"location":                       map[string]any{"latitude": 37.7749, "longitude": -122.4194},
			"subdivisions":                   []any{map[string]any{"iso_code": "CA"}},
			"autonomous_system_number":       uint64(64496),
			"autonomous_system_organization": "Example Org",
		}},
		{mmdbbuild.TypeCountry, "192.0.2.1", map[string]any{
			"country":   map[string]any{"iso_code": "US"},
			"continent": map[string]any{"code": "NA"},
		}},
		{mmdbbuild.TypeASN, "192.0.2.1", map[string]any{
			"autonomous_system_number":       uint64(64496),
			"autonomous_system_organization": "Example Org",
		}},
		// Entries without any field of the layout are left out.
		{mmdbbuild.TypeCountry, "100.64.0.1", nil},
		{mmdbbuild.TypeASN, "10.0.0.1", nil},
		// IPv4 is reachable through the IPv4-mapped alias too.
		{mmdbbuild.TypeCountry, "::ffff:10.2.0.1", map[string]any{
			"country":   map[string]any{"iso_code": "DE"},
			"continent": map[string]any{"code": "EU"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.dbType+" "+tt.ip, func(t *testing.T) {
			db := write(t, sampleEntries, tt.dbType)
			if got := rawRecord(t, db, tt.ip); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("record = %#v\nwant %#v", got, tt.want)
			}
		})
	}
}

// TestWriteGeoIP2Compatible checks that geoip2-golang reads the output as
// the database types it claims to be.
func TestWriteGeoIP2Compatible(t *testing.T) {
	city, err := geoip2.OpenBytes(write(t, sampleEntries, mmdbbuild.TypeCity))
	if err != nil {
		t.Fatal(err)
	}
	rec, err := city.City(netip.MustParseAddr("192.0.2.1"))
	if err != nil {
		t.Fatal(err)
	}
	if rec.Country.ISOCode != "US" || rec.Continent.Code != "NA" || len(rec.Subdivisions) != 1 ||
		rec.Subdivisions[0].ISOCode != "CA" || !rec.Location.HasCoordinates() ||
		*rec.Location.Latitude != 37.7749 || rec.Traits.Network != netip.MustParsePrefix("192.0.2.0/24") {
		t.Errorf("City record = %+v", rec)
	}
	if md := city.Metadata(); md.DatabaseType != mmdbbuild.TypeCity || md.IPVersion != 6 ||
		md.RecordSize != 28 || !md.BuildTime().Equal(buildTime) {
		t.Errorf("metadata = %+v", md)
	}

	asn, err := geoip2.OpenBytes(write(t, sampleEntries, mmdbbuild.TypeASN))
	if err != nil {
		t.Fatal(err)
	}
	arec, err := asn.ASN(netip.MustParseAddr("2001:db8:5::1"))
	if err != nil {
		t.Fatal(err)
	}
	if arec.AutonomousSystemNumber != 64497 || arec.Network != netip.MustParsePrefix("2001:db8:5::/48") {
		t.Errorf("ASN record = %+v", arec)
	}

	country, err := geoip2.OpenBytes(write(t, sampleEntries, mmdbbuild.TypeCountry))
	if err != nil {
		t.Fatal(err)
	}
	crec, err := country.Country(netip.MustParseAddr("10.1.2.3"))
	if err != nil {
		t.Fatal(err)
	}
	if crec.Country.ISOCode != "FR" {
		t.Errorf("Country record = %+v", crec)
	}
}

func TestWriteDeterministic(t *testing.T) {
	first := write(t, sampleEntries, mmdbbuild.TypeCity)
	reversed := make([]mmdbbuild.Entry, len(sampleEntries))
	for i, e := range sampleEntries {
		reversed[len(sampleEntries)-1-i] = e
	}
	if second := write(t, reversed, mmdbbuild.TypeCity); !bytes.Equal(first, second) {
		t.Error("output depends on the order of the entries")
	}
	if again := write(t, sampleEntries, mmdbbuild.TypeCity); !bytes.Equal(first, again) {
		t.Error("two builds of the same entries differ")
	}
	// Whatever the order, the more specific network wins.
	dbs := openBytes(t, first)
	if got := dbs.Lookup(netip.MustParseAddr("10.1.0.1")).Country; got != "FR" {
		t.Errorf("10.1.0.1 country = %q, want FR", got)
	}
	if got := dbs.Lookup(netip.MustParseAddr("10.2.0.1")).Country; got != "DE" {
		t.Errorf("10.2.0.1 country = %q, want DE", got)
	}
}

// openBytes opens a database built in memory through a file, as geo reads
// files.
func openBytes(t *testing.T, db []byte) *geo.Databases {
	t.Helper()
	path := filepath.Join(t.TempDir(), "db.mmdb")
	if err := os.WriteFile(path, db, 0o644); err != nil {
		t.Fatal(err)
	}
	dbs, err := geo.Open(geo.Paths{City: path})
	if err != nil {
		t.Fatal(err)
	}
	return dbs
}

func TestWriteSourceDateEpoch(t *testing.T) {
	t.Setenv("SOURCE_DATE_EPOCH", "1700000000")
	var buf bytes.Buffer
	if err := mmdbbuild.Write(&buf, sampleEntries, ""); err != nil {
		t.Fatal(err)
	}
	r, err := maxminddb.OpenBytes(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if r.Metadata.BuildEpoch != 1700000000 || r.Metadata.DatabaseType != mmdbbuild.TypeCity {
		t.Errorf("metadata = %+v", r.Metadata)
	}

	t.Setenv("SOURCE_DATE_EPOCH", "yesterday")
	if err := mmdbbuild.Write(&buf, sampleEntries, ""); err == nil || !strings.Contains(err.Error(), "SOURCE_DATE_EPOCH") {
		t.Errorf("error = %v, want one about SOURCE_DATE_EPOCH", err)
	}
}

func TestWriteErrors(t *testing.T) {
	tests := []struct {
		name     string
		entries  []mmdbbuild.Entry
		dbType   string
		wantText string
	}{
		{"unsupported type", sampleEntries, "GeoIP2-Domain", `unsupported database type "GeoIP2-Domain"`},
		{"invalid network", []mmdbbuild.Entry{{Country: "US"}}, "", "entry 0: invalid network"},
		{
			"host bits", []mmdbbuild.Entry{{Network: netip.MustParsePrefix("10.1.2.3/8"), Country: "US"}}, "",
			"has host bits set",
		},
		{
			"duplicate", []mmdbbuild.Entry{
				{Network: netip.MustParsePrefix("10.0.0.0/8"), Country: "US"},
				{Network: netip.MustParsePrefix("::ffff:10.0.0.0/104"), Country: "DE"},
			}, "", "duplicate network 10.0.0.0/8",
		},
		{
			"unknown country", []mmdbbuild.Entry{{Network: netip.MustParsePrefix("10.0.0.0/8"), Country: "ZZ"}}, "",
			`10.0.0.0/8: unknown country code "ZZ"`,
		},
		{
			"unknown continent", []mmdbbuild.Entry{{Network: netip.MustParsePrefix("10.0.0.0/8"), Continent: "XX"}}, "",
			`unknown continent code "XX"`,
		},
		{
			"latitude out of range", []mmdbbuild.Entry{{
				Network: netip.MustParsePrefix("10.0.0.0/8"), Latitude: 100, HasCoordinates: true,
			}}, "", "latitude 100 out of range",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			err := mmdbbuild.Write(&buf, tt.entries, tt.dbType)
			if err == nil || !strings.Contains(err.Error(), tt.wantText) || !strings.HasPrefix(err.Error(), "mmdbbuild: ") {
				t.Fatalf("error = %v, want one containing %q", err, tt.wantText)
			}
		})
	}
}

func TestBuildFile(t *testing.T) {
	dir := t.TempDir()
	writeInput := func(name, content string) string {
		t.Helper()
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	geoip := writeInput("geoip", torGeoIP)
	geoip6 := writeInput("geoip6", torGeoIP6)
	v6second := writeInput("second-v6-input", torGeoIP6)
	csvFile := writeInput("demo.csv", "network,country\n192.0.2.0/24,US\n2001:db8::/32,DE\n")

	tests := []struct {
		name      string
		format    string
		inputs    []string
		dbType    string
		wantCount int
		lookups   map[string]string // address -> country
	}{
		{
			name: "tor both files", format: "tor", inputs: []string{geoip, geoip6}, wantCount: 7,
			lookups: map[string]string{"1.0.0.1": "AU", "1.0.3.1": "CN", "192.0.2.1": "US", "2001:db8:1::1": "DE", "1.0.4.1": ""},
		},
		{
			name: "tor ipv6 named first", format: "TOR", inputs: []string{geoip6, geoip}, wantCount: 7,
			lookups: map[string]string{"1.0.0.1": "AU", "2001:db8:1::1": "DE"},
		},
		{
			name: "tor second input is ipv6", format: "tor", inputs: []string{geoip, v6second}, wantCount: 7,
			lookups: map[string]string{"2001:db8:2::1": "DE"},
		},
		{
			name: "tor ipv6 only", format: "tor", inputs: []string{geoip6}, wantCount: 3,
			lookups: map[string]string{"2001:db8:1::1": "DE", "1.0.0.1": ""},
		},
		{
			name: "csv", format: "csv", inputs: []string{csvFile}, dbType: mmdbbuild.TypeCountry, wantCount: 2,
			lookups: map[string]string{"192.0.2.1": "US", "2001:db8::1": "DE"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out.mmdb")
			// An existing file is replaced.
			if err := os.WriteFile(out, []byte("old"), 0o644); err != nil {
				t.Fatal(err)
			}
			n, err := mmdbbuild.BuildFile(tt.format, tt.inputs, out, tt.dbType)
			if err != nil {
				t.Fatal(err)
			}
			if n != tt.wantCount {
				t.Errorf("count = %d, want %d", n, tt.wantCount)
			}
			dbs, err := geo.Open(geo.Paths{Country: out})
			if err != nil {
				t.Fatal(err)
			}
			for ip, want := range tt.lookups {
				if got := dbs.Lookup(netip.MustParseAddr(ip)).Country; got != want {
					t.Errorf("Lookup(%s).Country = %q, want %q", ip, got, want)
				}
			}
			assertOnlyFile(t, out)
		})
	}
}

func TestBuildFileErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "geoip")
	if err := os.WriteFile(bad, []byte("# header\n16777216,16777471,AU\n1,2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	badCSV := filepath.Join(dir, "bad.csv")
	if err := os.WriteFile(badCSV, []byte("10.0.0.0/8,ZZ\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing")

	tests := []struct {
		name     string
		format   string
		inputs   []string
		dbType   string
		wantText string
		wantLine int
	}{
		{name: "line error names file", format: "tor", inputs: []string{bad}, wantText: bad + ":3: want 3", wantLine: 3},
		{name: "csv line error names file", format: "csv", inputs: []string{badCSV}, wantText: badCSV + ":1: unknown country", wantLine: 1},
		{name: "missing input", format: "csv", inputs: []string{missing}, wantText: "open " + missing},
		{name: "no inputs", format: "csv", wantText: "no input files"},
		{name: "three tor inputs", format: "tor", inputs: []string{bad, bad, bad}, wantText: "one or two inputs"},
		{name: "unknown format", format: "json", inputs: []string{bad}, wantText: `unknown input format "json"`},
		{name: "bad type", format: "csv", inputs: []string{filepath.Join("..", "..", "testdata", "geoip", "demo.csv")}, dbType: "Other", wantText: "unsupported database type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out.mmdb")
			_, err := mmdbbuild.BuildFile(tt.format, tt.inputs, out, tt.dbType)
			if err == nil || !strings.Contains(err.Error(), tt.wantText) {
				t.Fatalf("error = %v, want one containing %q", err, tt.wantText)
			}
			if tt.wantLine != 0 {
				var le *mmdbbuild.LineError
				if !errors.As(err, &le) || le.Line != tt.wantLine {
					t.Errorf("error %v is not a LineError for line %d", err, tt.wantLine)
				}
			}
			entries, _ := os.ReadDir(filepath.Dir(out))
			if len(entries) != 0 {
				t.Errorf("failed build left files behind: %v", entries)
			}
		})
	}
}

// assertOnlyFile checks that out is the only file in its directory, that
// is, that no temporary file was left behind.
func assertOnlyFile(t *testing.T, out string) {
	t.Helper()
	entries, err := os.ReadDir(filepath.Dir(out))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Name() != filepath.Base(out) {
		t.Errorf("output directory holds %v, want only %s", entries, filepath.Base(out))
	}
}

// TestWriteSkipsAliasedNetworks builds Tor-style input that lists 6to4 and
// Teredo space (as Debian's geoip6 does): those ranges alias the IPv4 tree,
// so they are skipped and lookups there find the IPv4 data instead.
func TestWriteSkipsAliasedNetworks(t *testing.T) {
	entries := []mmdbbuild.Entry{
		{Network: netip.MustParsePrefix("192.0.2.0/24"), Country: "US", Continent: "NA"},
		{Network: netip.MustParsePrefix("2002::/16"), Country: "NL", Continent: "EU"},
		{Network: netip.MustParsePrefix("2001::/32"), Country: "NL", Continent: "EU"},
		{Network: netip.MustParsePrefix("2001:db8:5::/48"), Country: "AU", Continent: "OC"},
	}
	var buf bytes.Buffer
	n, err := mmdbbuild.WriteOptions(&buf, entries, mmdbbuild.Options{BuildTime: buildTime})
	if err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Errorf("wrote %d networks, want 2 (the aliased two skipped)", n)
	}
	// 2002:c000:0201:: is 6to4 for 192.0.2.1.
	if rec := rawRecord(t, buf.Bytes(), "2002:c000:201::1"); rec["country"].(map[string]any)["iso_code"] != "US" {
		t.Errorf("6to4 lookup: %v", rec)
	}
}
