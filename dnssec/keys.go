// Package dnssec holds a zone's DNSSEC keys: it loads them from a directory
// of BIND key-file pairs (K<zone>.+<alg>+<tag>.key and .private, as
// dnssec-keygen, dnssec-settime and ldns-keygen write them), obeys their
// timing metadata, and says which keys are in the DNSKEY RRset and which
// sign at a given time, with the DS, CDS and CDNSKEY records the parent
// should see. It also writes new key pairs (Generate). Signing itself is
// in dnssec/sign. The package has no network code.
//
// Private keys are never logged, printed or put in an error: Key's String,
// GoString and LogValue show the key's file name, role, algorithm and tag.
package dnssec

import (
	"bytes"
	"cmp"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"

	"github.com/meridian-dns/meridian/internal/capped"
)

// MaxKeyFileBytes bounds what is read of one key file; real ones hold a
// few hundred bytes.
const MaxKeyFileBytes = 64 << 10

// Algorithms are the signing algorithms Meridian accepts, by number.
var Algorithms = []uint8{dns.ECDSAP256SHA256, dns.ED25519}

// DefaultAlgorithm is the algorithm of a zone that names none, and of
// `meridian dnssec keygen`.
const DefaultAlgorithm = dns.ECDSAP256SHA256

// AlgorithmNamed returns the number of a supported algorithm given by its
// mnemonic (ECDSAP256SHA256, ED25519, any case) or number (13, 15).
func AlgorithmNamed(s string) (uint8, error) {
	for _, a := range Algorithms {
		if strings.EqualFold(s, dns.AlgorithmToString[a]) || s == strconv.Itoa(int(a)) {
			return a, nil
		}
	}
	return 0, fmt.Errorf("algorithm %q is not supported: use %s", s, supported())
}

// supported lists the supported algorithms for messages.
func supported() string {
	var names []string
	for _, a := range Algorithms {
		names = append(names, fmt.Sprintf("%s (%d)", dns.AlgorithmToString[a], a))
	}
	return strings.Join(names, " or ")
}

// Key is one key of a zone: its DNSKEY record, its private half and its
// timing. A Key is immutable once loaded.
type Key struct {
	// DNSKEY is the public key as served; callers must not modify it.
	DNSKEY *dns.DNSKEY
	// Signer is the private key: an *ecdsa.PrivateKey for
	// ECDSAP256SHA256, an ed25519.PrivateKey for ED25519.
	Signer crypto.Signer
	// File is the .key file; PrivateFile the .private file beside it.
	File        string
	PrivateFile string
	// Timing is the key's timing metadata from its .private file.
	Timing
	// Legacy is true for a key without timing metadata (private-key format
	// v1.2 or older, as ldns-keygen writes): as BIND does for such keys, it
	// is published and signs at all times.
	Legacy bool
}

// Tag returns the key tag.
func (k *Key) Tag() uint16 { return k.DNSKEY.KeyTag() }

// Algorithm returns the key's algorithm number.
func (k *Key) Algorithm() uint8 { return k.DNSKEY.Algorithm }

// SEP reports whether the key has the Secure Entry Point flag (flags 257):
// a KSK, or a CSK when no ZSK signs beside it.
func (k *Key) SEP() bool { return k.DNSKEY.Flags&dns.SEP != 0 }

// Name returns the key's file name without its extension, as BIND names
// keys: Kexample.com.+013+12345.
func (k *Key) Name() string { return strings.TrimSuffix(filepath.Base(k.File), ".key") }

// String describes the key without its private half.
func (k *Key) String() string {
	role := "ZSK"
	if k.SEP() {
		role = "KSK"
	}
	return fmt.Sprintf("%s (%s, %s, tag %d)", k.Name(), role, dns.AlgorithmToString[k.Algorithm()], k.Tag())
}

// GoString is String, so that %#v shows no private key either.
func (k *Key) GoString() string { return k.String() }

// LogValue is String, for log/slog.
func (k *Key) LogValue() slog.Value { return slog.StringValue(k.String()) }

// Deleted reports whether the key's Delete time has come at t.
func (k *Key) Deleted(t time.Time) bool { return !k.Legacy && reached(k.Delete, t) }

// Active reports whether the key signs at t: from Activate until Inactive
// (or Delete). A key without Activate never signs, as in BIND.
func (k *Key) Active(t time.Time) bool {
	if k.Legacy {
		return true
	}
	return reached(k.Activate, t) && !reached(k.Inactive, t) && !k.Deleted(t)
}

// Published reports whether the key is in the DNSKEY RRset at t: from
// Publish until Delete. A key without Publish is published while it is
// active, as BIND does ("publish now, activate later" needs Publish).
func (k *Key) Published(t time.Time) bool {
	if k.Legacy {
		return true
	}
	if k.Deleted(t) {
		return false
	}
	return reached(k.Publish, t) || k.Publish.IsZero() && k.Active(t)
}

// KeySet is the keys of one zone, as loaded from its keys directory.
// It is immutable; every method takes the time to evaluate the keys at.
type KeySet struct {
	// Zone is the zone's apex, canonical.
	Zone string
	// Dir is the keys directory.
	Dir string
	// Keys are the zone's keys, ordered by algorithm and tag.
	Keys []*Key
	// Hash identifies the names and contents of the key files, so that a
	// reload can tell whether they changed (see DirHash).
	Hash [32]byte
	// warnings are found while loading and reported by Check.
	warnings []Problem
}

// String describes the key set without private keys.
func (ks *KeySet) String() string {
	var names []string
	for _, k := range ks.Keys {
		names = append(names, k.String())
	}
	return fmt.Sprintf("%s keys in %s: %s", ks.Zone, ks.Dir, strings.Join(names, ", "))
}

// Published returns the DNSKEY RRset at t, ordered by tag. Callers must not
// modify the records; their TTL is the .key file's (0 when it gives none),
// for the caller to set.
func (ks *KeySet) Published(t time.Time) []*dns.DNSKEY {
	var out []*dns.DNSKEY
	for _, k := range ks.Keys {
		if k.Published(t) {
			out = append(out, k.DNSKEY)
		}
	}
	return out
}

// Signing returns the keys that sign at t: forDNSKEY, those that sign the
// DNSKEY RRset (and CDS and CDNSKEY), else those that sign the rest of the
// zone. Per algorithm, a KSK (flags 257) signs the DNSKEY RRset and a ZSK
// (256) the rest; a key with no active key of the other role beside it (a
// CSK) signs both, as BIND does.
func (ks *KeySet) Signing(t time.Time, forDNSKEY bool) []*Key {
	var out []*Key
	for _, alg := range ks.algorithms() {
		var mine, other []*Key
		for _, k := range ks.Keys {
			if k.Algorithm() != alg || !k.Active(t) {
				continue
			}
			if k.SEP() == forDNSKEY {
				mine = append(mine, k)
			} else {
				other = append(other, k)
			}
		}
		if len(mine) == 0 {
			mine = other
		}
		out = append(out, mine...)
	}
	return out
}

// algorithms returns the algorithms of the keys, in order.
func (ks *KeySet) algorithms() []uint8 {
	var out []uint8
	for _, k := range ks.Keys {
		if !slices.Contains(out, k.Algorithm()) {
			out = append(out, k.Algorithm())
		}
	}
	return out
}

// parentKeys returns the keys whose DS the parent should hold at t, as
// CDS, CDNSKEY and DS show them: the published KSKs and CSKs (every key,
// when the zone has no key with flags 257) that sign the DNSKEY RRset or,
// when SyncPublish is set, from SyncPublish on; in either case not from
// SyncDelete on.
func (ks *KeySet) parentKeys(t time.Time) []*Key {
	anySEP := slices.ContainsFunc(ks.Keys, (*Key).SEP)
	var out []*Key
	for _, k := range ks.Keys {
		if anySEP && !k.SEP() || !k.Published(t) || reached(k.SyncDelete, t) {
			continue
		}
		if k.SyncPublish.IsZero() && k.Active(t) || reached(k.SyncPublish, t) {
			out = append(out, k)
		}
	}
	return out
}

// DS returns the DS records (SHA-256) of the keys the parent should hold at
// t: what to give the registrar. Their TTL is 0.
func (ks *KeySet) DS(t time.Time) []*dns.DS {
	var out []*dns.DS
	for _, k := range ks.parentKeys(t) {
		if ds := k.DNSKEY.ToDS(dns.SHA256); ds != nil {
			ds.Hdr.Ttl = 0
			out = append(out, ds)
		}
	}
	return out
}

// CDS returns the zone's CDS RRset at t (RFC 7344, 8078): the DS records
// the parent should hold, SHA-256.
func (ks *KeySet) CDS(t time.Time) []*dns.CDS {
	var out []*dns.CDS
	for _, ds := range ks.DS(t) {
		out = append(out, ds.ToCDS())
	}
	return out
}

// CDNSKEY returns the zone's CDNSKEY RRset at t: the keys of CDS.
func (ks *KeySet) CDNSKEY(t time.Time) []*dns.CDNSKEY {
	var out []*dns.CDNSKEY
	for _, k := range ks.parentKeys(t) {
		c := k.DNSKEY.ToCDNSKEY()
		c.Hdr.Ttl = 0
		out = append(out, c)
	}
	return out
}

// NextEvent returns the first time after t at which a key's timing changes
// what the set publishes, signs or offers the parent, or the zero time when
// nothing is scheduled. A server re-evaluates the keys then.
func (ks *KeySet) NextEvent(t time.Time) time.Time {
	var next time.Time
	for _, k := range ks.Keys {
		if k.Legacy {
			continue
		}
		for _, e := range k.Timing.events() {
			if e.After(t) && (next.IsZero() || e.Before(next)) {
				next = e
			}
		}
	}
	return next
}

// Problem is something wrong with a zone's keys, about one file (or the
// keys directory). A Warning is allowed but probably not meant.
type Problem struct {
	File    string
	Warning bool
	Msg     string
}

// Error returns "file: message".
func (p Problem) Error() string { return p.File + ": " + p.Msg }

// Check returns what is wrong with the keys at t: errors when no key signs
// at t, or every key is inactive (expired), or no active key uses alg (when
// alg is not 0), or a key signs before it is published; and the warnings
// found while loading (a .private file that group or others may read).
func (ks *KeySet) Check(t time.Time, alg uint8) []Problem {
	var out []Problem
	errAt := func(file, format string, args ...any) {
		out = append(out, Problem{File: file, Msg: fmt.Sprintf(format, args...)})
	}
	var active []*Key
	for _, k := range ks.Keys {
		if k.Active(t) {
			active = append(active, k)
		}
		if !k.Legacy && !k.Activate.IsZero() && !k.Publish.IsZero() && k.Activate.Before(k.Publish) {
			errAt(k.PrivateFile, "Activate %s is before Publish %s: the key would sign before resolvers can have it; set Publish at or before Activate (dnssec-settime -P)",
				formatTime(k.Activate), formatTime(k.Publish))
		}
	}
	switch {
	case len(active) > 0:
	case !slices.ContainsFunc(ks.Keys, func(k *Key) bool { return !reached(k.Inactive, t) && !k.Deleted(t) }):
		errAt(ks.Dir, "every key of %s is inactive at %s (expired): make a new key (meridian dnssec keygen) or move Inactive and Delete later (dnssec-settime -I, -D)",
			ks.Zone, t.UTC().Format(time.RFC3339))
	default:
		msg := fmt.Sprintf("no key of %s is active at %s", ks.Zone, t.UTC().Format(time.RFC3339))
		if next := ks.nextActivation(t); next != nil {
			msg += fmt.Sprintf(" (the first, %s, activates at %s)", next, next.Activate.UTC().Format(time.RFC3339))
		}
		errAt(ks.Dir, "%s: set Activate (dnssec-settime -A now) or make an active key (meridian dnssec keygen)", msg)
	}
	if alg != 0 && len(active) > 0 && !slices.ContainsFunc(active, func(k *Key) bool { return k.Algorithm() == alg }) {
		errAt(ks.Dir, "no active key of %s uses the zone's algorithm %s: make one (meridian dnssec keygen --algorithm %s) or set dnssec.algorithm to the keys' algorithm",
			ks.Zone, dns.AlgorithmToString[alg], dns.AlgorithmToString[alg])
	}
	return append(out, ks.warnings...)
}

// nextActivation returns the key that activates first after t, or nil.
func (ks *KeySet) nextActivation(t time.Time) *Key {
	var first *Key
	for _, k := range ks.Keys {
		if k.Activate.After(t) && (first == nil || k.Activate.Before(first.Activate)) {
			first = k
		}
	}
	return first
}

// keyFileRe matches BIND's key file names: K<zone>+<alg>+<tag>.key or
// .private, the zone with its trailing dot.
var keyFileRe = regexp.MustCompile(`^K(.+)\+(\d{3})\+(\d{5})\.(key|private)$`)

// zoneFiles lists the key files of zone in dir: the base names (without
// extension) of its .key and .private files.
func zoneFiles(dir, zone string) (names []string, err error) {
	fi, err := os.Stat(dir)
	if err != nil {
		return nil, Problem{File: dir, Msg: "the keys directory cannot be read: " + unwrapPath(err).Error()}
	}
	if !fi.IsDir() {
		return nil, Problem{File: dir, Msg: "the keys directory is not a directory"}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, Problem{File: dir, Msg: "the keys directory cannot be read: " + unwrapPath(err).Error()}
	}
	for _, e := range entries {
		m := keyFileRe.FindStringSubmatch(e.Name())
		if m == nil || !strings.EqualFold(m[1], fileZone(zone)) {
			continue
		}
		base := strings.TrimSuffix(e.Name(), "."+m[4])
		if !slices.Contains(names, base) {
			names = append(names, base)
		}
	}
	slices.Sort(names)
	return names, nil
}

// fileZone is the zone as it appears in a key file name: absolute, with
// the root as ".".
func fileZone(zone string) string { return dns.Fqdn(zone) }

// DirHash hashes the names and contents of zone's key files in dir, as
// KeySet.Hash does, so that a reload can skip unchanged keys.
func DirHash(dir, zone string) ([32]byte, error) {
	var sum [32]byte
	names, err := zoneFiles(dir, zone)
	if err != nil {
		return sum, err
	}
	h := sha256.New()
	for _, base := range names {
		for _, ext := range []string{".key", ".private"} {
			b, err := capped.ReadFile(filepath.Join(dir, base+ext), MaxKeyFileBytes)
			if err != nil && !errors.Is(err, fs.ErrNotExist) {
				return sum, err
			}
			fmt.Fprintf(h, "%s%s %d\n", base, ext, len(b))
			h.Write(b)
		}
	}
	copy(sum[:], h.Sum(nil))
	return sum, nil
}

// LoadKeys reads the keys of zone from dir: every K<zone>.+<alg>+<tag>.key
// file and the .private file beside it (key files of other zones are left
// alone). It fails, naming each file, when dir is not a readable
// directory, holds no key of zone, or a key file is missing, unreadable or
// malformed, holds a key of another zone, of an unsupported algorithm, or a
// private key that does not match its public key. Files are read only when
// regular, within MaxKeyFileBytes. What depends on time is Check's.
func LoadKeys(dir, zone string) (*KeySet, error) {
	zone = dns.CanonicalName(zone)
	ks := &KeySet{Zone: zone, Dir: dir}
	names, err := zoneFiles(dir, zone)
	if err != nil {
		return nil, err
	}
	if len(names) == 0 {
		return nil, Problem{File: dir, Msg: fmt.Sprintf("no key of %s (files K%s+<alg>+<tag>.key and .private): make one with meridian dnssec keygen %s --dir %s", zone, fileZone(zone), zone, dir)}
	}
	var errs []error
	h := sha256.New()
	for _, base := range names {
		k, warn, err := loadKey(filepath.Join(dir, base), zone, h)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if warn != nil {
			ks.warnings = append(ks.warnings, *warn)
		}
		ks.Keys = append(ks.Keys, k)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	slices.SortFunc(ks.Keys, func(a, b *Key) int {
		return cmp.Or(cmp.Compare(a.Algorithm(), b.Algorithm()), cmp.Compare(a.Tag(), b.Tag()))
	})
	copy(ks.Hash[:], h.Sum(nil))
	return ks, nil
}

// loadKey reads the key pair at base (the path without .key or .private),
// adding both files to h as DirHash does. It returns a warning when the
// private key file may be read by group or others.
func loadKey(base, zone string, h interface{ Write([]byte) (int, error) }) (*Key, *Problem, error) {
	pubFile, privFile := base+".key", base+".private"
	fail := func(file, format string, args ...any) (*Key, *Problem, error) {
		return nil, nil, Problem{File: file, Msg: fmt.Sprintf(format, args...)}
	}
	pub, err := capped.ReadFile(pubFile, MaxKeyFileBytes)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fail(privFile, "no public key file %s beside it: restore it (dnssec-keygen writes both) or remove this file", filepath.Base(pubFile))
		}
		return fail(pubFile, "%v", unwrapPath(err))
	}
	priv, err := capped.ReadFile(privFile, MaxKeyFileBytes)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fail(pubFile, "no private key file %s beside it: the key cannot sign; restore it, or remove the .key file", filepath.Base(privFile))
		}
		return fail(privFile, "%v", unwrapPath(err))
	}
	for _, f := range []struct {
		ext string
		b   []byte
	}{{".key", pub}, {".private", priv}} {
		fmt.Fprintf(h, "%s%s %d\n", filepath.Base(base), f.ext, len(f.b))
		h.Write(f.b)
	}

	rr, err := dns.ReadRR(bytes.NewReader(pub), pubFile)
	if err != nil {
		return fail(pubFile, "not a DNSKEY record: %v", strings.TrimPrefix(err.Error(), "dns: "))
	}
	key, ok := rr.(*dns.DNSKEY)
	if !ok {
		return fail(pubFile, "holds no DNSKEY record")
	}
	if owner := dns.CanonicalName(key.Hdr.Name); owner != zone {
		return fail(pubFile, "holds a key of %s, not of %s: move it to the keys of %s", owner, zone, owner)
	}
	if key.Flags&dns.ZONE == 0 || key.Protocol != 3 {
		return fail(pubFile, "flags %d, protocol %d is not a zone key (flags 256 or 257, protocol 3)", key.Flags, key.Protocol)
	}
	if key.Flags&dns.REVOKE != 0 {
		return fail(pubFile, "the key is revoked (flags %d): remove it from the keys directory", key.Flags)
	}
	if !slices.Contains(Algorithms, key.Algorithm) {
		return fail(pubFile, "algorithm %d (%s) is not supported: use %s", key.Algorithm, algName(key.Algorithm), supported())
	}
	if n, want := publicKeySize(key), publicKeySizes[key.Algorithm]; n != want {
		return fail(pubFile, "malformed public key: not %d bytes of base64 as %s needs", want, algName(key.Algorithm))
	}
	m := keyFileRe.FindStringSubmatch(filepath.Base(pubFile))
	if alg, _ := strconv.Atoi(m[2]); alg != int(key.Algorithm) {
		return fail(pubFile, "the file name says algorithm %d but the key's algorithm is %d", alg, key.Algorithm)
	}
	if tag, _ := strconv.Atoi(m[3]); tag != int(key.KeyTag()) {
		return fail(pubFile, "the file name says tag %d but the key's tag is %d", tag, key.KeyTag())
	}

	k := &Key{DNSKEY: key, File: pubFile, PrivateFile: privFile}
	if err := k.readPrivate(priv); err != nil {
		return fail(privFile, "%v", err)
	}
	var warn *Problem
	if fi, err := os.Stat(privFile); err == nil && fi.Mode().Perm()&0o044 != 0 {
		warn = &Problem{File: privFile, Warning: true, Msg: fmt.Sprintf("the private key may be read by other users (mode %04o): chmod 600 it, owned by the user Meridian runs as", fi.Mode().Perm())}
	}
	return k, warn, nil
}

// unwrapPath drops the path of an *fs.PathError, which the Problem names.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

func algName(a uint8) string {
	if s, ok := dns.AlgorithmToString[a]; ok {
		return s
	}
	return "unknown"
}

// readPrivate reads a .private file into k: its private key, checked
// against k.DNSKEY, and its timing. Errors never quote the file: it holds
// the private key.
func (k *Key) readPrivate(b []byte) error {
	fields := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == ';' {
			continue
		}
		name, value, ok := strings.Cut(line, ":")
		if !ok {
			return errors.New("malformed private key file: a line without \"Name: value\"")
		}
		fields[strings.ToLower(strings.TrimSpace(name))] = strings.TrimSpace(value)
	}
	format := fields["private-key-format"]
	var major, minor int
	if _, err := fmt.Sscanf(format, "v%d.%d", &major, &minor); err != nil || major != 1 {
		return errors.New("malformed private key file: no Private-key-format: v1.x line")
	}
	algField, _, _ := strings.Cut(fields["algorithm"], " ")
	if alg, err := strconv.Atoi(algField); err != nil || alg != int(k.DNSKEY.Algorithm) {
		return fmt.Errorf("its Algorithm is %q but %s holds a key of algorithm %d: the two files are not one key pair", algField, filepath.Base(k.File), k.DNSKEY.Algorithm)
	}
	pk, err := k.DNSKEY.ReadPrivateKey(strings.NewReader(string(b)), "")
	if err != nil {
		return errors.New("malformed private key file: the private key does not parse")
	}
	signer, err := matchPrivate(k.DNSKEY, pk)
	if err != nil {
		return err
	}
	k.Signer = signer
	// Smart signing (timing metadata) started with format v1.3; BIND uses
	// older keys at all times.
	k.Legacy = minor <= 2
	for _, f := range timingFields {
		v, ok := fields[strings.ToLower(f.name)]
		if !ok {
			continue
		}
		t, err := parseTime(v)
		if err != nil {
			return fmt.Errorf("%s: %v", f.name, err)
		}
		*f.get(&k.Timing) = t
	}
	if k.Legacy && len(k.Timing.events()) > 0 {
		k.Legacy = false
	}
	return nil
}

// matchPrivate returns the private key pk as a crypto.Signer, built from
// its private scalar or seed alone, after checking that its public half is
// the DNSKEY's: miekg/dns takes the public half from the DNSKEY without
// checking.
func matchPrivate(key *dns.DNSKEY, pk crypto.PrivateKey) (crypto.Signer, error) {
	mismatch := fmt.Errorf("the private key does not match the public key in %s: the two files are not one key pair", key.Hdr.Name)
	switch p := pk.(type) {
	case *ecdsa.PrivateKey:
		d := p.D.Bytes()
		if len(d) > 32 {
			return nil, errors.New("malformed private key file: the private key is too long")
		}
		raw := make([]byte, 32)
		copy(raw[32-len(d):], d)
		s, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), raw)
		if err != nil {
			return nil, errors.New("malformed private key file: not a P-256 private key")
		}
		point, err := s.PublicKey.Bytes()
		if err != nil || len(point) != 65 || !publicKeyIs(key, point[1:]) {
			return nil, mismatch
		}
		return s, nil
	case ed25519.PrivateKey:
		if len(p) != ed25519.PrivateKeySize {
			return nil, errors.New("malformed private key file: not an Ed25519 private key")
		}
		s := ed25519.NewKeyFromSeed(p.Seed())
		if !publicKeyIs(key, s.Public().(ed25519.PublicKey)) {
			return nil, mismatch
		}
		return s, nil
	}
	return nil, errors.New("malformed private key file: not a key of a supported algorithm")
}

// publicKeySizes are the sizes of the public keys of the supported
// algorithms: a P-256 point without its prefix, an Ed25519 key.
var publicKeySizes = map[uint8]int{dns.ECDSAP256SHA256: 64, dns.ED25519: ed25519.PublicKeySize}

// publicKeySize returns the size of the DNSKEY's public key, or -1 when it
// is not base64.
func publicKeySize(key *dns.DNSKEY) int {
	pub, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(key.PublicKey), ""))
	if err != nil {
		return -1
	}
	return len(pub)
}

// publicKeyIs reports whether the DNSKEY's public key is b.
func publicKeyIs(key *dns.DNSKEY, b []byte) bool {
	pub, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(key.PublicKey), ""))
	return err == nil && bytes.Equal(pub, b)
}
