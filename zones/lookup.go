package zones

import (
	"strings"

	"github.com/miekg/dns"
)

// maxChain bounds how many CNAMEs a lookup follows inside our zones.
const maxChain = 8

// Result is the outcome of a lookup: the sections of the reply and its rcode.
// Records in it may be shared with the snapshot and must not be modified.
type Result struct {
	Rcode int
	// Authoritative is false for referrals and for names outside our zones.
	Authoritative bool
	Answer        []dns.RR
	Ns            []dns.RR
	Extra         []dns.RR
	// Zone is the zone that holds the question's name, nil when none does.
	Zone *Zone
	// Service, when set, is the service that answers the last name of the
	// answer (the question's name or a CNAME target); its addresses are
	// chosen per client and appended by the caller, owned by ServiceOwner.
	Service      *Service
	ServiceOwner string
}

// NegativeSOA returns the SOA record a NODATA answer from z carries.
func (z *Zone) NegativeSOA() dns.RR { return z.negativeSOA() }

// Lookup answers qname/qtype from the snapshot as an authoritative server
// does: exact data, CNAMEs (followed through our zones), RFC 4592 wildcards,
// referrals at delegations, NXDOMAIN and NODATA with the SOA. qname may be in
// any case; answers to it carry it exactly as given (for 0x20 resolvers).
func (s *Snapshot) Lookup(qname string, qtype uint16) Result {
	name := strings.ToLower(qname)
	z := s.findZone(name)
	if qtype == dns.TypeDS && z != nil && name == z.Origin {
		// The parent side of a zone cut is authoritative for DS.
		if off, end := dns.NextLabel(name, 0); !end {
			if p := s.findZone(name[off:]); p != nil {
				z = p
			}
		}
	}
	if z == nil {
		return Result{Rcode: dns.RcodeRefused}
	}
	res := Result{Zone: z, Authoritative: true}
	owner := qname
	seen := map[string]bool{}
	for hop := 0; ; hop++ {
		step := z.resolve(name, owner, qtype)
		res.Answer = append(res.Answer, step.answer...)
		if step.referral != nil {
			if hop == 0 {
				res.Authoritative = false
				res.Ns = step.referral
				res.Extra = step.extra
			}
			return res
		}
		res.Extra = append(res.Extra, step.extra...)
		if step.service != nil {
			res.Service, res.ServiceOwner = step.service, owner
			return res
		}
		if step.rcode == dns.RcodeNameError || step.nodata {
			res.Rcode = step.rcode
			res.Ns = []dns.RR{z.negativeSOA()}
			return res
		}
		if step.cname == "" || qtype == dns.TypeCNAME {
			return res
		}
		// Follow the CNAME while it stays in our zones and makes progress.
		seen[name] = true
		name = step.cname
		owner = step.cname
		if seen[name] || hop+1 >= maxChain {
			return res
		}
		if z = s.findZone(name); z == nil {
			return res
		}
	}
}

// step is the result of resolving one name inside one zone.
type step struct {
	answer   []dns.RR
	extra    []dns.RR
	referral []dns.RR
	rcode    int
	nodata   bool
	cname    string // target to follow, when the answer ended in a CNAME
	service  *Service
}

// resolve looks name up in z. owner is the name as it should appear in the
// answer (the question's case, or a CNAME target as written).
func (z *Zone) resolve(name, owner string, qtype uint16) step {
	if z.hasCuts {
		if cut := z.delegation(name, qtype); cut != nil {
			return step{referral: cut.get(dns.TypeNS), extra: z.glue(cut.get(dns.TypeNS))}
		}
	}
	n := z.nodes[name]
	if n == nil {
		n = z.wildcard(name)
		if n == nil {
			return step{rcode: dns.RcodeNameError}
		}
	}
	return z.answer(n, owner, qtype)
}

// delegation returns the delegation point at or above name, if any. A DS
// query at the cut itself is answered by this (parent) zone.
func (z *Zone) delegation(name string, qtype uint16) *node {
	var found *node
	// Walk from name up to the apex; the highest cut wins.
	for off, end := 0, false; !end; off, end = dns.NextLabel(name, off) {
		p := name[off:]
		if len(p) <= len(z.Origin) {
			break
		}
		if n := z.nodes[p]; n != nil && n.cut && !(off == 0 && qtype == dns.TypeDS) {
			found = n
		}
	}
	return found
}

// wildcard returns the wildcard node that synthesises name (RFC 4592): the
// "*" child of name's closest encloser, or nil.
func (z *Zone) wildcard(name string) *node {
	for off, end := dns.NextLabel(name, 0); !end; off, end = dns.NextLabel(name, off) {
		ce := name[off:]
		if len(ce) < len(z.Origin) {
			return nil
		}
		if _, ok := z.nodes[ce]; ok {
			return z.nodes["*."+ce]
		}
	}
	return nil
}

// answer builds the answer for qtype at node n, written with owner name.
func (z *Zone) answer(n *node, owner string, qtype uint16) step {
	if cn := n.get(dns.TypeCNAME); cn != nil && qtype != dns.TypeCNAME {
		rr := withOwner(cn[0], owner)
		return step{answer: []dns.RR{rr}, cname: dns.CanonicalName(cn[0].(*dns.CNAME).Target)}
	}
	if n.service != nil && (qtype == dns.TypeA || qtype == dns.TypeAAAA || (qtype == dns.TypeANY && len(n.rrsets) == 0)) {
		return step{service: n.service}
	}
	var rrs []dns.RR
	if qtype == dns.TypeANY {
		// RFC 8482: one RRset, not everything, so ANY cannot amplify.
		if len(n.rrsets) > 0 {
			rrs = n.rrsets[0].rrs
		}
	} else {
		rrs = n.get(qtype)
	}
	if len(rrs) == 0 {
		return step{nodata: true}
	}
	out := make([]dns.RR, len(rrs))
	for i, rr := range rrs {
		out[i] = withOwner(rr, owner)
	}
	return step{answer: out, extra: z.additional(rrs)}
}

// withOwner returns rr with the given owner name, copying it only when the
// name differs from the stored one.
func withOwner(rr dns.RR, owner string) dns.RR {
	if rr.Header().Name == owner {
		return rr
	}
	c := dns.Copy(rr)
	c.Header().Name = owner
	return c
}

// additional returns the in-zone addresses of the targets of NS, MX and SRV
// records (RFC 1034 section 3.6 additional-section processing).
func (z *Zone) additional(rrs []dns.RR) []dns.RR {
	var extra []dns.RR
	for _, rr := range rrs {
		var target string
		switch r := rr.(type) {
		case *dns.NS:
			target = r.Ns
		case *dns.MX:
			target = r.Mx
		case *dns.SRV:
			target = r.Target
		default:
			continue
		}
		extra = append(extra, z.addresses(target)...)
	}
	return extra
}

// glue returns the addresses in this zone of the name servers of a
// delegation: in-bailiwick and sibling glue.
func (z *Zone) glue(ns []dns.RR) []dns.RR { return z.additional(ns) }

// addresses returns the static A and AAAA records of target in this zone.
func (z *Zone) addresses(target string) []dns.RR {
	target = dns.CanonicalName(target)
	if !dns.IsSubDomain(z.Origin, target) {
		return nil
	}
	n := z.nodes[target]
	if n == nil {
		return nil
	}
	var out []dns.RR
	out = append(out, n.get(dns.TypeA)...)
	return append(out, n.get(dns.TypeAAAA)...)
}
