package mmdbbuild

import (
	"bufio"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"

	"github.com/meridian-dns/meridian/geo"
)

// ReadTor parses one of Tor's geoip files, as shipped in Debian's
// tor-geoipdb package: /usr/share/tor/geoip (ipv6 false) has lines
// "lo,hi,CC" where lo and hi are IPv4 addresses written as decimal integers,
// and /usr/share/tor/geoip6 (ipv6 true) has the same with IPv6 addresses in
// text form. Lines starting with # are comments.
//
// Each inclusive range becomes the CIDR networks that cover it, with the
// country and the continent taken from the country table of package geo.
// Ranges whose country is "??", empty, or not an ISO 3166-1 code (such as
// the legacy A1, A2, AP and EU pseudo-countries) are skipped. Errors are
// *LineError values.
func ReadTor(r io.Reader, ipv6 bool) ([]Entry, error) {
	var entries []Entry
	sc := bufio.NewScanner(r)
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		fields := strings.Split(text, ",")
		if len(fields) != 3 {
			return nil, lineErrorf(line, "want 3 comma-separated fields lo,hi,CC, got %d", len(fields))
		}
		lo, err := parseTorAddr(strings.TrimSpace(fields[0]), ipv6)
		if err != nil {
			return nil, &LineError{Line: line, Err: err}
		}
		hi, err := parseTorAddr(strings.TrimSpace(fields[1]), ipv6)
		if err != nil {
			return nil, &LineError{Line: line, Err: err}
		}
		prefixes, err := RangePrefixes(lo, hi)
		if err != nil {
			return nil, &LineError{Line: line, Err: err}
		}
		cc := strings.ToUpper(strings.TrimSpace(fields[2]))
		continent, ok := geo.CountryContinent(cc)
		if !ok {
			continue
		}
		for _, p := range prefixes {
			entries = append(entries, Entry{Network: p, Country: cc, Continent: continent})
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("mmdbbuild: read after line %d: %w", line, err)
	}
	return entries, nil
}

// parseTorAddr parses one end of a Tor geoip range.
func parseTorAddr(s string, ipv6 bool) (netip.Addr, error) {
	if !ipv6 {
		n, err := strconv.ParseUint(s, 10, 32)
		if err != nil {
			return netip.Addr{}, fmt.Errorf("invalid IPv4 address %q: want a decimal integer", s)
		}
		return netip.AddrFrom4([4]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is6() || a.Zone() != "" {
		return netip.Addr{}, fmt.Errorf("invalid IPv6 address %q", s)
	}
	return a, nil
}
