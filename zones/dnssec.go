package zones

import (
	"errors"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/miekg/dns"
	"go.yaml.in/yaml/v3"

	"github.com/meridian-dns/meridian/dnssec"
	"github.com/meridian-dns/meridian/dnssec/sign"
)

// DNSSECFile is the dnssec: block of a zone file.
type DNSSECFile struct {
	Enabled bool `yaml:"enabled"`
	// Keys is the directory of the zone's BIND key files, relative to the
	// zone file.
	Keys string `yaml:"keys"`
	// Algorithm is ECDSAP256SHA256 (the default) or ED25519.
	Algorithm string `yaml:"algorithm"`
	// Denial is how nonexistence is proven: compact (RFC 9824), the default
	// and for now the only one.
	Denial string `yaml:"denial"`
}

// DNSSEC is a signed zone's settings and keys, as loaded.
type DNSSEC struct {
	// Keys are the zone's keys; a reload reads them again.
	Keys *dnssec.KeySet
	// KeysDir is the keys directory, resolved against the zone file's.
	KeysDir string
	// Algorithm is the algorithm the zone's active keys must include.
	Algorithm uint8
	// Denial is "compact".
	Denial string
	// SigningKeys sign the zone's RRsets now, and Signed holds the
	// signatures of its static RRsets for the current window.
	SigningKeys *sign.Keys
	Signed      *sign.SignedSet
	// signedAt is when the zone was signed: its keys' states are those of
	// that moment.
	signedAt time.Time
}

// DenialCompact is compact denial of existence (RFC 9824).
const DenialCompact = "compact"

// addDNSSEC validates the dnssec: block of f and, when it is enabled, loads
// the zone's keys and checks them at now: a key that cannot be used, or
// keys that leave the zone without an active key, fail the zone (each
// problem at the line of dnssec.keys, naming its key file); warnings about
// them become the zone's. root is the zone file's top mapping, for the
// lines of the block's keys.
func (b *builder) addDNSSEC(f *File, root *yaml.Node, now time.Time) {
	d := f.DNSSEC
	if d == nil {
		return
	}
	block := mappingValue(root, "dnssec")
	line := func(key string) int {
		if v := mappingValue(block, key); v != nil {
			return v.Line
		}
		if block != nil {
			return block.Line
		}
		return 1
	}
	alg := uint8(dnssec.DefaultAlgorithm)
	if d.Algorithm != "" {
		a, err := dnssec.AlgorithmNamed(d.Algorithm)
		if err != nil {
			b.fail(b.path, line("algorithm"), "dnssec.algorithm: %v", err)
			return
		}
		alg = a
	}
	denial := d.Denial
	if denial == "" {
		denial = DenialCompact
	}
	if denial != DenialCompact {
		b.fail(b.path, line("denial"), "dnssec.denial: %s is not supported: use compact (RFC 9824), the only denial for now", quote(denial))
		return
	}
	if !d.Enabled {
		return
	}
	if d.Keys == "" {
		b.fail(b.path, line("enabled"), "dnssec.keys: a signed zone needs its keys directory (BIND's K<zone>.+<alg>+<tag>.key and .private files, relative to the zone file): add keys: DIR, and make a key with meridian dnssec keygen %s --dir DIR", b.zone.Origin)
		return
	}
	dir := d.Keys
	if !filepath.IsAbs(dir) {
		dir = filepath.Join(filepath.Dir(b.path), dir)
	}
	ks, err := dnssec.LoadKeys(dir, b.zone.Origin)
	if err != nil {
		b.failKeys(line("keys"), err)
		return
	}
	var errs []error
	for _, p := range ks.Check(now, alg) {
		if p.Warning {
			b.zone.warnings = append(b.zone.warnings, p.Error())
			continue
		}
		errs = append(errs, p)
	}
	if len(errs) > 0 {
		b.failKeys(line("keys"), errors.Join(errs...))
		return
	}
	b.zone.DNSSEC = &DNSSEC{Keys: ks, KeysDir: dir, Algorithm: alg, Denial: denial}
}

// failKeys records each problem of a zone's keys (err may join several,
// each naming its key file) at the line of dnssec.keys.
func (b *builder) failKeys(line int, err error) {
	errs := []error{err}
	if joined, ok := err.(interface{ Unwrap() []error }); ok {
		errs = joined.Unwrap()
	}
	for _, e := range errs {
		b.fail(b.path, line, "dnssec.keys: %s", e)
	}
}

// mappingValue returns the value of key in the mapping n, or nil.
func mappingValue(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

// signer is the signature cache every signed zone in the process shares:
// the answers of services are signed through it per window, and a reload
// that leaves an RRset unchanged finds its signature there.
var signer = sign.New(sign.Bounds{})

// Signer returns the signature cache of signed zones, for the answers the
// server signs per query (a service's addresses, denial of existence).
func Signer() *sign.Signer { return signer }

// sign completes a signed zone at now: it puts the DNSKEY RRset, and CDS
// and CDNSKEY for the active key-signing keys (RFC 7344, RFC 8078), at the
// apex with the SOA's TTL, and signs every RRset the zone is authoritative
// for (not the NS of a delegation nor the glue below it; the DS at a cut
// is the parent's) for the window of now, reusing prev's signatures of the
// RRsets that did not change (prev is the zone's set in the snapshot
// served before, or nil).
func (z *Zone) sign(now time.Time, prev *sign.SignedSet) error {
	d := z.DNSSEC
	ks, err := sign.NewKeys(z.Origin, signKeys(d.Keys.Signing(now, true)), signKeys(d.Keys.Signing(now, false)))
	if err != nil {
		return err
	}
	apex := z.nodes[z.Origin]
	ttl := z.soa.Hdr.Ttl
	var dnskey, cds, cdnskey []dns.RR
	for _, k := range d.Keys.Published(now) {
		dnskey = append(dnskey, withTTL(k, ttl))
	}
	for _, r := range d.Keys.CDS(now) {
		cds = append(cds, withTTL(r, ttl))
	}
	for _, r := range d.Keys.CDNSKEY(now) {
		cdnskey = append(cdnskey, withTTL(r, ttl))
	}
	for _, rs := range []rrset{{dns.TypeDNSKEY, dnskey}, {dns.TypeCDS, cds}, {dns.TypeCDNSKEY, cdnskey}} {
		if len(rs.rrs) > 0 && apex.get(rs.typ) == nil {
			apex.rrsets = append(apex.rrsets, rs)
		}
	}
	sort.Slice(apex.rrsets, func(i, j int) bool { return apex.rrsets[i].typ < apex.rrsets[j].typ })
	var sets [][]dns.RR
	for name, n := range z.nodes {
		if z.hasCuts && z.cutAbove(name) != "" {
			continue // glue
		}
		for _, rs := range n.rrsets {
			if n.cut && rs.typ != dns.TypeDS {
				continue
			}
			sets = append(sets, rs.rrs)
		}
	}
	set, err := signer.SignAll(prev, ks, sets, sign.WindowAt(now)) // another window than prev's: all signed again
	if err != nil {
		return err
	}
	d.SigningKeys, d.Signed, d.signedAt = ks, set, now
	return nil
}

// signKeys converts the keys of a key set to the signer's.
func signKeys(keys []*dnssec.Key) []sign.Key {
	out := make([]sign.Key, len(keys))
	for i, k := range keys {
		out[i] = sign.Key{DNSKEY: k.DNSKEY, Signer: k.Signer}
	}
	return out
}

// withTTL returns a copy of rr with the given TTL.
func withTTL(rr dns.RR, ttl uint32) dns.RR {
	c := dns.Copy(rr)
	c.Header().Ttl = ttl
	return c
}

// ZoneOf returns the most specific of the snapshot's zones that holds
// name (any case), or nil.
func (s *Snapshot) ZoneOf(name string) *Zone { return s.findZone(strings.ToLower(name)) }

// Signed reports whether the zone's answers carry signatures.
func (z *Zone) Signed() bool { return z.DNSSEC != nil && z.DNSSEC.Signed != nil }

// WildcardOwner returns the owner of the wildcard that synthesises name
// (any case) in z, "" when name exists or no wildcard covers it.
func (z *Zone) WildcardOwner(name string) string {
	name = strings.ToLower(name)
	if _, ok := z.nodes[name]; ok {
		return ""
	}
	if n := z.wildcard(name); n != nil {
		return n.name
	}
	return ""
}

// TypesAt returns the types of the RRsets at name (any case) in z, or at
// the wildcard that synthesises it, for a denial that lists what exists
// (RFC 9824 NODATA): a service counts with the address types it can answer.
// exists is false for a name that does not exist; an empty non-terminal
// exists with no types.
func (z *Zone) TypesAt(name string) (types []uint16, exists bool) {
	name = strings.ToLower(name)
	n := z.nodes[name]
	if n == nil {
		if n = z.wildcard(name); n == nil {
			return nil, false
		}
	}
	for _, rs := range n.rrsets {
		types = append(types, rs.typ)
	}
	if s := n.service; s != nil {
		for _, t := range []uint16{dns.TypeA, dns.TypeAAAA} {
			if len(s.Pools(t).Regions) > 0 && !slices.Contains(types, t) {
				types = append(types, t)
			}
		}
	}
	slices.Sort(types)
	return types, true
}

// DS returns the DS RRset at the delegation point cut (any case), if any.
func (z *Zone) DS(cut string) []dns.RR {
	if n := z.nodes[strings.ToLower(cut)]; n != nil {
		return n.get(dns.TypeDS)
	}
	return nil
}

// NextRefresh returns when the snapshot must be built again although no
// file changed: the earliest moment a signed zone's keys change state
// (their Publish, Activate, Inactive or Delete time) or its signature
// window ends. It is the zero time when no zone is signed.
func (s *Snapshot) NextRefresh() time.Time {
	var next time.Time
	for _, z := range s.list {
		if !z.Signed() {
			continue
		}
		for _, t := range []time.Time{z.DNSSEC.Keys.NextEvent(z.DNSSEC.signedAt), z.DNSSEC.Signed.Window().End()} {
			if !t.IsZero() && (next.IsZero() || t.Before(next)) {
				next = t
			}
		}
	}
	return next
}

// Expiry returns when the signed zone's answers stop validating unless it
// is signed again: the earliest of its signatures' expiration and the time
// the last of its keys able to sign a role goes inactive (a rollover's old
// key going inactive while its successor signs does not count). It is the
// zero time for an unsigned zone.
func (z *Zone) Expiry() time.Time {
	if !z.Signed() {
		return time.Time{}
	}
	d := z.DNSSEC
	expiry := d.Signed.Window().Expiration
	for _, forDNSKEY := range []bool{true, false} {
		var last time.Time
		for _, k := range d.Keys.Signing(d.signedAt, forDNSKEY) {
			if k.Inactive.IsZero() || k.Legacy {
				last = time.Time{}
				break
			}
			if k.Inactive.After(last) {
				last = k.Inactive
			}
		}
		if !last.IsZero() && last.Before(expiry) {
			expiry = last
		}
	}
	return expiry
}
