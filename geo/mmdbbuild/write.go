// Package mmdbbuild builds MaxMind DB (MMDB) files that package geo can
// read, from Tor's geoip files or from a simple CSV format. It backs the
// "meridian geoip build" command and the synthetic databases used in tests.
//
// The records follow the GeoIP2-City layout (country.iso_code,
// continent.code, location.latitude/longitude, subdivisions[0].iso_code)
// and additionally carry the GeoLite2-ASN fields autonomous_system_number
// and autonomous_system_organization, so one file can answer both location
// and ASN questions. Readers decode only the fields they know.
package mmdbbuild

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"math"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"
	"go4.org/netipx"

	"github.com/meridian-dns/meridian/geo"
)

// Database types understood by Write. Any type whose name contains "City",
// "Country" or "ASN" (case-insensitive) selects the matching record layout;
// these are the conventional names.
const (
	// TypeCity writes every field of an Entry.
	TypeCity = "GeoIP2-City"
	// TypeCountry writes only the country and continent.
	TypeCountry = "GeoIP2-Country"
	// TypeASN writes only the autonomous system number and organisation.
	TypeASN = "GeoLite2-ASN"
)

// Entry is the data for one network.
type Entry struct {
	// Network is the IPv4 or IPv6 network the entry describes.
	Network netip.Prefix
	// Country is the ISO 3166-1 alpha-2 code, or "".
	Country string
	// Continent is the two-letter continent code, or "".
	Continent string
	// Latitude and Longitude are decimal degrees, written only when
	// HasCoordinates is true.
	Latitude, Longitude float64
	// HasCoordinates reports whether Latitude and Longitude are set.
	HasCoordinates bool
	// ASN is the autonomous system number, or 0.
	ASN uint32
	// ASOrg is the autonomous system organisation, or "".
	ASOrg string
	// Subdivision is the ISO 3166-2 code such as "US-CA", or "".
	Subdivision string
}

// Options controls WriteOptions.
type Options struct {
	// DatabaseType is stored in the metadata and selects the record layout;
	// "" means TypeCity.
	DatabaseType string
	// BuildTime is stored as the build epoch. The zero value means the time
	// in the SOURCE_DATE_EPOCH environment variable when it is set (the
	// reproducible-builds convention), and the current time otherwise.
	BuildTime time.Time
	// Description is stored as the English description; "" means a
	// generic one.
	Description string
}

// Write writes entries as an MMDB database of type dbType ("" means
// TypeCity) to w. See WriteOptions.
func Write(w io.Writer, entries []Entry, dbType string) error {
	_, err := WriteOptions(w, entries, Options{DatabaseType: dbType})
	return err
}

// WriteOptions writes entries as an MMDB database to w and returns how many
// networks it holds. The output is an IPv6 tree with 28-bit records in which
// IPv4 networks live in ::/96 and are also reachable through the usual IPv4
// aliases (::ffff:0:0/96, 2002::/16). Reserved and documentation networks
// such as 10.0.0.0/8, 192.0.2.0/24 and 2001:db8::/32 are allowed.
//
// Entries may overlap: they are inserted from the widest network to the
// narrowest, so a more specific network always wins whatever the input
// order. The same network twice is an error. Entries without any field the
// layout writes are skipped. The same entries and options always produce the
// same bytes.
func WriteOptions(w io.Writer, entries []Entry, opts Options) (int, error) {
	dbType := opts.DatabaseType
	if dbType == "" {
		dbType = TypeCity
	}
	lay, err := layoutFor(dbType)
	if err != nil {
		return 0, err
	}
	epoch, err := buildEpoch(opts.BuildTime)
	if err != nil {
		return 0, err
	}
	desc := opts.Description
	if desc == "" {
		desc = "Meridian GeoIP database built by mmdbbuild"
	}
	tree, err := mmdbwriter.New(mmdbwriter.Options{
		BuildEpoch:              epoch,
		DatabaseType:            dbType,
		Description:             map[string]string{"en": desc},
		IncludeReservedNetworks: true,
		IPVersion:               6,
		RecordSize:              28,
	})
	if err != nil {
		return 0, fmt.Errorf("mmdbbuild: %w", err)
	}

	sorted, err := normalize(entries)
	if err != nil {
		return 0, err
	}
	count := 0
	for _, e := range sorted {
		rec, err := lay.record(e)
		if err != nil {
			return 0, fmt.Errorf("mmdbbuild: %s: %w", e.Network, err)
		}
		if len(rec) == 0 || aliased(e.Network) {
			continue
		}
		if err := tree.Insert(netipx.PrefixIPNet(e.Network), rec); err != nil {
			return 0, fmt.Errorf("mmdbbuild: insert %s: %w", e.Network, err)
		}
		count++
	}
	if _, err := tree.WriteTo(w); err != nil {
		return 0, fmt.Errorf("mmdbbuild: write: %w", err)
	}
	return count, nil
}

// aliasedNets are the IPv6 ranges the writer maps onto the IPv4 tree
// (IPv4-mapped, Teredo and 6to4 addresses): lookups there find the IPv4
// data, so entries of their own for them are skipped. Tor's geoip6 lists
// 2002::/16, for one.
var aliasedNets = []netip.Prefix{
	netip.MustParsePrefix("::ffff:0:0/96"),
	netip.MustParsePrefix("2001::/32"),
	netip.MustParsePrefix("2002::/16"),
}

func aliased(p netip.Prefix) bool {
	for _, a := range aliasedNets {
		if p.Addr().Is6() && !p.Addr().Is4In6() && a.Overlaps(p) {
			return true
		}
	}
	return false
}

// buildEpoch resolves the build time as described on Options.BuildTime.
func buildEpoch(t time.Time) (int64, error) {
	if !t.IsZero() {
		return t.Unix(), nil
	}
	if s := os.Getenv("SOURCE_DATE_EPOCH"); s != "" {
		epoch, err := strconv.ParseInt(s, 10, 64)
		if err != nil || epoch <= 0 {
			return 0, fmt.Errorf("mmdbbuild: invalid SOURCE_DATE_EPOCH %q", s)
		}
		return epoch, nil
	}
	return time.Now().Unix(), nil
}

// normalize returns a copy of entries with canonical networks (IPv4-mapped
// networks become plain IPv4), sorted so that wider networks come before the
// networks they contain, and rejects invalid or duplicate networks.
func normalize(entries []Entry) ([]Entry, error) {
	out := make([]Entry, len(entries))
	for i, e := range entries {
		p, err := canonicalPrefix(e.Network)
		if err != nil {
			return nil, fmt.Errorf("mmdbbuild: entry %d: %w", i, err)
		}
		e.Network = p
		out[i] = e
	}
	slices.SortStableFunc(out, func(a, b Entry) int {
		if c := a.Network.Addr().Compare(b.Network.Addr()); c != 0 {
			return c
		}
		return cmp.Compare(a.Network.Bits(), b.Network.Bits())
	})
	for i := 1; i < len(out); i++ {
		if out[i].Network == out[i-1].Network {
			return nil, fmt.Errorf("mmdbbuild: duplicate network %s", out[i].Network)
		}
	}
	return out, nil
}

// canonicalPrefix validates p and maps an IPv4-mapped IPv6 network to the
// IPv4 network it stands for.
func canonicalPrefix(p netip.Prefix) (netip.Prefix, error) {
	if !p.IsValid() {
		return netip.Prefix{}, errors.New("invalid network")
	}
	if p.Addr().Zone() != "" {
		return netip.Prefix{}, fmt.Errorf("network %s has a zone", p)
	}
	if p.Addr().Is4In6() && p.Bits() >= 96 {
		p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
	}
	if m := p.Masked(); m != p {
		return netip.Prefix{}, fmt.Errorf("network %s has host bits set (did you mean %s?)", p, m)
	}
	return p, nil
}

// layout selects which fields of an Entry a database type stores.
type layout struct {
	location bool // country, continent, coordinates, subdivision
	city     bool // coordinates and subdivision
	asn      bool // autonomous system fields
}

// layoutFor returns the record layout for dbType.
func layoutFor(dbType string) (layout, error) {
	t := strings.ToLower(dbType)
	switch {
	case strings.Contains(t, "asn"):
		return layout{asn: true}, nil
	case strings.Contains(t, "city"):
		return layout{location: true, city: true, asn: true}, nil
	case strings.Contains(t, "country"):
		return layout{location: true}, nil
	}
	return layout{}, fmt.Errorf("mmdbbuild: unsupported database type %q (want a City, Country or ASN type)", dbType)
}

// record builds the MMDB record for e; it is empty when e has nothing the
// layout stores.
func (l layout) record(e Entry) (mmdbtype.Map, error) {
	m := mmdbtype.Map{}
	if l.location {
		if e.Country != "" {
			cc := strings.ToUpper(e.Country)
			if !geo.IsCountry(cc) {
				return nil, fmt.Errorf("unknown country code %q", e.Country)
			}
			m["country"] = mmdbtype.Map{"iso_code": mmdbtype.String(cc)}
		}
		if e.Continent != "" {
			code := strings.ToUpper(e.Continent)
			if !geo.IsContinent(code) {
				return nil, fmt.Errorf("unknown continent code %q", e.Continent)
			}
			m["continent"] = mmdbtype.Map{"code": mmdbtype.String(code)}
		}
	}
	if l.city {
		if e.HasCoordinates {
			if err := checkCoordinates(e.Latitude, e.Longitude); err != nil {
				return nil, err
			}
			m["location"] = mmdbtype.Map{
				"latitude":  mmdbtype.Float64(e.Latitude),
				"longitude": mmdbtype.Float64(e.Longitude),
			}
		}
		if e.Subdivision != "" {
			code := e.Subdivision
			if _, after, ok := strings.Cut(code, "-"); ok {
				code = after
			}
			if code == "" {
				return nil, fmt.Errorf("invalid subdivision %q", e.Subdivision)
			}
			m["subdivisions"] = mmdbtype.Slice{
				mmdbtype.Map{"iso_code": mmdbtype.String(strings.ToUpper(code))},
			}
		}
	}
	if l.asn {
		if e.ASN != 0 {
			m["autonomous_system_number"] = mmdbtype.Uint32(e.ASN)
		}
		if e.ASOrg != "" {
			m["autonomous_system_organization"] = mmdbtype.String(e.ASOrg)
		}
	}
	return m, nil
}

// checkCoordinates rejects latitudes and longitudes outside the globe.
func checkCoordinates(lat, lon float64) error {
	if math.IsNaN(lat) || lat < -90 || lat > 90 {
		return fmt.Errorf("latitude %v out of range [-90, 90]", lat)
	}
	if math.IsNaN(lon) || lon < -180 || lon > 180 {
		return fmt.Errorf("longitude %v out of range [-180, 180]", lon)
	}
	return nil
}
