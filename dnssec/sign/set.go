package sign

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/miekg/dns"
)

// SignedSet holds the RRSIGs of a zone's static RRsets for one window: what
// a snapshot serves. It is immutable once SignAll has returned it.
type SignedSet struct {
	zone    string
	window  Window
	keys    map[tagAlg][32]byte // the id of each signing key; zero when two keys share a tag
	rrsets  map[setKey]*signedRRset
	signed  int
	reused  int
	entries []signedRRset
}

type setKey struct {
	owner string // canonical
	typ   uint16
}

type tagAlg struct {
	tag uint16
	alg uint8
}

type signedRRset struct {
	key     setKey
	content [32]byte
	sigs    []*dns.RRSIG
}

// SignAll signs every RRset in rrsets with ks for window w. When prev is
// the set of an earlier snapshot of the same zone for the same window, the
// signatures of RRsets whose content has not changed are taken from it, per
// key: a reload that changes one record of a million makes one signature
// per key, and a key added in a rollover signs only for itself. When the
// window has moved everything is signed again (the window is part of the
// signing input); sign w.Next() in the background from w.RefreshAt() so
// that is done before the week turns.
//
// Each element of rrsets must be one RRset, and no two may share an owner
// and type. The signing runs on GOMAXPROCS goroutines.
func (s *Signer) SignAll(prev *SignedSet, ks *Keys, rrsets [][]dns.RR, w Window) (*SignedSet, error) {
	set := &SignedSet{
		zone:    ks.zone,
		window:  w,
		keys:    make(map[tagAlg][32]byte),
		rrsets:  make(map[setKey]*signedRRset, len(rrsets)),
		entries: make([]signedRRset, len(rrsets)),
	}
	for _, list := range [][]key{ks.keySigning, ks.zoneSigning} {
		for _, k := range list {
			ta := tagAlg{k.tag, k.alg}
			if id, ok := set.keys[ta]; ok && id != k.id {
				set.keys[ta] = [32]byte{}
				continue
			}
			set.keys[ta] = k.id
		}
	}
	if prev != nil && (prev.zone != ks.zone || !prev.window.equal(w)) {
		prev = nil
	}

	var (
		next           atomic.Int64
		signed, reused atomic.Int64
		errOnce        sync.Once
		firstErr       error
		failed         atomic.Bool
		wg             sync.WaitGroup
	)
	const chunk = 64
	work := func() {
		defer wg.Done()
		for !failed.Load() {
			start := int(next.Add(chunk)) - chunk
			if start >= len(rrsets) {
				return
			}
			for i := start; i < min(start+chunk, len(rrsets)); i++ {
				ns, nr, err := s.signEntry(&set.entries[i], prev, ks, rrsets[i], w)
				signed.Add(int64(ns))
				reused.Add(int64(nr))
				if err != nil {
					errOnce.Do(func() { firstErr = err })
					failed.Store(true)
					return
				}
			}
		}
	}
	workers := min(runtime.GOMAXPROCS(0), (len(rrsets)+chunk-1)/chunk)
	wg.Add(workers)
	for range workers {
		go work()
	}
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}

	for i := range set.entries {
		e := &set.entries[i]
		if _, dup := set.rrsets[e.key]; dup {
			return nil, fmt.Errorf("sign: zone %s: %s %s given twice", ks.zone, e.key.owner, dns.Type(e.key.typ))
		}
		set.rrsets[e.key] = e
	}
	set.signed, set.reused = int(signed.Load()), int(reused.Load())
	return set, nil
}

// signEntry fills e with the signatures of rrset, reusing prev's where the
// content and key are the same, and returns how many it signed and reused.
func (s *Signer) signEntry(e *signedRRset, prev *SignedSet, ks *Keys, rrset []dns.RR, w Window) (signed, reused int, err error) {
	info, err := describe(rrset)
	if err != nil {
		return 0, 0, err
	}
	if e.content, err = contentHash(rrset, info); err != nil {
		return 0, 0, err
	}
	e.key = setKey{owner: info.owner, typ: info.typ}
	var old *signedRRset
	if prev != nil {
		if o := prev.rrsets[e.key]; o != nil && o.content == e.content {
			old = o
		}
	}
	keys := ks.forType(info.typ)
	e.sigs = make([]*dns.RRSIG, 0, len(keys))
	for i := range keys {
		k := &keys[i]
		if sig := old.sigBy(prev, k); sig != nil {
			e.sigs = append(e.sigs, sig)
			reused++
			continue
		}
		sig, err := s.signOne(ks.zone, k, rrset, info, w)
		if err != nil {
			return signed, reused, err
		}
		e.sigs = append(e.sigs, sig)
		signed++
	}
	return signed, reused, nil
}

// sigBy returns the signature of e, an entry of set, made by k, or nil.
func (e *signedRRset) sigBy(set *SignedSet, k *key) *dns.RRSIG {
	if e == nil || set.keys[tagAlg{k.tag, k.alg}] != k.id {
		return nil
	}
	for _, sig := range e.sigs {
		if sig.KeyTag == k.tag && sig.Algorithm == k.alg {
			return sig
		}
	}
	return nil
}

// RRSIGs returns the signatures of the RRset at owner of type t, or nil
// when the set holds none. They must not be modified. For a wildcard
// answer, look up the wildcard owner and use Synthesize.
func (set *SignedSet) RRSIGs(owner string, t uint16) []*dns.RRSIG {
	if e := set.rrsets[setKey{owner: dns.CanonicalName(owner), typ: t}]; e != nil {
		return e.sigs
	}
	return nil
}

// Window returns the window the set was signed for. Every signature in it
// expires at Window().Expiration.
func (set *SignedSet) Window() Window { return set.window }

// Len returns the number of RRsets in the set.
func (set *SignedSet) Len() int { return len(set.rrsets) }

// Signed returns how many signatures SignAll made for the set.
func (set *SignedSet) Signed() int { return set.signed }

// Reused returns how many signatures SignAll took from the previous set.
func (set *SignedSet) Reused() int { return set.reused }
