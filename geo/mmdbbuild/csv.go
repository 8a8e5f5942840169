package mmdbbuild

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"

	"github.com/meridian-dns/meridian/geo"
)

// csvColumns names the columns ReadCSV accepts, in order.
var csvColumns = []string{"network", "country", "continent", "latitude", "longitude", "asn", "subdivision", "as_org"}

// ReadCSV parses the CSV input format:
//
//	network,country[,continent,latitude,longitude,asn[,subdivision[,as_org]]]
//
// network is a CIDR network (or a single address, meaning /32 or /128),
// country an ISO 3166-1 alpha-2 code, continent one of AF AN AS EU NA OC SA
// (derived from the country when empty), latitude and longitude decimal
// degrees (both or neither), asn a number with an optional "AS" prefix,
// subdivision an ISO 3166-2 code such as "US-CA" (or just "CA", which is
// prefixed with the country), and as_org the AS organisation. Any column
// may be empty, but each line must carry some data. Lines starting with #
// are comments, blank lines are ignored, and a first line starting with
// "network" is a header. A network may appear only once. Errors are
// *LineError values.
func ReadCSV(r io.Reader) ([]Entry, error) {
	cr := csv.NewReader(r)
	cr.Comment = '#'
	cr.FieldsPerRecord = -1
	cr.TrimLeadingSpace = true
	cr.ReuseRecord = true

	var entries []Entry
	seen := map[netip.Prefix]int{}
	first := true
	for {
		fields, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				return nil, &LineError{Line: pe.Line, Err: pe.Err}
			}
			return nil, fmt.Errorf("mmdbbuild: read csv: %w", err)
		}
		line, _ := cr.FieldPos(0)
		isHeader := first && strings.EqualFold(strings.TrimSpace(fields[0]), "network")
		first = false
		if isHeader {
			continue
		}
		e, err := parseCSVRecord(fields)
		if err != nil {
			return nil, &LineError{Line: line, Err: err}
		}
		if prev, dup := seen[e.Network]; dup {
			return nil, lineErrorf(line, "duplicate network %s (first on line %d)", e.Network, prev)
		}
		seen[e.Network] = line
		entries = append(entries, e)
	}
	return entries, nil
}

// parseCSVRecord turns the fields of one CSV line into an Entry.
func parseCSVRecord(fields []string) (Entry, error) {
	if len(fields) < 2 || len(fields) > len(csvColumns) {
		return Entry{}, fmt.Errorf("want 2 to %d fields (%s), got %d",
			len(csvColumns), strings.Join(csvColumns, ","), len(fields))
	}
	field := func(i int) string {
		if i < len(fields) {
			return strings.TrimSpace(fields[i])
		}
		return ""
	}

	var e Entry
	network, err := parseNetwork(field(0))
	if err != nil {
		return Entry{}, err
	}
	e.Network = network

	if cc := strings.ToUpper(field(1)); cc != "" {
		if !geo.IsCountry(cc) {
			return Entry{}, fmt.Errorf("unknown country code %q", field(1))
		}
		e.Country = cc
	}

	e.Continent = strings.ToUpper(field(2))
	switch {
	case e.Continent != "" && !geo.IsContinent(e.Continent):
		return Entry{}, fmt.Errorf("unknown continent code %q (want one of AF AN AS EU NA OC SA)", field(2))
	case e.Continent == "" && e.Country != "":
		e.Continent, _ = geo.CountryContinent(e.Country)
	}

	lat, lon := field(3), field(4)
	if (lat == "") != (lon == "") {
		return Entry{}, errors.New("latitude and longitude must be given together")
	}
	if lat != "" {
		if e.Latitude, err = strconv.ParseFloat(lat, 64); err != nil {
			return Entry{}, fmt.Errorf("invalid latitude %q", lat)
		}
		if e.Longitude, err = strconv.ParseFloat(lon, 64); err != nil {
			return Entry{}, fmt.Errorf("invalid longitude %q", lon)
		}
		if err := checkCoordinates(e.Latitude, e.Longitude); err != nil {
			return Entry{}, err
		}
		e.HasCoordinates = true
	}

	if asn := field(5); asn != "" {
		digits := strings.TrimPrefix(strings.ToUpper(asn), "AS")
		n, err := strconv.ParseUint(digits, 10, 32)
		if err != nil || n == 0 {
			return Entry{}, fmt.Errorf("invalid ASN %q", asn)
		}
		e.ASN = uint32(n)
	}

	if sub := strings.ToUpper(field(6)); sub != "" {
		if e.Subdivision, err = parseSubdivision(sub, e.Country); err != nil {
			return Entry{}, err
		}
	}

	e.ASOrg = field(7)

	if e.Country == "" && e.Continent == "" && !e.HasCoordinates && e.ASN == 0 && e.ASOrg == "" {
		return Entry{}, fmt.Errorf("network %s has no data", e.Network)
	}
	return e, nil
}

// parseNetwork parses a CIDR network or a single address and rejects
// networks with host bits set, which are almost always typos.
func parseNetwork(s string) (netip.Prefix, error) {
	if !strings.Contains(s, "/") {
		a, err := netip.ParseAddr(s)
		if err != nil || a.Zone() != "" {
			return netip.Prefix{}, fmt.Errorf("invalid network %q", s)
		}
		a = a.Unmap()
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("invalid network %q", s)
	}
	return canonicalPrefix(p)
}

// parseSubdivision validates an upper-cased ISO 3166-2 code against the
// entry's country and returns it in "CC-XXX" form.
func parseSubdivision(sub, country string) (string, error) {
	cc, code, hasCC := strings.Cut(sub, "-")
	if !hasCC {
		cc, code = country, sub
	}
	if country == "" {
		return "", fmt.Errorf("subdivision %q needs a country", sub)
	}
	if cc != country {
		return "", fmt.Errorf("subdivision %q does not belong to country %s", sub, country)
	}
	if len(code) < 1 || len(code) > 3 {
		return "", fmt.Errorf("invalid subdivision %q: want CC-X to CC-XXX", sub)
	}
	for _, c := range code {
		if (c < 'A' || c > 'Z') && (c < '0' || c > '9') {
			return "", fmt.Errorf("invalid subdivision %q: want letters and digits after the country", sub)
		}
	}
	return country + "-" + code, nil
}
