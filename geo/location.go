package geo

import (
	"net/netip"
	"strconv"
	"strings"
)

// Location is what the GeoIP databases say about one client address. The
// zero value means nothing is known, not even where.
type Location struct {
	// Country is the ISO 3166-1 alpha-2 code in upper case, or "" when
	// unknown.
	Country string
	// Continent is the two-letter continent code (AF, AN, AS, EU, NA, OC or
	// SA), or "" when unknown.
	Continent string
	// Subdivision is the ISO 3166-2 code of the first-level subdivision,
	// such as "US-CA", or "" when unknown.
	Subdivision string
	// ASN is the autonomous system number announcing the address, or 0 when
	// unknown.
	ASN uint32
	// ASOrg is the organisation owning ASN, or "" when unknown.
	ASOrg string
	// Latitude and Longitude are decimal degrees; they are meaningful only
	// when HasCoordinates is true. They come from the City database when it
	// has them, else from the country or continent centroid.
	Latitude, Longitude float64
	// HasCoordinates reports whether Latitude and Longitude are set.
	HasCoordinates bool
	// Network is the network around the address over which the location
	// holds: every database answers alike for each of its addresses, found
	// or not. It is the most specific of the databases' networks for the
	// address (found records' and the empty ones'), so a record the
	// address lies in may be wider. For an address no database knows it
	// is the span none of them knows. It is the zero Prefix only when no
	// database was asked.
	Network netip.Prefix
}

// IsZero reports whether no database knows anything about the location,
// whatever its Network.
func (l Location) IsZero() bool {
	l.Network = netip.Prefix{}
	return l == Location{}
}

// String formats the location as space-separated key=value pairs for logs
// and query explanations, for example
// "country=US continent=NA subdivision=US-VA asn=64499 as_org=\"Example\" lat=39.0438 lon=-77.4874 network=127.0.0.0/8".
// Unknown fields are left out; a Location no database knows prints as
// "unknown", with its network when it has one.
func (l Location) String() string {
	if l.IsZero() {
		if l.Network.IsValid() {
			return "unknown network=" + l.Network.String()
		}
		return "unknown"
	}
	var b strings.Builder
	field := func(key, value string) {
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(key)
		b.WriteByte('=')
		b.WriteString(value)
	}
	if l.Country != "" {
		field("country", l.Country)
	}
	if l.Continent != "" {
		field("continent", l.Continent)
	}
	if l.Subdivision != "" {
		field("subdivision", l.Subdivision)
	}
	if l.ASN != 0 {
		field("asn", strconv.FormatUint(uint64(l.ASN), 10))
	}
	if l.ASOrg != "" {
		field("as_org", strconv.Quote(l.ASOrg))
	}
	if l.HasCoordinates {
		field("lat", strconv.FormatFloat(l.Latitude, 'f', -1, 64))
		field("lon", strconv.FormatFloat(l.Longitude, 'f', -1, 64))
	}
	if l.Network.IsValid() {
		field("network", l.Network.String())
	}
	return b.String()
}
