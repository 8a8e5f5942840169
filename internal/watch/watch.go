// Package watch is the one file watcher behind every reload from disk: the
// zones directory, the GeoIP databases and the admin_state file. It watches
// directories rather than files, so that a file renamed into place (by an
// editor, a deploy tool, geoipupdate or a Kubernetes volume swap) is seen;
// it waits for a burst of events to settle and then asks its owner to read
// everything again. When the watcher reports an error, an event queue
// overflow included, events may have been lost, so it asks for the same
// full read rather than trusting what it saw.
//
// The owner reads, validates and swaps; it logs a failed read once and keeps
// serving what it had. The package never looks at file content.
package watch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"
)

// DefaultDebounce is the debounce of a Config that gives none.
const DefaultDebounce = 200 * time.Millisecond

// Cause says why a Watcher calls Reload.
type Cause int

const (
	// Changed means a burst of relevant events has settled.
	Changed Cause = iota
	// Rescan means the watcher reported an error (such as
	// fsnotify.ErrEventOverflow) or a watched directory went away, so
	// events may have been lost: everything must be read again.
	Rescan
)

// String returns the cause in the words of a reload log's reason.
func (c Cause) String() string {
	if c == Rescan {
		return "rescan after a watcher error"
	}
	return "file change"
}

// Config says what a Watcher watches and whom it tells.
type Config struct {
	// Name says in logs what is watched, for example "zones".
	Name string
	// Dirs returns the directories to watch. New calls it once; Run calls
	// it again after every Reload and watches the directories it has not
	// watched yet, so that a reload naming a new directory (a records_file
	// elsewhere) is watched from then on.
	Dirs func() []string
	// Relevant reports whether an event on the named path may change what
	// the owner reads; nil means every event is. Events that only change a
	// file's mode are never relevant.
	Relevant func(path string) bool
	// Debounce is how long Run waits after the last relevant event (or
	// watcher error) before it calls Reload; zero means DefaultDebounce.
	Debounce time.Duration
	// Reload reads everything again and swaps it in if it changed. It runs
	// on Run's goroutine, never concurrently with itself. It reports its
	// own failures: the owner logs them once and keeps its previous state.
	Reload func(Cause)
	// Logger receives watcher errors and directories that cannot be
	// watched; nil means slog.Default().
	Logger *slog.Logger
}

// Watcher watches the directories of a Config. New sets the watches up; Run
// reacts to them until its context ends.
type Watcher struct {
	cfg      Config
	src      source
	newTimer func() timer
	// watched holds the directories watched, and failed those that could
	// not be (each is logged once until it can be).
	watched map[string]bool
	failed  map[string]bool
}

// New watches the directories cfg.Dirs returns. It fails when one of them
// cannot be watched. Changes made after New returns are seen by Run, which
// must be called to release the watcher.
func New(cfg Config) (*Watcher, error) {
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, fmt.Errorf("watch: %w", err)
	}
	w, err := newWatcher(cfg, fsSource{fw}, newRealTimer)
	if err != nil {
		fw.Close()
		return nil, err
	}
	return w, nil
}

// newWatcher is New on any event source and clock.
func newWatcher(cfg Config, src source, newTimer func() timer) (*Watcher, error) {
	if cfg.Debounce <= 0 {
		cfg.Debounce = DefaultDebounce
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	w := &Watcher{cfg: cfg, src: src, newTimer: newTimer, watched: map[string]bool{}, failed: map[string]bool{}}
	for _, d := range cfg.Dirs() {
		d = filepath.Clean(d)
		if err := src.Add(d); err != nil {
			return nil, fmt.Errorf("watch: %s: %w", d, err)
		}
		w.watched[d] = true
	}
	return w, nil
}

// errClosed is returned by Run when the event source stops on its own.
var errClosed = errors.New("watcher closed")

// Run calls Reload once relevant events have settled for the debounce, and
// after a watcher error, until ctx ends; then it releases the watcher and
// returns nil. It returns an error only if the watcher stops by itself.
func (w *Watcher) Run(ctx context.Context) error {
	defer w.src.Close()
	t := w.newTimer()
	defer t.Stop()
	var (
		fire    <-chan time.Time // nil while nothing is pending
		pending Cause
	)
	arm := func(c Cause) {
		pending = max(pending, c)
		t.Reset(w.cfg.Debounce)
		fire = t.C()
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-w.src.events():
			if !ok {
				return fmt.Errorf("watch: %w", errClosed)
			}
			name := filepath.Clean(ev.Name)
			if w.watched[name] && ev.Has(fsnotify.Remove|fsnotify.Rename) {
				// The directory itself went: its watch is gone, so
				// forget it (Run adds it again once it is back) and
				// read everything.
				delete(w.watched, name)
				arm(Rescan)
				continue
			}
			if ev.Op&^fsnotify.Chmod == 0 || w.cfg.Relevant != nil && !w.cfg.Relevant(name) {
				continue
			}
			arm(Changed)
		case err, ok := <-w.src.errors():
			if !ok {
				return fmt.Errorf("watch: %w", errClosed)
			}
			w.cfg.Logger.Warn("file watcher may have lost events; reading everything again",
				"watch", w.cfg.Name, "error", err)
			arm(Rescan)
		case <-fire:
			c := pending
			fire, pending = nil, Changed
			w.cfg.Reload(c)
			w.addDirs(c == Rescan)
		}
	}
}

// addDirs watches the directories cfg.Dirs returns that are not watched
// yet, or all of them again when all is set (after a rescan, a watch may
// have been lost with the events).
func (w *Watcher) addDirs(all bool) {
	for _, d := range w.cfg.Dirs() {
		d = filepath.Clean(d)
		if w.watched[d] && !all {
			continue
		}
		if err := w.src.Add(d); err != nil {
			delete(w.watched, d)
			if !w.failed[d] {
				w.failed[d] = true
				w.cfg.Logger.Warn("cannot watch directory; changes in it are not seen until it can be",
					"watch", w.cfg.Name, "dir", d, "error", err)
			}
			continue
		}
		w.watched[d] = true
		delete(w.failed, d)
	}
}

// source is where Run gets its events: an fsnotify.Watcher, or a fake in
// tests.
type source interface {
	Add(dir string) error
	Close() error
	events() <-chan fsnotify.Event
	errors() <-chan error
}

// fsSource is an fsnotify.Watcher as a source.
type fsSource struct{ *fsnotify.Watcher }

func (s fsSource) events() <-chan fsnotify.Event { return s.Events }
func (s fsSource) errors() <-chan error          { return s.Errors }

// timer is the debounce timer: a time.Timer, or a fake in tests.
type timer interface {
	C() <-chan time.Time
	Reset(d time.Duration)
	Stop()
}

// realTimer is a time.Timer as a timer. Since Go 1.23 Reset and Stop leave
// no stale tick in the channel, so a timer can be reset while it runs.
type realTimer struct{ t *time.Timer }

// newRealTimer returns a stopped timer.
func newRealTimer() timer {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return realTimer{t}
}

func (r realTimer) C() <-chan time.Time   { return r.t.C }
func (r realTimer) Reset(d time.Duration) { r.t.Reset(d) }
func (r realTimer) Stop()                 { r.t.Stop() }
