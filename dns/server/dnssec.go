package server

import (
	"time"

	"github.com/miekg/dns"

	"github.com/meridian-dns/meridian/dnssec/sign"
	"github.com/meridian-dns/meridian/zones"
)

// DNSSEC in answers: for a query with the DO bit about a signed zone, the
// full path adds the RRSIGs of every authoritative RRset in the answer and
// authority sections, and proves what does not exist with compact denial
// of existence (RFC 9824). Static RRsets were signed with the snapshot
// (zones); a service's addresses and denial records are signed here
// through the process's signature cache, so a service's finite set of
// answers is signed once per window. The answer cache keeps a signed zone's
// static and negative answers to DO queries under their own key (question,
// DO and CO) and replays them like any other; a service's signed answers
// take the full path, since their signatures follow the addresses chosen.

// signAnswer adds the DNSSEC records of a reply to a DO query for the
// signed zone z. name is the last name of the answer (the question's, or
// the end of its CNAME chain).
func (h *Handler) signAnswer(q *request, z *zones.Zone, name string, resp *dns.Msg) {
	w := sign.WindowAt(time.Now())
	snap := q.view.snap
	soa := z.NegativeSOA().(*dns.SOA)
	ttl := sign.NSECTTL(soa)
	var answer, covering []dns.RR
	for _, set := range rrsets(resp.Answer) {
		answer = append(answer, set...)
		answer = append(answer, h.rrsigs(snap, set, w)...)
		// A wildcard's answer also proves that the name asked for does not
		// exist itself (RFC 4035 3.1.3.3).
		owner := set[0].Header().Name
		if oz := snap.ZoneOf(owner); oz != nil && oz.Signed() {
			wild := oz.WildcardOwner(owner)
			if wild == "" {
				continue
			}
			nsec := sign.Covering(sign.NextCloser(owner, wild), sign.NSECTTL(oz.NegativeSOA().(*dns.SOA)))
			covering = append(covering, nsec)
			covering = append(covering, h.sign(oz, []dns.RR{nsec}, w, false)...)
		}
	}
	resp.Answer = answer
	if len(covering) > 0 && resp.Rcode == dns.RcodeSuccess && len(resp.Ns) == 0 {
		resp.Ns = covering
	}

	switch {
	case !resp.Authoritative:
		// A referral: the DS RRset of the cut and its signatures, or an
		// NSEC proving there is none, so the child is provably insecure.
		if len(resp.Ns) == 0 {
			return
		}
		cut := resp.Ns[0].Header().Name
		if ds := z.DS(cut); len(ds) > 0 {
			resp.Ns = append(resp.Ns, ds...)
			resp.Ns = append(resp.Ns, h.rrsigs(snap, ds, w)...)
			return
		}
		nsec := sign.InsecureDelegation(dns.CanonicalName(cut), ttl)
		resp.Ns = append(resp.Ns, nsec)
		resp.Ns = append(resp.Ns, h.sign(z, []dns.RR{nsec}, w, true)...)
	case resp.Rcode == dns.RcodeNameError:
		// Compact denial: NOERROR with an NSEC at the name that lists
		// NXNAME; NXDOMAIN only for a resolver that asked with CO.
		nsec := sign.NXName(dns.CanonicalName(name), ttl)
		resp.Ns = []dns.RR{soa}
		resp.Ns = append(resp.Ns, h.rrsigs(snap, []dns.RR{soa}, w)...)
		resp.Ns = append(resp.Ns, nsec)
		resp.Ns = append(resp.Ns, h.sign(z, []dns.RR{nsec}, w, false)...)
		if !q.edns.co {
			resp.Rcode = dns.RcodeSuccess
		}
	case resp.Rcode == dns.RcodeSuccess && len(resp.Ns) > 0 && resp.Ns[0].Header().Rrtype == dns.TypeSOA:
		// NODATA: an NSEC at the name listing the types that exist there
		// (none at an empty non-terminal).
		types, _ := z.TypesAt(name)
		nsec := sign.NoData(dns.CanonicalName(name), types, ttl)
		if len(types) == 0 {
			nsec = sign.EmptyNonTerminal(dns.CanonicalName(name), ttl)
		}
		resp.Ns = []dns.RR{soa}
		resp.Ns = append(resp.Ns, h.rrsigs(snap, []dns.RR{soa}, w)...)
		resp.Ns = append(resp.Ns, nsec)
		resp.Ns = append(resp.Ns, h.sign(z, []dns.RR{nsec}, w, true)...)
	}
}

// rrsigs returns the signatures of one RRset of a reply, by the zone that
// holds its owner: the snapshot's signatures of a static RRset, those of
// the wildcard that synthesised it, or, for a service's addresses, ones
// made now through the signature cache. None when that zone is not signed.
func (h *Handler) rrsigs(snap *zones.Snapshot, set []dns.RR, w sign.Window) []dns.RR {
	owner := set[0].Header().Name
	z := snap.ZoneOf(owner)
	if z == nil || !z.Signed() {
		return nil
	}
	canonical := dns.CanonicalName(owner)
	typ := set[0].Header().Rrtype
	sigs := z.DNSSEC.Signed.RRSIGs(canonical, typ)
	if sigs == nil {
		if wild := z.WildcardOwner(canonical); wild != "" {
			sigs = z.DNSSEC.Signed.RRSIGs(wild, typ)
		}
	}
	if sigs == nil {
		return h.sign(z, set, w, true)
	}
	if sigs[0].Hdr.Name != owner {
		sigs = sign.Synthesize(sigs, owner)
	}
	return asRRs(sigs)
}

// sign signs set with z's keys for window w, through the signature cache
// when cached (an RRset that will be asked for again), else not (the
// denial of one nonexistent name, which a flood of random names would
// otherwise push every service answer out of the cache with).
func (h *Handler) sign(z *zones.Zone, set []dns.RR, w sign.Window, cached bool) []dns.RR {
	signer := zones.Signer()
	var sigs []*dns.RRSIG
	var err error
	if cached {
		sigs, err = signer.Sign(z.DNSSEC.SigningKeys, set, w)
	} else {
		sigs, err = signer.SignUncached(z.DNSSEC.SigningKeys, set, w)
	}
	if err != nil {
		h.logger.Error("signing an answer", "zone", z.Origin, "error", err)
		return nil
	}
	return asRRs(sigs)
}

// asRRs returns signatures as records of a reply's section.
func asRRs(sigs []*dns.RRSIG) []dns.RR {
	out := make([]dns.RR, len(sigs))
	for i, s := range sigs {
		out[i] = s
	}
	return out
}
