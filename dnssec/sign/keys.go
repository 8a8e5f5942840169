package sign

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/miekg/dns"
)

// Key is one DNSSEC key able to sign: its public DNSKEY record and the
// private key behind it.
type Key struct {
	DNSKEY *dns.DNSKEY
	Signer crypto.Signer
}

// Keys are the keys that sign one zone at one moment: KeySigning keys
// (KSKs, or a CSK) sign the DNSKEY, CDS and CDNSKEY RRsets at the apex;
// ZoneSigning keys (ZSKs, or the same CSK) sign every other RRset. Every
// key makes one RRSIG per RRset it signs, so during a rollover both keys
// sign. The signer name of every RRSIG is Zone, the apex.
//
// A Keys value is immutable once NewKeys has returned it and may be shared
// by any number of goroutines.
type Keys struct {
	zone        string
	keySigning  []key
	zoneSigning []key
}

// key is a Key with what signing needs of it worked out once.
type key struct {
	Key
	tag uint16
	alg uint8
	// id identifies the key in cache keys and signed sets: it covers the
	// zone, the key tag, the algorithm and the public key, so two keys
	// that share a tag (RFC 4034 B.1 allows it) never share signatures.
	id [32]byte
}

// NewKeys checks the keys of zone and returns them ready to sign. Each list
// must hold at least one key; every key must be a zone key (RFC 4034 2.1.1,
// protocol 3) of zone, of algorithm ECDSAP256SHA256 or ED25519, whose
// Signer holds the private half of its DNSKEY. A CSK is given in both
// lists.
func NewKeys(zone string, keySigning, zoneSigning []Key) (*Keys, error) {
	if _, ok := dns.IsDomainName(zone); !ok || !dns.IsFqdn(zone) {
		return nil, fmt.Errorf("sign: zone %q is not a fully qualified domain name", zone)
	}
	zone = dns.CanonicalName(zone)
	if len(keySigning) == 0 {
		return nil, fmt.Errorf("sign: zone %s: no key to sign the DNSKEY RRset", zone)
	}
	if len(zoneSigning) == 0 {
		return nil, fmt.Errorf("sign: zone %s: no key to sign the zone's RRsets", zone)
	}
	ks := &Keys{zone: zone}
	var err error
	if ks.keySigning, err = prepareKeys(zone, keySigning); err != nil {
		return nil, err
	}
	if ks.zoneSigning, err = prepareKeys(zone, zoneSigning); err != nil {
		return nil, err
	}
	return ks, nil
}

// Zone returns the apex of the zone the keys sign: the signer name.
func (ks *Keys) Zone() string { return ks.zone }

// forType returns the keys that sign RRsets of type t.
func (ks *Keys) forType(t uint16) []key {
	switch t {
	case dns.TypeDNSKEY, dns.TypeCDS, dns.TypeCDNSKEY:
		return ks.keySigning
	}
	return ks.zoneSigning
}

func prepareKeys(zone string, in []Key) ([]key, error) {
	out := make([]key, 0, len(in))
	for _, k := range in {
		p, err := prepareKey(zone, k)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

func prepareKey(zone string, k Key) (key, error) {
	if k.DNSKEY == nil {
		return key{}, fmt.Errorf("sign: zone %s: key without a DNSKEY", zone)
	}
	d := k.DNSKEY
	tag := d.KeyTag()
	where := fmt.Sprintf("sign: zone %s: key %d (algorithm %d)", zone, tag, d.Algorithm)
	if dns.CanonicalName(d.Hdr.Name) != zone {
		return key{}, fmt.Errorf("%s: DNSKEY owner is %s, not the zone apex", where, d.Hdr.Name)
	}
	if d.Hdr.Class != dns.ClassINET {
		return key{}, fmt.Errorf("%s: DNSKEY class is %s, not IN", where, dns.Class(d.Hdr.Class))
	}
	if d.Flags&dns.ZONE == 0 || d.Protocol != 3 {
		return key{}, fmt.Errorf("%s: not a zone key (flags %d, protocol %d)", where, d.Flags, d.Protocol)
	}
	if k.Signer == nil {
		return key{}, fmt.Errorf("%s: no private key", where)
	}
	want, err := base64.StdEncoding.DecodeString(d.PublicKey)
	if err != nil {
		return key{}, fmt.Errorf("%s: DNSKEY public key: %w", where, err)
	}
	have, err := publicKeyBytes(d.Algorithm, k.Signer.Public())
	if err != nil {
		return key{}, fmt.Errorf("%s: %w", where, err)
	}
	if !bytes.Equal(want, have) {
		return key{}, fmt.Errorf("%s: the private key does not match the DNSKEY", where)
	}
	p := key{Key: k, tag: tag, alg: d.Algorithm}
	h := sha256.New()
	h.Write([]byte(zone))
	h.Write(binary.BigEndian.AppendUint16([]byte{0, d.Algorithm}, tag))
	h.Write(have)
	h.Sum(p.id[:0])
	return p, nil
}

// publicKeyBytes returns pub in the DNSKEY public key field's encoding for
// alg (RFC 6605 4, RFC 8080 3).
func publicKeyBytes(alg uint8, pub crypto.PublicKey) ([]byte, error) {
	switch alg {
	case dns.ECDSAP256SHA256:
		p, ok := pub.(*ecdsa.PublicKey)
		if !ok {
			return nil, fmt.Errorf("algorithm ECDSAP256SHA256 needs an ECDSA key, have %T", pub)
		}
		e, err := p.ECDH()
		if err != nil {
			return nil, err
		}
		b := e.Bytes() // 0x04 || X || Y
		if len(b) != 65 {
			return nil, errors.New("algorithm ECDSAP256SHA256 needs a P-256 key")
		}
		return b[1:], nil
	case dns.ED25519:
		p, ok := pub.(ed25519.PublicKey)
		if !ok {
			return nil, fmt.Errorf("algorithm ED25519 needs an Ed25519 key, have %T", pub)
		}
		return p, nil
	}
	return nil, fmt.Errorf("unsupported algorithm %d (want %d or %d)", alg, dns.ECDSAP256SHA256, dns.ED25519)
}
