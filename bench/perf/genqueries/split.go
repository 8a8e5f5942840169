package main

import (
	"encoding/csv"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/netip"
	"strconv"
	"strings"

	"github.com/meridian-dns/meridian/geo/mmdbbuild"
)

// maxSplitNetworks is the most networks a split may make: far more than a
// benchmark needs, and the most that is still quick to build and load.
const maxSplitNetworks = 1_000_000

// splitOptions describes a split copy of GeoIP data.
type splitOptions struct {
	// Bits4 and Bits6 are the prefix lengths IPv4 and IPv6 networks are
	// split to: 1 to 32 and 1 to 128.
	Bits4, Bits6 int
	// Seed fixes the draws that move the coordinates: the same entries,
	// lengths and Seed always give the same networks.
	Seed uint64
}

// parseSplit parses the value of -split, "IPV4BITS,IPV6BITS" such as
// "20,40".
func parseSplit(s string) (splitOptions, error) {
	v4, v6, ok := strings.Cut(s, ",")
	if !ok {
		return splitOptions{}, fmt.Errorf("-split %q: want IPv4 and IPv6 prefix lengths such as 20,40", s)
	}
	var opts splitOptions
	for _, f := range []struct {
		name, value string
		max         int
		bits        *int
	}{
		{"IPv4", v4, 32, &opts.Bits4},
		{"IPv6", v6, 128, &opts.Bits6},
	} {
		n, err := strconv.Atoi(strings.TrimSpace(f.value))
		if err != nil || n < 1 || n > f.max {
			return splitOptions{}, fmt.Errorf("-split %q: the %s prefix length must be a whole number from 1 to %d, got %q", s, f.name, f.max, f.value)
		}
		*f.bits = n
	}
	return opts, nil
}

// splitStream is the PCG stream of the coordinate draws ("split"), another
// than the ECS mix's.
const splitStream = 0x73706c6974

// splitNetworks returns a copy of entries in which every IPv4 network
// shorter than opts.Bits4 is split into all its subnets of that length,
// and every IPv6 network shorter than opts.Bits6 into all its subnets of
// that length, as in a GeoIP City database, which has a network and a
// record for every block of addresses. Entries already at or beyond that
// length are copied as they are.
//
// A new network keeps its entry's data, but its coordinates (when the
// entry has them) are moved by a draw, uniform in [-0.5, 0.5) degrees for
// each, clamped to the valid range and rounded to 4 decimals, so that every
// network is a record of its own rather than one record shared by many
// networks. A subnet that is, or lies in, a narrower network of entries is
// left out: that network's own entry holds it, as it did before the split.
//
// The networks come in turn from the entries: the first network of every
// entry in the order of entries, then the second of every entry that has
// one, and so on. So a reader taking networks in turn, as -ecs-mix does,
// spreads over all the entries (every country of the data) even when it
// takes far fewer than there are.
//
// A split that would make more than maxSplitNetworks networks is refused.
// The draws use only PCG's output, so the result is the same on every Go
// release.
func splitNetworks(entries []mmdbbuild.Entry, opts splitOptions) ([]mmdbbuild.Entry, error) {
	if opts.Bits4 < 1 || opts.Bits4 > 32 || opts.Bits6 < 1 || opts.Bits6 > 128 {
		return nil, fmt.Errorf("split lengths /%d and /%d: want 1 to 32 for IPv4 and 1 to 128 for IPv6", opts.Bits4, opts.Bits6)
	}
	type cursor struct {
		entry int        // index in entries
		next  netip.Addr // the next subnet's address
		bits  int        // the subnets' length; the entry's own when it is copied
		left  int        // how many subnets are still to come
	}
	cursors := make([]cursor, 0, len(entries))
	known := make(map[netip.Prefix]bool, len(entries))
	total := 0
	for i, e := range entries {
		known[e.Network] = true
		c := cursor{entry: i, next: e.Network.Masked().Addr(), bits: e.Network.Bits(), left: 1}
		if target := splitBits(e.Network, opts); c.bits < target {
			if target-c.bits > 20 { // 2^20 > maxSplitNetworks
				total = maxSplitNetworks + 1
				break
			}
			c.left = 1 << (target - c.bits)
			c.bits = target
		}
		total += c.left
		if total > maxSplitNetworks {
			break
		}
		cursors = append(cursors, c)
	}
	if total > maxSplitNetworks {
		return nil, fmt.Errorf("splitting IPv4 networks to /%d and IPv6 networks to /%d would make more than %d networks: choose shorter lengths",
			opts.Bits4, opts.Bits6, maxSplitNetworks)
	}

	rng := rand.NewPCG(opts.Seed, splitStream)
	move := func(v, limit float64) float64 {
		// A 53-bit fraction in [0, 1), then [-0.5, 0.5).
		v += float64(rng.Uint64()>>11)/(1<<53) - 0.5
		v = math.Round(max(-limit, min(limit, v))*1e4) / 1e4
		if v == 0 {
			v = 0 // not -0, which would be written "-0.0000"
		}
		return v
	}

	out := make([]mmdbbuild.Entry, 0, total)
	for active := cursors; len(active) > 0; {
		kept := 0
		for i := range active {
			c := &active[i]
			e := entries[c.entry]
			if c.bits == e.Network.Bits() {
				out = append(out, e)
			} else if p := netip.PrefixFrom(c.next, c.bits); !coveredBelow(known, p, e.Network.Bits()) {
				e.Network = p
				if e.HasCoordinates {
					e.Latitude = move(e.Latitude, 90)
					e.Longitude = move(e.Longitude, 180)
				}
				out = append(out, e)
			}
			if c.left--; c.left > 0 {
				c.next = nextSubnet(netip.PrefixFrom(c.next, c.bits))
				active[kept] = *c
				kept++
			}
		}
		active = active[:kept]
	}
	return out, nil
}

// splitBits is the length the networks of p's family are split to.
func splitBits(p netip.Prefix, opts splitOptions) int {
	if p.Addr().Is4() {
		return opts.Bits4
	}
	return opts.Bits6
}

// coveredBelow reports whether p is, or lies in, a known network longer
// than from bits.
func coveredBelow(known map[netip.Prefix]bool, p netip.Prefix, from int) bool {
	for bits := from + 1; bits <= p.Bits(); bits++ {
		if known[netip.PrefixFrom(p.Addr(), bits).Masked()] {
			return true
		}
	}
	return false
}

// nextSubnet returns the address of the network of p's length that follows
// p. p is not the last of its family's address space.
func nextSubnet(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().AsSlice()
	i := (p.Bits() - 1) / 8
	add := uint(1) << (7 - (p.Bits()-1)%8)
	for ; i >= 0 && add > 0; i-- {
		sum := uint(b[i]) + add
		b[i] = byte(sum)
		add = sum >> 8
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// csvHeader is the header line of the CSV format of `meridian geoip build`
// (mmdbbuild.ReadCSV).
var csvHeader = []string{"network", "country", "continent", "latitude", "longitude", "asn", "subdivision", "as_org"}

// writeCSV writes entries in the CSV format of `meridian geoip build
// --format csv` (mmdbbuild.ReadCSV), under a comment saying how they were
// made. Coordinates are written with 4 decimals unless they need more.
func writeCSV(w io.Writer, how string, entries []mmdbbuild.Entry) error {
	if _, err := fmt.Fprintf(w, "# %s: %d networks. Generated by bench/perf/genqueries: do not edit.\n", how, len(entries)); err != nil {
		return err
	}
	cw := csv.NewWriter(w)
	if err := cw.Write(csvHeader); err != nil {
		return err
	}
	record := make([]string, len(csvHeader))
	for _, e := range entries {
		record[0] = e.Network.String()
		record[1] = e.Country
		record[2] = e.Continent
		record[3], record[4] = "", ""
		if e.HasCoordinates {
			record[3], record[4] = formatDegrees(e.Latitude), formatDegrees(e.Longitude)
		}
		record[5] = ""
		if e.ASN != 0 {
			record[5] = strconv.FormatUint(uint64(e.ASN), 10)
		}
		record[6] = e.Subdivision
		record[7] = e.ASOrg
		if err := cw.Write(record); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// formatDegrees writes v with 4 decimals, or with as many as it takes to
// read back as v when 4 are not enough.
func formatDegrees(v float64) string {
	s := strconv.FormatFloat(v, 'f', 4, 64)
	if back, err := strconv.ParseFloat(s, 64); err == nil && back == v {
		return s
	}
	return strconv.FormatFloat(v, 'f', -1, 64)
}
