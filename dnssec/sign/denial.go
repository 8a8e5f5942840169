package sign

import (
	"fmt"
	"slices"
	"strings"

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

// Covering returns the NSEC that proves name, and every name below it,
// does not exist, for a wildcard's answer (RFC 4035 3.1.3.3: name is the
// "next closer" name, the ancestor of the query name one label below the
// wildcard's closest encloser). It is minimally covering (RFC 4470): from
// the name just before name in canonical order (Predecessor) to the first
// name after name's subtree (name's first label with a \000 octet added),
// with RRSIG and NSEC only, so it denies nothing that exists. The next
// name is not below name, which would make name an empty non-terminal.
func Covering(name string, ttl uint32) *dns.NSEC {
	name = dns.CanonicalName(name)
	next := name
	if labels := dns.SplitDomainName(name); len(labels) > 0 {
		next = escape(append(unescape(labels[0]), 0)) + "." + strings.TrimPrefix(name, labels[0]+".")
	}
	return &dns.NSEC{
		Hdr:        dns.RR_Header{Name: Predecessor(name), Rrtype: dns.TypeNSEC, Class: dns.ClassINET, Ttl: ttl},
		NextDomain: next,
		TypeBitMap: []uint16{dns.TypeRRSIG, dns.TypeNSEC},
	}
}

// NextCloser returns the ancestor of qname (or qname) with one label more
// than the closest encloser of the wildcard whose owner is wildcard.
func NextCloser(qname, wildcard string) string {
	n := dns.CountLabel(wildcard)
	labels := dns.SplitDomainName(dns.CanonicalName(qname))
	if n >= len(labels) {
		return dns.CanonicalName(qname)
	}
	return dns.Fqdn(strings.Join(labels[len(labels)-n:], "."))
}

// Predecessor returns a name just before name in canonical order (RFC 4034
// 6.1), in the way of RFC 4471 3.1.2: the last octet of the first label
// made one lower and the label filled up with \255 octets (or, when that
// octet is \000, the label without it). Between the two lie only names
// below the predecessor, which no zone has.
func Predecessor(name string) string {
	name = dns.CanonicalName(name)
	labels := dns.SplitDomainName(name)
	if len(labels) == 0 {
		return name
	}
	first := unescape(labels[0])
	rest := strings.TrimPrefix(name, labels[0]+".")
	last := first[len(first)-1]
	if last == 0 {
		first = first[:len(first)-1]
	} else {
		first = append(first[:len(first)-1], last-1)
		// Fill the label up to 63 octets, within the 255 octets of a name.
		room := 255 - (len(rest) + 1) - (len(first) + 1)
		for n := min(63-len(first), room); n > 0; n-- {
			first = append(first, 0xff)
		}
	}
	if len(first) == 0 {
		return rest
	}
	return escape(first) + "." + rest
}

// unescape returns the octets of a label in presentation form.
func unescape(label string) []byte {
	var out []byte
	for i := 0; i < len(label); i++ {
		c := label[i]
		if c == '\\' && i+1 < len(label) {
			if i+3 < len(label) && isDigit(label[i+1]) && isDigit(label[i+2]) && isDigit(label[i+3]) {
				out = append(out, byte((int(label[i+1]-'0')*100)+(int(label[i+2]-'0')*10)+int(label[i+3]-'0')))
				i += 3
				continue
			}
			i++
			c = label[i]
		}
		out = append(out, c)
	}
	return out
}

// escape returns a label's octets in presentation form.
func escape(label []byte) string {
	var b strings.Builder
	for _, c := range label {
		switch {
		case c == '.' || c == '\\' || c == '"' || c == '(' || c == ')' || c == ';' || c == '@' || c == '$':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < '!' || c > '~':
			fmt.Fprintf(&b, "\\%03d", c)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }
