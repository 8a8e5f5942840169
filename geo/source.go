package geo

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/meridian-dns/meridian/internal/watch"
)

// DefaultDebounce is how long Watch waits after the last relevant file
// event before reloading, so that a burst of events from one update (write,
// chmod, rename) causes a single reload.
const DefaultDebounce = 250 * time.Millisecond

// Source publishes the current GeoIP databases and replaces them when the
// files change. Queries call Current (or Lookup) and use the returned
// Databases for the whole query; a reload builds a complete new set aside and
// swaps it in atomically, so a query never sees a half-loaded set.
type Source struct {
	// Debounce is how long Watch waits for file events to settle before it
	// reloads; zero means DefaultDebounce. Set it before calling Watch.
	Debounce time.Duration

	// OnReload, when non-nil, is called after every reload that found
	// changed files: with nil when the new databases were swapped in, or
	// with the error that kept the old ones. Reloads that find the files
	// unchanged, or unchanged since a failed attempt, do not call it. It
	// runs on the reloading goroutine (Watch's, or the caller of Reload),
	// never concurrently with itself, and should return quickly. Set it
	// before calling Watch or Reload.
	OnReload func(err error)

	paths   Paths
	logger  *slog.Logger
	current atomic.Pointer[Databases]
	// errs counts failed lookups across every set this Source serves.
	errs *lookupErrors

	// mu serialises reloads and guards the failure memory below.
	mu sync.Mutex
	// failedState and failedErr remember the last failed attempt, so that
	// the same broken files are reported (and logged) once rather than on
	// every file event.
	failedState []fileState
	failedErr   error

	watchingOnce sync.Once
	watching     chan struct{}
}

// NewSource opens and verifies the databases named by p and returns a
// Source serving them. Errors opening them are returned as from Open, so a
// missing or damaged file stops the start with an error naming it. A nil
// logger means slog.Default().
func NewSource(p Paths, logger *slog.Logger) (*Source, error) {
	if logger == nil {
		logger = slog.Default()
	}
	errs := newLookupErrors(logger)
	dbs, err := open(p, errs)
	if err != nil {
		return nil, err
	}
	s := &Source{paths: p, logger: logger, errs: errs, watching: make(chan struct{})}
	s.current.Store(dbs)
	return s, nil
}

// Current returns the databases in service. It is a single atomic load and
// never blocks; callers should use the returned value for a whole query.
func (s *Source) Current() *Databases {
	return s.current.Load()
}

// Lookup looks ip up in the databases in service.
func (s *Source) Lookup(ip netip.Addr) Location {
	return *s.Locate(ip)
}

// Locate is Lookup without the copy: the location it returns is shared
// and must not be modified. It is never nil.
func (s *Source) Locate(ip netip.Addr) *Location {
	return s.Current().Locate(ip)
}

// Reload reads the configured files and, if their content changed, opens
// and verifies them aside (as Open does) and swaps the new set in. On
// failure, a damaged file included, the old databases stay in service and
// the returned *FileError names the file at fault; the same failure is
// returned again by later calls until the files change. Reload is safe to
// call concurrently with lookups, with itself and with Watch.
func (s *Source) Reload() error {
	changed, err := s.reload()
	if changed && s.OnReload != nil {
		s.OnReload(err)
	}
	return err
}

// fileState is what a reload saw of one configured file: its content
// digest, or the error reading it.
type fileState struct {
	role Role
	sum  [sha256.Size]byte
	err  string
}

// reload implements Reload and reports whether it attempted a swap, that
// is, whether the files differed both from the databases in service and from
// the last failed attempt.
func (s *Source) reload() (changed bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()

	old := s.current.Load()
	data := make(map[Role][]byte, len(roles))
	var state []fileState
	var readErr error
	for _, role := range roles {
		path := s.paths.path(role)
		if path == "" {
			continue
		}
		b, err := os.ReadFile(path)
		if err != nil {
			err = fileError(path, err)
			state = append(state, fileState{role: role, err: err.Error()})
			if readErr == nil {
				readErr = err
			}
			continue
		}
		data[role] = b
		state = append(state, fileState{role: role, sum: sha256.Sum256(b)})
	}

	if readErr == nil && sameContent(old, state) {
		s.failedState, s.failedErr = nil, nil
		return false, nil
	}
	if s.failedErr != nil && equalStates(state, s.failedState) {
		return false, s.failedErr
	}

	next, err := s.openAll(data, readErr)
	if err != nil {
		s.failedState, s.failedErr = state, err
		return true, err
	}
	s.failedState, s.failedErr = nil, nil
	// The old set is dropped, not closed: queries that loaded it before the
	// swap keep using it until they finish, and since its readers are backed
	// by heap memory rather than a memory map, the garbage collector frees
	// it once the last of them lets go. Closing it would make those queries
	// answer as if the client were unknown.
	s.current.Store(next)
	return true, nil
}

// openAll opens the file contents read by reload, or returns readErr when a
// file could not be read.
func (s *Source) openAll(data map[Role][]byte, readErr error) (*Databases, error) {
	if readErr != nil {
		return nil, readErr
	}
	next := &Databases{paths: s.paths, cache: newLocationCache(), errs: s.errs}
	for i, role := range roles {
		b, ok := data[role]
		if !ok {
			continue
		}
		db, err := openBytes(role, s.paths.path(role), b)
		if err != nil {
			return nil, err
		}
		next.dbs[i] = db
	}
	return next, nil
}

// sameContent reports whether the files read match the databases in d.
func sameContent(d *Databases, state []fileState) bool {
	n := 0
	for _, db := range d.dbs {
		if db != nil {
			n++
		}
	}
	if n != len(state) {
		return false
	}
	for _, st := range state {
		db := d.dbs[roleIndex(st.role)]
		if db == nil || db.info.SHA256 != st.sum {
			return false
		}
	}
	return true
}

// equalStates reports whether two reload observations are identical.
func equalStates(a, b []fileState) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// roleIndex returns the position of r in roles.
func roleIndex(r Role) int {
	for i, x := range roles {
		if x == r {
			return i
		}
	}
	return -1
}

// Watching returns a channel that is closed once a call to Watch has
// registered its directory watches, so that changes made after it are
// guaranteed to be seen.
func (s *Source) Watching() <-chan struct{} {
	return s.watching
}

// Watch reloads the databases whenever their files change, and after a
// watcher error or event overflow (which may have lost changes), until ctx
// is cancelled, and then returns nil. It watches the directories holding
// the files rather than the files themselves, so that a new file renamed
// into place (as geoipupdate and mmdbbuild.BuildFile do) is seen, as is the
// symlink swap of a Kubernetes ConfigMap or Secret volume. Bursts of events
// are collapsed by Debounce, and reloads that find identical content do
// nothing. A failed reload is logged once, with the keys file and error,
// and the old databases stay in service. Watch returns an error only when
// the watches cannot be set up.
func (s *Source) Watch(ctx context.Context) error {
	targets := s.watchTargets()
	if len(targets) == 0 {
		s.watchingOnce.Do(func() { close(s.watching) })
		<-ctx.Done()
		return nil
	}
	debounce := s.Debounce
	if debounce <= 0 {
		debounce = DefaultDebounce
	}
	w, err := watch.New(watch.Config{
		Name:     "geoip",
		Dirs:     targets.dirs,
		Relevant: targets.relevant,
		Debounce: debounce,
		Reload:   func(watch.Cause) { s.reloadAndLog() },
		Logger:   s.logger,
	})
	if err != nil {
		return fmt.Errorf("geo: %w", err)
	}
	s.watchingOnce.Do(func() { close(s.watching) })
	return w.Run(ctx)
}

// reloadAndLog runs one reload for Watch and logs its outcome.
func (s *Source) reloadAndLog() {
	changed, err := s.reload()
	if !changed {
		return
	}
	if err != nil {
		file := ""
		var fe *FileError
		if errors.As(err, &fe) {
			file = fe.Path
		}
		s.logger.Error("geoip reload failed, keeping previous databases", "file", file, "error", err)
	} else {
		for _, info := range s.Current().Info() {
			s.logger.Info("geoip database loaded", "file", info.Path, "role", string(info.Role),
				"type", info.Type, "build_time", info.BuildTime.UTC())
		}
	}
	if s.OnReload != nil {
		s.OnReload(err)
	}
}

// watchTargets maps each directory to watch to the file names in it that
// matter: the configured files and, for configured symlinks, their targets.
type watchTargets map[string]map[string]bool

// watchTargets collects the directories and names Watch needs.
func (s *Source) watchTargets() watchTargets {
	t := watchTargets{}
	add := func(path string) {
		dir, base := filepath.Split(filepath.Clean(path))
		dir = filepath.Clean(dir)
		if t[dir] == nil {
			t[dir] = map[string]bool{}
		}
		t[dir][base] = true
	}
	for _, role := range roles {
		path := s.paths.path(role)
		if path == "" {
			continue
		}
		add(path)
		if resolved, err := filepath.EvalSymlinks(path); err == nil && filepath.Clean(resolved) != filepath.Clean(path) {
			add(resolved)
		}
	}
	return t
}

// dirs returns the directories to watch.
func (t watchTargets) dirs() []string {
	return slices.Collect(maps.Keys(t))
}

// relevant reports whether an event on name may change a configured file:
// the name is one of the files, or a ".."-prefixed entry in one of their
// directories, which is how Kubernetes atomically swaps volume contents.
func (t watchTargets) relevant(name string) bool {
	dir, base := filepath.Split(filepath.Clean(name))
	names, ok := t[filepath.Clean(dir)]
	if !ok {
		return false
	}
	return names[base] || strings.HasPrefix(base, "..")
}
