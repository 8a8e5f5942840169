package sign

import (
	"slices"

	"github.com/miekg/dns"
)

// Compact denial of existence (RFC 9824): every negative answer is one NSEC
// record at the query name whose next name is the name's immediate
// successor, \000.<name>, so it covers no other name, and which is signed
// on demand. The builders below make those records; the query engine picks
// the one that fits and signs it (SignUncached for a nonexistent name,
// whose NSEC is never asked for twice; Sign for the others).

// TypeNXNAME is the meta-type of RFC 9824 in the type bitmap of the NSEC
// that denies a name's existence. It is a meta-type: a query for it must be
// answered with FORMERR.
const TypeNXNAME = dns.TypeNXNAME

// NXName returns the NSEC that denies that qname exists: the types are
// RRSIG, NSEC and NXNAME. The engine answers NOERROR with it,
// or NXDOMAIN when the query sets the Compact Answers OK flag.
func NXName(qname string, ttl uint32) *dns.NSEC {
	return nsec(qname, ttl, []uint16{dns.TypeRRSIG, dns.TypeNSEC, TypeNXNAME})
}

// NoData returns the NSEC that proves name has none of the types it lacks:
// its bitmap lists types, the types that exist at name (for a service, the
// types it can answer at all, whatever the client), with RRSIG and NSEC.
// It sorts and deduplicates types without changing the
// caller's slice.
func NoData(name string, types []uint16, ttl uint32) *dns.NSEC {
	bitmap := make([]uint16, 0, len(types)+2)
	bitmap = append(bitmap, types...)
	bitmap = append(bitmap, dns.TypeRRSIG, dns.TypeNSEC)
	slices.Sort(bitmap)
	return nsec(name, ttl, slices.Compact(bitmap))
}

// EmptyNonTerminal returns the NSEC of a name that exists only because
// names below it do: no types but RRSIG and NSEC.
func EmptyNonTerminal(name string, ttl uint32) *dns.NSEC {
	return nsec(name, ttl, []uint16{dns.TypeRRSIG, dns.TypeNSEC})
}

// InsecureDelegation returns the NSEC at the delegation point cut that
// proves no DS exists there, so the child is provably unsigned: NS, RRSIG
// and NSEC, without DS and SOA (RFC 4035 5.2).
func InsecureDelegation(cut string, ttl uint32) *dns.NSEC {
	return nsec(cut, ttl, []uint16{dns.TypeNS, dns.TypeRRSIG, dns.TypeNSEC})
}

// NSECTTL returns the TTL of a zone's negative answers and NSEC records:
// the smaller of the SOA's MINIMUM field and the SOA's own TTL (RFC 9077 3,
// RFC 2308 5).
func NSECTTL(soa *dns.SOA) uint32 {
	return min(soa.Minttl, soa.Hdr.Ttl)
}

// nsec returns the compact-denial NSEC at name with the given bitmap, which
// must be sorted.
func nsec(name string, ttl uint32, bitmap []uint16) *dns.NSEC {
	name = dns.CanonicalName(name)
	next := `\000.` + name
	if name == "." {
		next = `\000.`
	}
	return &dns.NSEC{
		Hdr:        dns.RR_Header{Name: name, Rrtype: dns.TypeNSEC, Class: dns.ClassINET, Ttl: ttl},
		NextDomain: next,
		TypeBitMap: bitmap,
	}
}
