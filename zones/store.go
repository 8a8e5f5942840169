package zones

import (
	"context"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/meridian-dns/meridian/dnssec"
	"github.com/meridian-dns/meridian/internal/watch"
)

// Store holds the snapshot being served and replaces it on reload. Queries
// read it with one atomic load (Current or Pointer); reloads are serialised.
type Store struct {
	// dir is the zones directory; ReloadFrom replaces it.
	dir    atomic.Pointer[string]
	limits Limits
	logger *slog.Logger
	cur    atomic.Pointer[Snapshot]
	mu     sync.Mutex

	// OnReload, when set before Watch, is called after every reload attempt
	// with whether the snapshot changed and the error, if any.
	OnReload func(changed bool, err error)
	// Validate, when set, is asked about every new snapshot before it is
	// swapped in (for example whether the checker can probe its
	// health-check targets); an error rejects the snapshot like a load
	// error. It must have no side effect: a snapshot it passes may still
	// not be swapped in.
	Validate func(*Snapshot) error
	// Swapped, when set, is called with every snapshot once it is in
	// service (for example to hand its health-check targets to the
	// checker). Calls are serialised with reloads, so they come in the
	// order the snapshots were swapped in.
	Swapped func(*Snapshot)
}

// NewStore loads the zones in dir within the default Limits. It fails when
// they do not load: a server must not start without its data.
func NewStore(dir string, logger *slog.Logger) (*Store, error) {
	return NewStoreWithLimits(dir, logger, Limits{})
}

// NewStoreWithLimits is NewStore within lim, which every reload keeps to.
func NewStoreWithLimits(dir string, logger *slog.Logger, lim Limits) (*Store, error) {
	if logger == nil {
		logger = slog.Default()
	}
	lim = lim.orDefaults()
	snap, err := LoadWithLimits(dir, nil, lim)
	if err != nil {
		return nil, err
	}
	s := &Store{limits: lim, logger: logger}
	s.dir.Store(&dir)
	s.cur.Store(snap)
	s.logNews(nil, snap)
	return s, nil
}

// Current returns the snapshot being served.
func (s *Store) Current() *Snapshot { return s.cur.Load() }

// Pointer returns the atomic pointer the DNS handler reads.
func (s *Store) Pointer() *atomic.Pointer[Snapshot] { return &s.cur }

// Dir returns the zones directory.
func (s *Store) Dir() string { return *s.dir.Load() }

// Reload builds a new snapshot from the zones directory aside, validates
// it, swaps it in and then calls Swapped. On any error the snapshot being
// served stays, nothing else has seen the new one, and the error names
// every problem with its file and line. Unchanged files are not reloaded.
func (s *Store) Reload() (changed bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.cur.Load()
	if old != nil && s.unchanged(old) {
		return false, nil
	}
	snap, err := LoadWithLimits(s.Dir(), old, s.limits)
	if err != nil {
		return false, err
	}
	if old != nil && snap.Hash == old.Hash {
		return false, nil
	}
	if s.Validate != nil {
		if err := s.Validate(snap); err != nil {
			return false, err
		}
	}
	s.cur.Store(snap)
	if s.Swapped != nil {
		s.Swapped(snap)
	}
	s.logNews(old, snap)
	return true, nil
}

// ReloadFrom builds a new snapshot from the zone files in dir, as Reload
// does from the zones directory, and on success makes dir the zones
// directory: later reloads, refreshes and the watcher read it. On any
// error the snapshot being served and the zones directory stay. It serves
// zones published to a fleet (cluster.zones_from: cluster), each revision
// materialised in a directory of its own.
func (s *Store) ReloadFrom(dir string) (changed bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.cur.Load()
	snap, err := LoadWithLimits(dir, old, s.limits)
	if err != nil {
		return false, err
	}
	if s.Validate != nil {
		if err := s.Validate(snap); err != nil {
			return false, err
		}
	}
	// The snapshot is swapped in even when its content is the one being
	// served, so that its files are those of the new zones directory.
	s.dir.Store(&dir)
	s.cur.Store(snap)
	if s.Swapped != nil {
		s.Swapped(snap)
	}
	s.logNews(old, snap)
	return old == nil || snap.Hash != old.Hash, nil
}

// Refresh builds the snapshot again even when no file changed, for what
// time changes in it: a signed zone's keys (their timing) and signatures
// (their weekly window); Snapshot.NextRefresh says when. Like Reload it
// validates the new snapshot before it swaps it in, and keeps the one
// being served on any error.
func (s *Store) Refresh() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.cur.Load()
	snap, err := LoadWithLimits(s.Dir(), old, s.limits)
	if err != nil {
		return err
	}
	if s.Validate != nil {
		if err := s.Validate(snap); err != nil {
			return err
		}
	}
	s.cur.Store(snap)
	if s.Swapped != nil {
		s.Swapped(snap)
	}
	return nil
}

// logNews logs, for the zones of snap that are new or changed since old
// (nil at startup), their warnings, and a changed zone whose serial from
// the zone file did not go up.
func (s *Store) logNews(old, snap *Snapshot) {
	for _, z := range snap.list {
		var prev *Zone
		if old != nil {
			prev = old.zones[z.Origin]
		}
		if prev != nil && prev.Hash == z.Hash {
			continue
		}
		for _, w := range z.warnings {
			s.logger.Warn("zone warning", "zone", z.Origin, "warning", w)
		}
		if staleSerial(prev, z) {
			s.logger.Warn("zone changed but its serial did not; secondaries and caches that go by the serial miss the change: raise soa.serial, or omit it to have one derived",
				"zone", z.Origin, "file", z.File, "serial", z.Serial, "previous_serial", prev.Serial)
		}
	}
}

// unchanged reports whether the zones directory holds exactly the files the
// snapshot was built from, with the same content.
func (s *Store) unchanged(snap *Snapshot) bool {
	dir := s.Dir()
	entries, err := os.ReadDir(dir)
	if err != nil {
		return false
	}
	var files []string
	for _, e := range entries {
		if ext := filepath.Ext(e.Name()); !e.IsDir() && e.Name()[0] != '.' && (ext == ".yaml" || ext == ".yml") {
			files = append(files, filepath.Join(dir, e.Name()))
		}
	}
	var had []string
	for _, z := range snap.list {
		had = append(had, z.File)
	}
	sort.Strings(files)
	sort.Strings(had)
	if fmt.Sprint(files) != fmt.Sprint(had) {
		return false
	}
	zd, err := openZoneDir(dir, s.limits.FileBytes)
	if err != nil {
		return false
	}
	defer zd.Close()
	for _, z := range snap.list {
		h := sha256.New()
		for _, p := range z.inputs {
			b, err := zd.read(p)
			if err != nil {
				return false
			}
			h.Write(b)
		}
		if d := z.DNSSEC; d != nil {
			keys, err := dnssec.DirHash(d.KeysDir, z.Origin)
			if err != nil {
				return false
			}
			h.Write(keys[:])
		}
		var sum [32]byte
		copy(sum[:], h.Sum(nil))
		if sum != z.Hash {
			return false
		}
	}
	return true
}

// ReloadAndLog reloads and logs the outcome once.
func (s *Store) ReloadAndLog(reason string) error {
	changed, err := s.Reload()
	switch {
	case err != nil:
		s.logger.Error("zone reload failed; still serving the previous zones", "reason", reason, "error", err)
	case changed:
		snap := s.Current()
		s.logger.Info("zones reloaded", "reason", reason, "zones", len(snap.list), "records", snap.Records())
	default:
		s.logger.Info("zones unchanged", "reason", reason)
	}
	if s.OnReload != nil {
		s.OnReload(changed, err)
	}
	return err
}

// Records counts the records of all zones.
func (s *Snapshot) Records() int {
	n := 0
	for _, z := range s.list {
		n += z.Records
	}
	return n
}

// Watch reloads whenever a file in the zones directory (or a directory
// holding a records_file) changes, debouncing bursts of events, and after a
// watcher error or event overflow, which may have lost changes. Directories
// are watched rather than files, so that editors' and deploy tools'
// rename-into-place is seen. It returns nil when ctx ends, and an error
// when the directories cannot be watched.
func (s *Store) Watch(ctx context.Context, debounce time.Duration) error {
	w, err := watch.New(watch.Config{
		Name:     "zones",
		Dirs:     s.watchDirs,
		Debounce: debounce,
		Reload:   func(c watch.Cause) { s.ReloadAndLog(c.String()) },
		Logger:   s.logger,
	})
	if err != nil {
		return fmt.Errorf("zones: %w", err)
	}
	return w.Run(ctx)
}

// watchDirs returns the zones directory and every directory holding a file
// the snapshot being served was built from, keys directories included.
func (s *Store) watchDirs() []string {
	dirs := []string{s.Dir()}
	if snap := s.Current(); snap != nil {
		for _, z := range snap.list {
			for _, p := range z.inputs {
				dirs = append(dirs, filepath.Dir(p))
			}
			if z.DNSSEC != nil {
				dirs = append(dirs, z.DNSSEC.KeysDir)
			}
		}
	}
	return dirs
}
