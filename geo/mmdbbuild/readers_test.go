package mmdbbuild_test

import (
	"errors"
	"net/netip"
	"reflect"
	"strings"
	"testing"

	"github.com/meridian-dns/meridian/geo/mmdbbuild"
)

func prefixes(ss ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParsePrefix(s)
	}
	return out
}

func TestRangePrefixes(t *testing.T) {
	tests := []struct {
		name    string
		lo, hi  string
		want    []netip.Prefix
		wantErr string
	}{
		{name: "single ipv4 address", lo: "192.0.2.7", hi: "192.0.2.7", want: prefixes("192.0.2.7/32")},
		{name: "aligned /24", lo: "192.0.2.0", hi: "192.0.2.255", want: prefixes("192.0.2.0/24")},
		{
			name: "unaligned both ends", lo: "10.0.0.1", hi: "10.0.0.6",
			want: prefixes("10.0.0.1/32", "10.0.0.2/31", "10.0.0.4/31", "10.0.0.6/32"),
		},
		{
			name: "crossing a /16 boundary", lo: "10.0.255.0", hi: "10.1.0.255",
			want: prefixes("10.0.255.0/24", "10.1.0.0/24"),
		},
		{name: "whole ipv4 space", lo: "0.0.0.0", hi: "255.255.255.255", want: prefixes("0.0.0.0/0")},
		{
			name: "top of ipv4 space", lo: "255.255.255.254", hi: "255.255.255.255",
			want: prefixes("255.255.255.254/31"),
		},
		{
			name: "tor style uneven range", lo: "1.0.0.0", hi: "1.0.2.255",
			want: prefixes("1.0.0.0/23", "1.0.2.0/24"),
		},
		{name: "single ipv6 address", lo: "2001:db8::1", hi: "2001:db8::1", want: prefixes("2001:db8::1/128")},
		{
			name: "aligned ipv6", lo: "2001:db8::", hi: "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff",
			want: prefixes("2001:db8::/32"),
		},
		{
			name: "unaligned ipv6", lo: "2001:db8::", hi: "2001:db8:2:ffff:ffff:ffff:ffff:ffff",
			want: prefixes("2001:db8::/47", "2001:db8:2::/48"),
		},
		{name: "whole ipv6 space", lo: "::", hi: "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", want: prefixes("::/0")},
		{name: "reversed", lo: "10.0.0.2", hi: "10.0.0.1", wantErr: "ends before it starts"},
		{name: "mixed families", lo: "10.0.0.1", hi: "2001:db8::1", wantErr: "mixes IPv4 and IPv6"},
		{name: "zone", lo: "fe80::1%eth0", hi: "fe80::2%eth0", wantErr: "zone"},
		{name: "invalid", lo: "", hi: "10.0.0.1", wantErr: "invalid range"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var lo, hi netip.Addr
			if tt.lo != "" {
				lo = netip.MustParseAddr(tt.lo)
			}
			hi = netip.MustParseAddr(tt.hi)
			got, err := mmdbbuild.RangePrefixes(lo, hi)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("RangePrefixes(%s, %s) = %v, want %v", tt.lo, tt.hi, got, tt.want)
			}
		})
	}
}

// torGeoIP is a sample of /usr/share/tor/geoip.
const torGeoIP = `# Last updated based on February 7 2024 Maxmind GeoLite2 Country
# wget https://geolite.maxmind.com/download/geoip/database/GeoLite2-Country.mmdb.gz
16777216,16777471,AU
16777472,16778239,cn
16778240,16779263,??
16779264,16781311,A1

3221225984,3221226239,US
`

// torGeoIP6 is a sample of /usr/share/tor/geoip6.
const torGeoIP6 = `# Last updated based on February 7 2024 Maxmind GeoLite2 Country
600:8801:9400:5a1:948b:ab15:dde3:61a3,600:8801:9400:5a1:948b:ab15:dde3:61a3,US
2001:db8::,2001:db8:2:ffff:ffff:ffff:ffff:ffff,DE
2001:db8:3::,2001:db8:3:ffff:ffff:ffff:ffff:ffff,??
`

func TestReadTor(t *testing.T) {
	tests := []struct {
		name  string
		input string
		ipv6  bool
		want  []mmdbbuild.Entry
	}{
		{
			name: "ipv4", input: torGeoIP,
			want: []mmdbbuild.Entry{
				{Network: netip.MustParsePrefix("1.0.0.0/24"), Country: "AU", Continent: "OC"},
				{Network: netip.MustParsePrefix("1.0.1.0/24"), Country: "CN", Continent: "AS"},
				{Network: netip.MustParsePrefix("1.0.2.0/23"), Country: "CN", Continent: "AS"},
				{Network: netip.MustParsePrefix("192.0.2.0/24"), Country: "US", Continent: "NA"},
			},
		},
		{
			name: "ipv6", input: torGeoIP6, ipv6: true,
			want: []mmdbbuild.Entry{
				{Network: netip.MustParsePrefix("600:8801:9400:5a1:948b:ab15:dde3:61a3/128"), Country: "US", Continent: "NA"},
				{Network: netip.MustParsePrefix("2001:db8::/47"), Country: "DE", Continent: "EU"},
				{Network: netip.MustParsePrefix("2001:db8:2::/48"), Country: "DE", Continent: "EU"},
			},
		},
		{name: "only comments", input: "# nothing\n\n", want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := mmdbbuild.ReadTor(strings.NewReader(tt.input), tt.ipv6)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ReadTor =\n%v\nwant\n%v", got, tt.want)
			}
		})
	}
}

func TestReadTorErrors(t *testing.T) {
	tests := []struct {
		name     string
		input    string
		ipv6     bool
		wantLine int
		wantText string
	}{
		{"too few fields", "# c\n16777216,16777471\n", false, 2, "want 3 comma-separated fields"},
		{"not a number", "16777216,16777471,AU\nabc,16777471,AU\n", false, 2, `invalid IPv4 address "abc"`},
		{"beyond ipv4", "16777216,4294967296,AU\n", false, 1, "invalid IPv4 address"},
		{"ipv6 in ipv4 file", "2001:db8::,2001:db8::ff,DE\n", false, 1, "want a decimal integer"},
		{"ipv4 in ipv6 file", "# c\n\n1.2.3.4,1.2.3.5,DE\n", true, 3, `invalid IPv6 address "1.2.3.4"`},
		{"reversed range", "16777471,16777216,AU\n", false, 1, "ends before it starts"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := mmdbbuild.ReadTor(strings.NewReader(tt.input), tt.ipv6)
			var le *mmdbbuild.LineError
			if !errors.As(err, &le) || le.Line != tt.wantLine || !strings.Contains(err.Error(), tt.wantText) {
				t.Fatalf("error = %v, want line %d containing %q", err, tt.wantLine, tt.wantText)
			}
		})
	}
}

func TestReadCSV(t *testing.T) {
	const input = `# demo
network,country,continent,latitude,longitude,asn,subdivision,as_org

192.0.2.0/24,us,,37.7749,-122.4194,AS64496,ca,Example Org
198.51.100.0/24,DE
203.0.113.7,SG,AS,,,64497
2001:db8:1::/48,GB,EU,51.5074,-0.1278,,GB-ENG,"Example, Ltd"
::ffff:10.0.0.0/104,,,,,65536
`
	want := []mmdbbuild.Entry{
		{
			Network: netip.MustParsePrefix("192.0.2.0/24"), Country: "US", Continent: "NA",
			Latitude: 37.7749, Longitude: -122.4194, HasCoordinates: true,
			ASN: 64496, Subdivision: "US-CA", ASOrg: "Example Org",
		},
		{Network: netip.MustParsePrefix("198.51.100.0/24"), Country: "DE", Continent: "EU"},
		{Network: netip.MustParsePrefix("203.0.113.7/32"), Country: "SG", Continent: "AS", ASN: 64497},
		{
			Network: netip.MustParsePrefix("2001:db8:1::/48"), Country: "GB", Continent: "EU",
			Latitude: 51.5074, Longitude: -0.1278, HasCoordinates: true,
			Subdivision: "GB-ENG", ASOrg: "Example, Ltd",
		},
		{Network: netip.MustParsePrefix("10.0.0.0/8"), ASN: 65536},
	}
	got, err := mmdbbuild.ReadCSV(strings.NewReader(input))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ReadCSV =\n%+v\nwant\n%+v", got, want)
	}
}

func TestReadCSVErrors(t *testing.T) {
	tests := []struct {
		name     string
		input    string
		wantLine int
		wantText string
	}{
		{"bad network", "# c\nnot-a-net,US\n", 2, `invalid network "not-a-net"`},
		{"host bits", "10.1.0.0/8,US\n", 1, "has host bits set (did you mean 10.0.0.0/8?)"},
		{"one field", "10.0.0.0/8\n", 1, "want 2 to 8 fields"},
		{"too many fields", "10.0.0.0/8,US,NA,1,2,3,US-CA,org,extra\n", 1, "want 2 to 8 fields"},
		{"unknown country", "network,country\n10.0.0.0/8,ZZ\n", 2, `unknown country code "ZZ"`},
		{"unknown continent", "10.0.0.0/8,US,XX\n", 1, `unknown continent code "XX"`},
		{"latitude without longitude", "10.0.0.0/8,US,NA,10\n", 1, "latitude and longitude must be given together"},
		{"latitude not a number", "10.0.0.0/8,US,NA,north,10\n", 1, `invalid latitude "north"`},
		{"latitude out of range", "10.0.0.0/8,US,NA,91,10\n", 1, "latitude 91 out of range"},
		{"longitude out of range", "10.0.0.0/8,US,NA,10,-181\n", 1, "longitude -181 out of range"},
		{"bad asn", "10.0.0.0/8,US,NA,,,ASX\n", 1, `invalid ASN "ASX"`},
		{"asn too large", "10.0.0.0/8,US,NA,,,4294967296\n", 1, "invalid ASN"},
		{"subdivision of another country", "10.0.0.0/8,US,NA,,,,DE-BE\n", 1, "does not belong to country US"},
		{"subdivision without country", "10.0.0.0/8,,NA,,,,CA\n", 1, "needs a country"},
		{"subdivision too long", "10.0.0.0/8,US,NA,,,,US-CALI\n", 1, "want CC-X to CC-XXX"},
		{"no data", "10.0.0.0/8,\n", 1, "has no data"},
		{"duplicate", "10.0.0.0/8,US\n# c\n10.0.0.0/8,DE\n", 3, "duplicate network 10.0.0.0/8 (first on line 1)"},
		{"bad quoting", "10.0.0.0/8,US\n10.1.0.0/16,\"DE\n", 2, "quote"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := mmdbbuild.ReadCSV(strings.NewReader(tt.input))
			var le *mmdbbuild.LineError
			if !errors.As(err, &le) || le.Line != tt.wantLine || !strings.Contains(err.Error(), tt.wantText) {
				t.Fatalf("error = %v, want line %d containing %q", err, tt.wantLine, tt.wantText)
			}
			if !strings.HasPrefix(err.Error(), "mmdbbuild: line ") {
				t.Errorf("error %q lacks the line prefix", err)
			}
		})
	}
}
