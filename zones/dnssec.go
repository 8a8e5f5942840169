package zones

import (
	"errors"
	"path/filepath"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/meridian-dns/meridian/dnssec"
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
