package zones

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/miekg/dns"

	"github.com/meridian-dns/meridian/dnssec/sign"
)

// Snapshot is everything a query can see: all zones, immutable once built.
// A new configuration is loaded into a new Snapshot and swapped in whole.
type Snapshot struct {
	zones map[string]*Zone
	list  []*Zone
	// Hash identifies the content of every file the snapshot was built from,
	// so that a reload of unchanged files can be skipped.
	Hash [32]byte
}

// Zones returns the zones in name order.
func (s *Snapshot) Zones() []*Zone { return s.list }

// Zone returns the zone with the given apex (any case), or nil.
func (s *Snapshot) Zone(origin string) *Zone { return s.zones[dns.CanonicalName(origin)] }

// findZone returns the most specific zone containing the canonical name, or
// nil when the name is in none of ours.
func (s *Snapshot) findZone(name string) *Zone {
	for off, end := 0, false; !end; off, end = dns.NextLabel(name, off) {
		if z := s.zones[name[off:]]; z != nil {
			return z
		}
	}
	return s.zones["."]
}

// Load reads every *.yaml zone file in dir and builds a snapshot, within
// the default Limits. It returns every problem it finds, each naming its
// file and line; a snapshot is returned only when there are none. prev, the
// snapshot being served (or nil), keeps derived serials increasing across
// reloads.
func Load(dir string, prev *Snapshot) (*Snapshot, error) {
	return LoadWithLimits(dir, prev, Limits{})
}

// LoadWithLimits is Load within lim: a file over lim.FileBytes or a zone of
// more than lim.Records records is a load error like any other.
func LoadWithLimits(dir string, prev *Snapshot, lim Limits) (*Snapshot, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("zones: %w", err)
	}
	var paths []string
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || strings.HasPrefix(name, ".") {
			continue
		}
		if ext := filepath.Ext(name); ext == ".yaml" || ext == ".yml" {
			paths = append(paths, filepath.Join(dir, name))
		}
	}
	sort.Strings(paths)
	return loadFiles(paths, prev, lim.orDefaults())
}

// LoadFiles builds a snapshot from the named zone files, within the default
// Limits; see Load. Each file's directory is its zones directory.
func LoadFiles(paths []string, prev *Snapshot) (*Snapshot, error) {
	return loadFiles(paths, prev, Limits{}.orDefaults())
}

func loadFiles(paths []string, prev *Snapshot, lim Limits) (*Snapshot, error) {
	s := &Snapshot{zones: make(map[string]*Zone)}
	var errs []error
	h := sha256.New()
	for _, path := range paths {
		z, zerrs := loadFile(path, lim)
		errs = append(errs, zerrs...)
		if z == nil {
			continue
		}
		if other := s.zones[z.Origin]; other != nil {
			errs = append(errs, fmt.Errorf("%s: zone %s is already defined in %s", path, z.Origin, other.File))
			continue
		}
		h.Write(z.Hash[:])
		s.zones[z.Origin] = z
		s.list = append(s.list, z)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	copy(s.Hash[:], h.Sum(nil))
	sort.Slice(s.list, func(i, j int) bool { return s.list[i].Origin < s.list[j].Origin })
	now := time.Now()
	for _, z := range s.list {
		z.assignSerial(prev)
		// Signed last, once the serial is final, with the previous
		// snapshot's signatures of unchanged RRsets reused.
		if z.DNSSEC != nil {
			var prevSet *sign.SignedSet
			if prev != nil {
				if old := prev.zones[z.Origin]; old != nil && old.Signed() {
					prevSet = old.DNSSEC.Signed
				}
			}
			if err := z.sign(now, prevSet); err != nil {
				errs = append(errs, fmt.Errorf("%s: signing zone %s: %w", z.File, z.Origin, err))
			}
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return s, nil
}

// assignSerial fills in a derived serial: the zone file's modification time
// in seconds, but always above the serial served before when the content
// changed, and unchanged when it did not.
func (z *Zone) assignSerial(prev *Snapshot) {
	if !z.SerialFromFile {
		z.soa.Serial = uint32(z.modTime.Unix())
		if prev != nil {
			if old := prev.zones[z.Origin]; old != nil && !old.SerialFromFile {
				switch {
				case old.Hash == z.Hash:
					z.soa.Serial = old.Serial
				case serialLE(z.soa.Serial, old.Serial):
					z.soa.Serial = old.Serial + 1
				}
			}
		}
	}
	z.Serial = z.soa.Serial
}

// serialLE compares serials in RFC 1982 arithmetic: a <= b.
func serialLE(a, b uint32) bool { return a == b || int32(b-a) > 0 }
