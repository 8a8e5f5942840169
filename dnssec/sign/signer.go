package sign

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
)

// Bounds limit the signature cache of a Signer. A zero field takes its
// default.
type Bounds struct {
	// MaxEntries is the most signatures the cache holds (default 100,000).
	MaxEntries int
	// MaxBytes is the most memory the cache's entries may take, estimated
	// (default 64 MiB).
	MaxBytes int64
}

const (
	defaultMaxEntries = 100_000
	defaultMaxBytes   = 64 << 20
)

// Signer makes RRSIGs and remembers them by content. Sign returns the
// cached signatures of an RRset when the same content (owner, type, class,
// TTL and records, in any order) was signed in the same window with the
// same key, so the finite set of answers a service gives (per region,
// selection and TTL) costs one signature each per window, not one per
// query. SignAll signs the static RRsets of a snapshot.
//
// A Signer is safe for concurrent use. It is meant to live as long as the
// server: its cache is keyed by key and window, so it survives reloads and
// key changes, and it may be shared by every zone.
type Signer struct {
	shards []*shard

	hits       atomic.Uint64
	misses     atomic.Uint64
	signatures atomic.Uint64
	evictions  atomic.Uint64

	// expMu guards byExpiration: how many cached entries expire at each
	// Unix second. Windows are aligned, so it holds two or three keys.
	expMu        sync.Mutex
	byExpiration map[int64]int
}

// New returns a Signer whose cache keeps to b.
func New(b Bounds) *Signer {
	if b.MaxEntries <= 0 {
		b.MaxEntries = defaultMaxEntries
	}
	if b.MaxBytes <= 0 {
		b.MaxBytes = defaultMaxBytes
	}
	// Sixteen shards spread the write locks of misses; a small cache keeps
	// one, so that no shard's share of the bounds is less than 64 entries.
	n := 1
	if min(int64(b.MaxEntries), b.MaxBytes/typicalEntry) >= 16*64 {
		n = 16
	}
	s := &Signer{shards: make([]*shard, n), byExpiration: make(map[int64]int)}
	for i := range s.shards {
		s.shards[i] = newShard(b.MaxEntries/n, b.MaxBytes/int64(n))
	}
	return s
}

// Sign returns one RRSIG per key of ks that signs rrset's type, for window
// w, from the cache when it holds them. rrset must be one RRset (one owner,
// type, class and TTL); its TTL is the RRSIG's original TTL, so an answer
// sent with a degraded TTL must be signed with that TTL.
//
// For a wildcard, sign the RRset at the wildcard owner (*.example.com.) and
// give the answer Synthesize's copies at the query name: Labels then says
// the answer was synthesised (RFC 4034 3.1.3), and every query name shares
// one signature.
//
// The RRSIGs returned are shared with the cache and other callers: they
// must not be modified.
func (s *Signer) Sign(ks *Keys, rrset []dns.RR, w Window) ([]*dns.RRSIG, error) {
	info, err := describe(rrset)
	if err != nil {
		return nil, err
	}
	content, err := contentHash(rrset, info)
	if err != nil {
		return nil, err
	}
	keys := ks.forType(info.typ)
	inc, exp := w.rrsigTimes()
	sigs := make([]*dns.RRSIG, 0, len(keys))
	for i := range keys {
		k := &keys[i]
		ck := cacheKey{content: content, key: k.id, inception: inc, expiration: exp}
		sig, err := s.cached(ck, ks.zone, k, rrset, info, w)
		if err != nil {
			return nil, err
		}
		sigs = append(sigs, sig)
	}
	return sigs, nil
}

// SignUncached is Sign without the cache, for RRsets that will not be
// asked for again: the NSEC that denies one nonexistent name is different
// for every name, and caching it would let a flood of random names push
// the answers of services out of the cache.
func (s *Signer) SignUncached(ks *Keys, rrset []dns.RR, w Window) ([]*dns.RRSIG, error) {
	info, err := describe(rrset)
	if err != nil {
		return nil, err
	}
	keys := ks.forType(info.typ)
	sigs := make([]*dns.RRSIG, 0, len(keys))
	for i := range keys {
		sig, err := s.signOne(ks.zone, &keys[i], rrset, info, w)
		if err != nil {
			return nil, err
		}
		sigs = append(sigs, sig)
	}
	return sigs, nil
}

// cached returns the signature of ck, signing it (once, however many
// goroutines ask at the same time) when the cache does not hold it.
func (s *Signer) cached(ck cacheKey, zone string, k *key, rrset []dns.RR, info rrsetInfo, w Window) (*dns.RRSIG, error) {
	sh := s.shards[int(ck.content[0]^ck.key[0])%len(s.shards)]
	if e := sh.get(ck); e != nil {
		s.hits.Add(1)
		<-e.ready
		return e.sig, e.err
	}
	size := int64(entryOverhead + len(zone) + signatureChars)
	e, found, evicted := sh.getOrInsert(ck, w.Expiration.Unix(), size)
	if found {
		s.hits.Add(1)
		<-e.ready
		return e.sig, e.err
	}
	s.misses.Add(1)
	s.account(e, +1)
	s.dropped(evicted)

	e.sig, e.err = s.signOne(zone, k, rrset, info, w)
	close(e.ready)
	if e.err != nil && sh.remove(e) {
		s.account(e, -1)
	}
	return e.sig, e.err
}

// signOne makes the RRSIG of rrset by k for window w.
func (s *Signer) signOne(zone string, k *key, rrset []dns.RR, info rrsetInfo, w Window) (*dns.RRSIG, error) {
	inc, exp := w.rrsigTimes()
	sig := &dns.RRSIG{
		Hdr:        dns.RR_Header{Ttl: info.ttl},
		Algorithm:  k.alg,
		KeyTag:     k.tag,
		SignerName: zone,
		Inception:  inc,
		Expiration: exp,
		OrigTtl:    info.ttl,
	}
	if err := sig.Sign(k.Signer, rrset); err != nil {
		return nil, fmt.Errorf("sign: %s %s with key %d: %w", info.owner, dns.Type(info.typ), k.tag, err)
	}
	// Sign copies the owner's spelling from the first record; the cache
	// holds the RRSIG for every spelling, so give it the canonical one.
	sig.Hdr.Name = info.owner
	s.signatures.Add(1)
	return sig, nil
}

// signatureChars is the length of the base64 signature field: both
// algorithms make 64-byte signatures (RFC 6605 4, RFC 8080 3).
const signatureChars = 88

// typicalEntry is the size of an entry with a signer name of 20 characters.
const typicalEntry = entryOverhead + 20 + signatureChars

func (s *Signer) dropped(evicted []*entry) {
	for _, e := range evicted {
		s.evictions.Add(1)
		s.account(e, -1)
	}
}

func (s *Signer) account(e *entry, delta int) {
	s.expMu.Lock()
	defer s.expMu.Unlock()
	n := s.byExpiration[e.expiration] + delta
	if n == 0 {
		delete(s.byExpiration, e.expiration)
		return
	}
	s.byExpiration[e.expiration] = n
}

// Retire drops the cached signatures of windows that began before w. Call
// it when w comes into force: nothing asks for the older signatures again,
// and they would otherwise hold room in the cache and make
// EarliestExpiration report a window no answer uses.
func (s *Signer) Retire(w Window) {
	inc := uint32(w.Inception.Unix())
	for _, sh := range s.shards {
		// Serial number arithmetic (RFC 1982), as RRSIG times are.
		s.dropped(sh.removeIf(func(e *entry) bool { return int32(e.k.inception-inc) < 0 }))
	}
}

// Synthesize returns copies of sigs, the RRSIGs of a wildcard RRset, owned
// by qname, for an answer the wildcard synthesised at qname. Their Labels
// field still counts the wildcard owner's labels without the "*", which
// tells the validator that the answer was expanded (RFC 4035 5.3.2).
func Synthesize(sigs []*dns.RRSIG, qname string) []*dns.RRSIG {
	out := make([]*dns.RRSIG, len(sigs))
	for i, sig := range sigs {
		c := *sig
		c.Hdr.Name = qname
		out[i] = &c
	}
	return out
}

// Stats are the Signer's counters, as plain numbers for metrics.
type Stats struct {
	// Signatures is how many RRSIGs the Signer made, by any method.
	Signatures uint64
	// Hits and Misses count Sign's cache lookups, one per key; a lookup
	// that waited for another goroutine's signature counts as a hit.
	Hits, Misses uint64
	// Evictions counts signatures dropped to keep the bounds or by Retire.
	Evictions uint64
	// Entries and Bytes are what the cache holds now; Bytes is estimated.
	Entries int
	Bytes   int64
	// EarliestExpiration is the earliest expiration among the cached
	// signatures, zero when the cache is empty.
	EarliestExpiration time.Time
}

// Stats returns the Signer's counters.
func (s *Signer) Stats() Stats {
	st := Stats{
		Signatures: s.signatures.Load(),
		Hits:       s.hits.Load(),
		Misses:     s.misses.Load(),
		Evictions:  s.evictions.Load(),
	}
	for _, sh := range s.shards {
		n, b := sh.len()
		st.Entries += n
		st.Bytes += b
	}
	st.EarliestExpiration = s.EarliestExpiration()
	return st
}

// EarliestExpiration returns the earliest expiration among the signatures
// the cache holds, and the zero time when it holds none.
func (s *Signer) EarliestExpiration() time.Time {
	s.expMu.Lock()
	defer s.expMu.Unlock()
	var min int64
	for exp := range s.byExpiration {
		if min == 0 || exp < min {
			min = exp
		}
	}
	if min == 0 {
		return time.Time{}
	}
	return time.Unix(min, 0).UTC()
}

// UntilExpiry returns how long from now until the earliest of the given
// expirations, ignoring zero times (an empty cache, no signed set), and
// false when all are zero. It is the "time until the earliest signature
// expires" of the metrics: for example UntilExpiry(now,
// signer.EarliestExpiration(), set.Window().Expiration).
func UntilExpiry(now time.Time, expirations ...time.Time) (time.Duration, bool) {
	var earliest time.Time
	for _, t := range expirations {
		if !t.IsZero() && (earliest.IsZero() || t.Before(earliest)) {
			earliest = t
		}
	}
	if earliest.IsZero() {
		return 0, false
	}
	return earliest.Sub(now), true
}
