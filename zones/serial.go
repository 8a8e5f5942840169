package zones

import (
	"github.com/miekg/dns"
)

// staleSerial reports whether z, replacing old, changed its records but
// kept (or lowered) a serial written in its zone file: secondaries and
// anything else that goes by the SOA serial would not see the change.
// Services are not counted: they are answered per query and never
// transferred.
func staleSerial(old, z *Zone) bool {
	return old != nil && z.SerialFromFile && old.Hash != z.Hash &&
		serialLE(z.Serial, old.Serial) && !sameRecords(old, z)
}

// sameRecords reports whether two zones hold the same records (TTLs
// included), the SOA's serial aside.
func sameRecords(a, b *Zone) bool {
	if len(a.nodes) != len(b.nodes) || a.Records != b.Records {
		return false
	}
	for name, na := range a.nodes {
		nb := b.nodes[name]
		if nb == nil || len(na.rrsets) != len(nb.rrsets) {
			return false
		}
		for i := range na.rrsets {
			ra, rb := na.rrsets[i], nb.rrsets[i]
			if ra.typ != rb.typ || len(ra.rrs) != len(rb.rrs) {
				return false
			}
			for _, x := range ra.rrs {
				if !containsRR(rb.rrs, x) {
					return false
				}
			}
		}
	}
	return true
}

// containsRR reports whether rrs holds rr with the same TTL; an SOA
// matches whatever its serial.
func containsRR(rrs []dns.RR, rr dns.RR) bool {
	for _, y := range rrs {
		if y.Header().Ttl != rr.Header().Ttl {
			continue
		}
		if sa, ok := rr.(*dns.SOA); ok {
			if sb, ok := y.(*dns.SOA); ok {
				c := *sb
				c.Serial = sa.Serial
				if dns.IsDuplicate(sa, &c) {
					return true
				}
			}
			continue
		}
		if dns.IsDuplicate(y, rr) {
			return true
		}
	}
	return false
}
