package dnssec

import (
	"crypto"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// Generate makes a new key for zone with algorithm alg and the given
// DNSKEY flags (257 for a CSK or KSK, 256 for a ZSK), created, published
// and active from now (to the second), as dnssec-keygen does. The key
// exists only in memory until WriteFiles.
func Generate(zone string, alg uint8, flags uint16, now time.Time) (*Key, error) {
	if !slices.Contains(Algorithms, alg) {
		return nil, fmt.Errorf("algorithm %d (%s) is not supported: use %s", alg, algName(alg), supported())
	}
	if flags != 256 && flags != 257 {
		return nil, fmt.Errorf("flags %d: a zone key has flags 256 (ZSK) or 257 (KSK or CSK)", flags)
	}
	zone = dns.CanonicalName(zone)
	if _, ok := dns.IsDomainName(zone); !ok {
		return nil, fmt.Errorf("%q is not a domain name", zone)
	}
	key := &dns.DNSKEY{
		Hdr:       dns.RR_Header{Name: zone, Rrtype: dns.TypeDNSKEY, Class: dns.ClassINET},
		Flags:     flags,
		Protocol:  3,
		Algorithm: alg,
	}
	bits := 256
	pk, err := key.Generate(bits)
	if err != nil {
		return nil, fmt.Errorf("generating a key: %w", err)
	}
	signer, ok := pk.(crypto.Signer)
	if !ok {
		return nil, errors.New("generating a key: not a signer")
	}
	now = now.UTC().Truncate(time.Second)
	return &Key{
		DNSKEY: key,
		Signer: signer,
		Timing: Timing{Created: now, Publish: now, Activate: now},
	}, nil
}

// WriteFiles writes k into dir as BIND does: K<zone>.+<alg>+<tag>.key
// (mode 0644) with the timing as comments and the DNSKEY record, and
// K<zone>.+<alg>+<tag>.private (mode 0600) with the private key (format
// v1.3) and the timing. It never overwrites a file, and sets k.File and
// k.PrivateFile.
func (k *Key) WriteFiles(dir string) error {
	base := filepath.Join(dir, fmt.Sprintf("K%s+%03d+%05d", fileZone(k.DNSKEY.Hdr.Name), k.Algorithm(), k.Tag()))
	priv := k.DNSKEY.PrivateKeyString(k.Signer)
	if priv == "" {
		return errors.New("the private key cannot be written")
	}
	var pub strings.Builder
	role := "zone-signing"
	if k.SEP() {
		role = "key-signing"
	}
	fmt.Fprintf(&pub, "; This is a %s key, keyid %d, for %s\n", role, k.Tag(), k.DNSKEY.Hdr.Name)
	var meta strings.Builder
	for _, f := range timingFields {
		if t := *f.get(&k.Timing); !t.IsZero() {
			fmt.Fprintf(&pub, "; %s: %s (%s)\n", f.name, formatTime(t), t.UTC().Format("Mon Jan _2 15:04:05 2006"))
			fmt.Fprintf(&meta, "%s: %s\n", f.name, formatTime(t))
		}
	}
	fmt.Fprintf(&pub, "%s IN DNSKEY %d %d %d %s\n", k.DNSKEY.Hdr.Name, k.DNSKEY.Flags, k.DNSKEY.Protocol, k.Algorithm(), k.DNSKEY.PublicKey)
	if err := writeNew(base+".private", priv+meta.String(), 0o600); err != nil {
		return err
	}
	if err := writeNew(base+".key", pub.String(), 0o644); err != nil {
		os.Remove(base + ".private")
		return err
	}
	k.File, k.PrivateFile = base+".key", base+".private"
	return nil
}

// writeNew creates path with mode perm (whatever the umask leaves of it,
// never more) and writes text to it, failing when path exists.
func writeNew(path, text string, perm os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	_, err = f.WriteString(text)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}
