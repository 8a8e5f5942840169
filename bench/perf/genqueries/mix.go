package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/netip"

	"github.com/meridian-dns/meridian/bench/dnsperfinput"
	"github.com/meridian-dns/meridian/geo/mmdbbuild"
	"github.com/miekg/dns"
)

// mixOptions describes an ECS query mix.
type mixOptions struct {
	// Queries is how many queries the mix holds, at least minMixQueries.
	Queries int
	// Seed fixes the draws: the same networks, Queries and Seed always
	// give the same mix.
	Seed uint64
	// Name is the question name of every query.
	Name string
}

// minMixQueries is the smallest mix ecsMix makes: below it the shares of
// families, repeats and unmapped subnets no longer hold.
const minMixQueries = 10

// The client subnets' prefix lengths, as resolvers send them (RFC 7871
// recommends /24 and /56).
const (
	subnetBits4 = 24
	subnetBits6 = 56
)

// unroutable are the networks an unmapped client subnet is never drawn
// from: special-purpose ranges a resolver would not send (or Meridian would
// not use) as a client subnet, and the IPv6 ranges that MMDB files and
// gdnsd alias to IPv4 addresses.
var unroutable = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("10.0.0.0/8"),
	netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("127.0.0.0/8"),
	netip.MustParsePrefix("169.254.0.0/16"),
	netip.MustParsePrefix("172.16.0.0/12"),
	netip.MustParsePrefix("192.0.0.0/24"),
	netip.MustParsePrefix("192.0.2.0/24"),
	netip.MustParsePrefix("192.88.99.0/24"),
	netip.MustParsePrefix("192.168.0.0/16"),
	netip.MustParsePrefix("198.18.0.0/15"),
	netip.MustParsePrefix("198.51.100.0/24"),
	netip.MustParsePrefix("203.0.113.0/24"),
	netip.MustParsePrefix("2001::/23"),
	netip.MustParsePrefix("2001:db8::/32"),
	netip.MustParsePrefix("2002::/16"),
	netip.MustParsePrefix("3fff::/20"),
}

// ecsMix returns opts.Queries queries for opts.Name, alternately A and
// AAAA, each with an ECS option, in the shape of what resolvers send an
// authoritative server: 2 client subnets for every 5 queries, half of them
// IPv4 /24s and half IPv6 /56s; each subnet asked 2 or 3 times (as a
// resolver asks again when the answer's TTL runs out), A and AAAA in turn;
// the whole shuffled. Nine in ten subnets of each family lie in networks of
// entries, drawn from those networks in turn so that every network (and so
// every country and continent) gets its share; one in ten lies in no network
// of entries and no special-purpose range.
//
// The draws use only PCG's output, whose sequence for a seed is fixed by
// its specification, so the mix is the same on every Go release.
func ecsMix(entries []mmdbbuild.Entry, opts mixOptions) ([]dnsperfinput.Query, error) {
	if opts.Queries < minMixQueries {
		return nil, fmt.Errorf("an ECS mix needs at least %d queries, got %d", minMixQueries, opts.Queries)
	}
	if _, ok := dns.IsDomainName(opts.Name); !ok {
		return nil, fmt.Errorf("%q is not a domain name", opts.Name)
	}
	g := &draw{rng: rand.NewPCG(opts.Seed, 0x6d65726964696e), used: map[netip.Prefix]bool{}}
	for _, e := range entries {
		g.known = append(g.known, e.Network)
	}

	distinct := opts.Queries * 2 / 5
	var subnets []netip.Prefix
	for _, bits := range []int{subnetBits4, subnetBits6} {
		n := distinct / 2
		if bits == subnetBits6 {
			n = distinct - n
		}
		unmapped := n / 10
		mapped, err := g.mapped(entries, bits, n-unmapped)
		if err != nil {
			return nil, err
		}
		subnets = append(subnets, mapped...)
		for range unmapped {
			p, err := g.unmapped(bits)
			if err != nil {
				return nil, err
			}
			subnets = append(subnets, p)
		}
	}

	// Of d subnets asked 2 or 3 times, q-2d are asked 3 times.
	shuffle(g, subnets)
	thrice := opts.Queries - 2*len(subnets)
	qs := make([]dnsperfinput.Query, 0, opts.Queries)
	for i, p := range subnets {
		times := 2
		if i < thrice {
			times = 3
		}
		for range times {
			t := dns.TypeA
			if len(qs)%2 == 1 {
				t = dns.TypeAAAA
			}
			qs = append(qs, dnsperfinput.Query{Name: dns.Fqdn(opts.Name), Type: t, Subnet: p})
		}
	}
	shuffle(g, qs)
	for i := range qs {
		qs[i].Line = specHeaderLines + i + 1
	}
	return qs, nil
}

// draw holds the state of one mix's draws: the random source, the subnets
// drawn so far and the networks of the GeoIP data.
type draw struct {
	rng   *rand.PCG
	used  map[netip.Prefix]bool
	known []netip.Prefix
}

// below returns a number in [0, n), n > 0. The modulo bias is far below
// anything a benchmark could notice.
func (g *draw) below(n uint64) uint64 {
	return g.rng.Uint64() % n
}

// shuffle puts s in a random order (Fisher-Yates).
func shuffle[T any](g *draw, s []T) {
	for i := len(s) - 1; i > 0; i-- {
		j := g.below(uint64(i + 1))
		s[i], s[j] = s[j], s[i]
	}
}

// mapped draws n distinct subnets of bits bits from the networks of entries
// of that family that can hold one (loopback left out), taking the
// networks in turn.
func (g *draw) mapped(entries []mmdbbuild.Entry, bits, n int) ([]netip.Prefix, error) {
	var nets []netip.Prefix
	for _, e := range entries {
		p := e.Network
		if p.Addr().Is4() == (bits == subnetBits4) && p.Bits() <= bits && !p.Addr().IsLoopback() {
			nets = append(nets, p)
		}
	}
	if len(nets) == 0 {
		return nil, fmt.Errorf("no network can hold a /%d client subnet", bits)
	}
	out := make([]netip.Prefix, 0, n)
	for i := range n {
		network := nets[i%len(nets)]
		room := uint64(1) << (bits - network.Bits())
		p, err := g.distinct(func() netip.Prefix { return subnetAt(network, bits, g.below(room)) })
		if err != nil {
			return nil, fmt.Errorf("%s: %w", network, err)
		}
		out = append(out, p)
	}
	return out, nil
}

// unmapped draws a subnet of bits bits that overlaps no known network and
// no unroutable range: IPv4 from 1.0.0.0 to 223.255.255.255, IPv6 from
// 2000::/3.
func (g *draw) unmapped(bits int) (netip.Prefix, error) {
	space := netip.MustParsePrefix("2000::/3")
	if bits == subnetBits4 {
		space = netip.MustParsePrefix("0.0.0.0/0")
	}
	return g.distinct(func() netip.Prefix {
		for {
			p := subnetAt(space, bits, g.below(uint64(1)<<(bits-space.Bits())))
			if p.Addr().Is4() && p.Addr().As4()[0] >= 224 {
				continue
			}
			if !g.overlapsAny(p) {
				return p
			}
		}
	})
}

// overlapsAny reports whether p overlaps a known network or an unroutable
// range.
func (g *draw) overlapsAny(p netip.Prefix) bool {
	for _, set := range [][]netip.Prefix{g.known, unroutable} {
		for _, q := range set {
			if p.Overlaps(q) {
				return true
			}
		}
	}
	return false
}

// distinct calls next until it returns a subnet not drawn before, and
// marks it drawn. A network too small for the subnets asked of it gives up
// rather than loop.
func (g *draw) distinct(next func() netip.Prefix) (netip.Prefix, error) {
	for range 1000 {
		if p := next(); !g.used[p] {
			g.used[p] = true
			return p, nil
		}
	}
	return netip.Prefix{}, errors.New("too small for this many distinct client subnets")
}

// subnetAt returns the i-th subnet of bits bits in network (bits <= 64 for
// IPv6, which all client subnets are).
func subnetAt(network netip.Prefix, bits int, i uint64) netip.Prefix {
	a := network.Masked().Addr()
	if a.Is4() {
		b := a.As4()
		v := binary.BigEndian.Uint32(b[:]) + uint32(i)<<(32-bits)
		binary.BigEndian.PutUint32(b[:], v)
		return netip.PrefixFrom(netip.AddrFrom4(b), bits)
	}
	b := a.As16()
	v := binary.BigEndian.Uint64(b[:8]) + i<<(64-bits)
	binary.BigEndian.PutUint64(b[:8], v)
	return netip.PrefixFrom(netip.AddrFrom16(b), bits)
}

// specHeaderLines is how many comment lines writeSpec puts above the
// queries: a query's Line is its line in the spec.
const specHeaderLines = 2

// writeSpec writes qs as a query spec ("name type subnet" lines) under a
// comment saying how it was made.
func writeSpec(w io.Writer, how string, qs []dnsperfinput.Query) error {
	if _, err := fmt.Fprintf(w, "# %s\n# Generated by bench/perf/genqueries: do not edit.\n", how); err != nil {
		return err
	}
	for _, q := range qs {
		if _, err := fmt.Fprintf(w, "%s %s %s\n", q.Name, dns.TypeToString[q.Type], q.Subnet); err != nil {
			return err
		}
	}
	return nil
}
