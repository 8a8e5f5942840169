package watch

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/meridian-dns/meridian/internal/syncbuf"
)

// waitLimit bounds every wait; no test relies on it passing for a result.
const waitLimit = 10 * time.Second

// fakeSource is an event source the test drives. Its channels are
// unbuffered, so a send returns only once Run has taken the value, and Run
// has finished with everything sent before.
type fakeSource struct {
	ev  chan fsnotify.Event
	err chan error

	mu     sync.Mutex
	added  []string
	fail   map[string]error
	closed bool
}

func newFakeSource() *fakeSource {
	return &fakeSource{ev: make(chan fsnotify.Event), err: make(chan error), fail: map[string]error{}}
}

func (s *fakeSource) Add(dir string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.fail[dir]; err != nil {
		return err
	}
	s.added = append(s.added, dir)
	return nil
}

func (s *fakeSource) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	return nil
}

func (s *fakeSource) events() <-chan fsnotify.Event { return s.ev }
func (s *fakeSource) errors() <-chan error          { return s.err }

// addedDirs returns the directories added so far, in order.
func (s *fakeSource) addedDirs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.added)
}

func (s *fakeSource) setFail(dir string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err == nil {
		delete(s.fail, dir)
	} else {
		s.fail[dir] = err
	}
}

// fakeTimer is a debounce timer that fires only when the test says. Its
// channel is unbuffered and Run reads it only while a reload is pending, so
// a tick the test sends is taken exactly when the timer is armed.
type fakeTimer struct {
	c chan time.Time

	mu     sync.Mutex
	resets []time.Duration
}

func (t *fakeTimer) C() <-chan time.Time { return t.c }
func (t *fakeTimer) Stop()               {}
func (t *fakeTimer) Reset(d time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.resets = append(t.resets, d)
}

func (t *fakeTimer) resetCount() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.resets)
}

// harness runs a Watcher on a fake source and clock.
type harness struct {
	t       *testing.T
	src     *fakeSource
	timer   *fakeTimer
	reloads chan Cause
	logs    *syncbuf.Buffer
	done    chan error
	cancel  context.CancelFunc

	mu   sync.Mutex
	dirs []string
}

// start runs a Watcher of the directories dirs that finds relevant the
// names that do not start with "ignored", with a debounce of 5ms.
func start(t *testing.T, dirs ...string) *harness {
	t.Helper()
	h := &harness{t: t, src: newFakeSource(), timer: &fakeTimer{c: make(chan time.Time)},
		reloads: make(chan Cause, 100), logs: &syncbuf.Buffer{}, done: make(chan error, 1), dirs: dirs}
	w, err := newWatcher(Config{
		Name:     "test",
		Dirs:     h.currentDirs,
		Relevant: func(p string) bool { return !strings.HasPrefix(filepath.Base(p), "ignored") },
		Debounce: 5 * time.Millisecond,
		Reload:   func(c Cause) { h.reloads <- c },
		Logger:   slog.New(slog.NewTextHandler(h.logs, nil)),
	}, h.src, func() timer { return h.timer })
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	go func() { h.done <- w.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-h.done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(waitLimit):
			t.Error("Run did not return after cancel")
		}
	})
	return h
}

func (h *harness) currentDirs() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.dirs)
}

func (h *harness) setDirs(dirs ...string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.dirs = dirs
}

// event hands Run one event and returns once Run has taken it.
func (h *harness) event(name string, op fsnotify.Op) {
	h.t.Helper()
	select {
	case h.src.ev <- fsnotify.Event{Name: name, Op: op}:
	case <-time.After(waitLimit):
		h.t.Fatal("Run does not take events")
	}
}

// watchErr hands Run one watcher error.
func (h *harness) watchErr(err error) {
	h.t.Helper()
	select {
	case h.src.err <- err:
	case <-time.After(waitLimit):
		h.t.Fatal("Run does not take errors")
	}
}

// fire ends the debounce and returns the causes of the reloads done by the
// time Run is ready for more, which is when it takes the next event.
func (h *harness) fire() []Cause {
	h.t.Helper()
	select {
	case h.timer.c <- time.Time{}:
	case <-time.After(waitLimit):
		h.t.Fatal("no reload pending: the debounce timer is not armed")
	}
	return h.settled()
}

// settled hands Run an event it ignores, so that it has finished whatever
// came before, and returns the reloads done so far.
func (h *harness) settled() []Cause {
	h.t.Helper()
	h.event("/somewhere/ignored", fsnotify.Chmod)
	var out []Cause
	for {
		select {
		case c := <-h.reloads:
			out = append(out, c)
		default:
			return out
		}
	}
}

func TestBurstIsOneReload(t *testing.T) {
	h := start(t, "/zones")
	for range 50 {
		h.event("/zones/example.com.yaml", fsnotify.Write)
	}
	h.event("/zones/.example.com.yaml.tmp", fsnotify.Create)
	h.event("/zones/example.com.yaml", fsnotify.Rename)
	if got := h.settled(); len(got) != 0 {
		t.Fatalf("reloads before the debounce ended: %v", got)
	}
	// Every event restarts the debounce: the reload waits for the last.
	if n := h.timer.resetCount(); n != 52 {
		t.Errorf("debounce restarted %d times, want once per event (52)", n)
	}
	if got := h.fire(); !slices.Equal(got, []Cause{Changed}) {
		t.Fatalf("reloads after a burst = %v, want one, for a change", got)
	}
	// Nothing is pending any more: a later event starts a new debounce.
	h.event("/zones/example.com.yaml", fsnotify.Write)
	if got := h.fire(); !slices.Equal(got, []Cause{Changed}) {
		t.Fatalf("reloads after the next event = %v, want one", got)
	}
}

func TestIgnoredEventsDoNotReload(t *testing.T) {
	h := start(t, "/zones")
	h.event("/zones/example.com.yaml", fsnotify.Chmod)
	h.event("/zones/ignored.txt", fsnotify.Write)
	h.event("/zones/ignored.txt", fsnotify.Create)
	if got := h.settled(); len(got) != 0 {
		t.Fatalf("reloads = %v, want none", got)
	}
	if n := h.timer.resetCount(); n != 0 {
		t.Errorf("ignored events started the debounce %d times", n)
	}
	// A write that also changes the mode is a write.
	h.event("/zones/example.com.yaml", fsnotify.Write|fsnotify.Chmod)
	if got := h.fire(); !slices.Equal(got, []Cause{Changed}) {
		t.Fatalf("reloads = %v, want one", got)
	}
}

// TestWatcherErrorRescans: an overflow or any other watcher error may have
// dropped events, relevant ones included, so it leads to a full reload
// even when no relevant event was seen, and the directories are watched
// again.
func TestWatcherErrorRescans(t *testing.T) {
	for _, werr := range []error{fsnotify.ErrEventOverflow, errors.New("read error")} {
		t.Run(werr.Error(), func(t *testing.T) {
			h := start(t, "/zones", "/records")
			h.event("/zones/ignored", fsnotify.Write)
			h.watchErr(werr)
			if got := h.fire(); !slices.Equal(got, []Cause{Rescan}) {
				t.Fatalf("reloads after %v = %v, want one rescan", werr, got)
			}
			if got, want := h.src.addedDirs(), []string{"/zones", "/records", "/zones", "/records"}; !slices.Equal(got, want) {
				t.Errorf("directories added = %v, want %v (watched again after the rescan)", got, want)
			}
			if logs := h.logs.String(); !strings.Contains(logs, "watch=test") || !strings.Contains(logs, werr.Error()) {
				t.Errorf("watcher error not logged with its watch and error:\n%s", logs)
			}
			// The next burst is an ordinary change again.
			h.event("/zones/example.com.yaml", fsnotify.Write)
			if got := h.fire(); !slices.Equal(got, []Cause{Changed}) {
				t.Fatalf("reloads after the rescan = %v, want one change", got)
			}
		})
	}
}

// TestErrorInBurstIsOneRescan: changes and an overflow within one debounce
// are one reload, a rescan.
func TestErrorInBurstIsOneRescan(t *testing.T) {
	h := start(t, "/zones")
	h.event("/zones/a.yaml", fsnotify.Write)
	h.watchErr(fsnotify.ErrEventOverflow)
	h.event("/zones/b.yaml", fsnotify.Write)
	if got := h.fire(); !slices.Equal(got, []Cause{Rescan}) {
		t.Fatalf("reloads = %v, want one rescan", got)
	}
}

// TestRemovedDirectoryRescans: when a watched directory itself goes, its
// watch goes with it; everything is read again, and the directory is
// watched again once it can be.
func TestRemovedDirectoryRescans(t *testing.T) {
	h := start(t, "/zones", "/records")
	h.src.setFail("/records", os.ErrNotExist)
	h.event("/records", fsnotify.Remove)
	if got := h.fire(); !slices.Equal(got, []Cause{Rescan}) {
		t.Fatalf("reloads = %v, want one rescan", got)
	}
	if got, want := h.src.addedDirs(), []string{"/zones", "/records", "/zones"}; !slices.Equal(got, want) {
		t.Fatalf("directories added = %v, want %v", got, want)
	}
	h.src.setFail("/records", nil)
	h.event("/zones/a.yaml", fsnotify.Write)
	h.fire()
	if got, want := h.src.addedDirs(), []string{"/zones", "/records", "/zones", "/records"}; !slices.Equal(got, want) {
		t.Fatalf("directories added = %v, want %v (the directory back)", got, want)
	}
}

// TestNewDirectoriesAfterReload: a reload that names a new directory (a
// records_file elsewhere) has it watched; one that cannot be watched is
// logged once and tried again after each reload.
func TestNewDirectoriesAfterReload(t *testing.T) {
	h := start(t, "/zones")
	h.src.setFail("/elsewhere", os.ErrPermission)
	h.setDirs("/zones", "/records", "/elsewhere")
	h.event("/zones/a.yaml", fsnotify.Write)
	h.fire()
	h.event("/zones/a.yaml", fsnotify.Write)
	h.fire()
	if got, want := h.src.addedDirs(), []string{"/zones", "/records"}; !slices.Equal(got, want) {
		t.Fatalf("directories added = %v, want %v", got, want)
	}
	if n := strings.Count(h.logs.String(), "cannot watch directory"); n != 1 {
		t.Errorf("unwatchable directory logged %d times, want once:\n%s", n, h.logs.String())
	}
	h.src.setFail("/elsewhere", nil)
	h.event("/zones/a.yaml", fsnotify.Write)
	h.fire()
	if got, want := h.src.addedDirs(), []string{"/zones", "/records", "/elsewhere"}; !slices.Equal(got, want) {
		t.Fatalf("directories added = %v, want %v", got, want)
	}
}

func TestNewFailsOnUnwatchableDirectory(t *testing.T) {
	src := newFakeSource()
	src.setFail("/b", os.ErrPermission)
	_, err := newWatcher(Config{Name: "test", Dirs: func() []string { return []string{"/a", "/b"} }, Reload: func(Cause) {}},
		src, func() timer { return &fakeTimer{} })
	if err == nil || !strings.Contains(err.Error(), "watch: /b:") {
		t.Errorf("newWatcher with an unwatchable directory: %v", err)
	}
	missing := filepath.Join(t.TempDir(), "missing")
	if _, err := New(Config{Name: "test", Dirs: func() []string { return []string{missing} }, Reload: func(Cause) {}}); err == nil || !strings.Contains(err.Error(), missing) {
		t.Errorf("New with a missing directory: %v", err)
	}
}

func TestCancelEndsRun(t *testing.T) {
	h := start(t, "/zones")
	h.event("/zones/a.yaml", fsnotify.Write) // a reload pending
	h.cancel()
	select {
	case err := <-h.done:
		if err != nil {
			t.Errorf("Run after cancel: %v", err)
		}
		h.done <- nil // for the cleanup
	case <-time.After(waitLimit):
		t.Fatal("Run did not return after cancel")
	}
	h.src.mu.Lock()
	closed := h.src.closed
	h.src.mu.Unlock()
	if !closed {
		t.Error("Run returned without closing its watcher")
	}
	if got := h.settledAfterStop(); len(got) != 0 {
		t.Errorf("reloads after cancel = %v", got)
	}
}

// settledAfterStop returns the reloads recorded, once Run has returned.
func (h *harness) settledAfterStop() []Cause {
	var out []Cause
	for {
		select {
		case c := <-h.reloads:
			out = append(out, c)
		default:
			return out
		}
	}
}

func TestClosedSourceEndsRun(t *testing.T) {
	src := newFakeSource()
	w, err := newWatcher(Config{Name: "test", Dirs: func() []string { return nil }, Reload: func(Cause) {}},
		src, func() timer { return &fakeTimer{} })
	if err != nil {
		t.Fatal(err)
	}
	close(src.ev)
	if err := w.Run(context.Background()); !errors.Is(err, errClosed) {
		t.Errorf("Run on a closed source = %v, want %v", err, errClosed)
	}
}

// TestRenameIntoPlace runs the real watcher on a directory: a file written
// aside and renamed over the watched name is seen, a file the owner does
// not read is not, and once the context ends nothing is left running.
func TestRenameIntoPlace(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "admin_state.yaml")
	reloads := make(chan Cause, 100)
	w, err := New(Config{
		Name:     "test",
		Dirs:     func() []string { return []string{dir} },
		Relevant: func(p string) bool { return p == target },
		Debounce: 5 * time.Millisecond,
		Reload:   func(c Cause) { reloads <- c },
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()

	tmp := filepath.Join(dir, ".admin_state.yaml.tmp")
	if err := os.WriteFile(tmp, []byte("endpoints: {}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, target); err != nil {
		t.Fatal(err)
	}
	select {
	case c := <-reloads:
		if c != Changed {
			t.Errorf("reload after rename into place: %v, want %v", c, Changed)
		}
	case <-time.After(waitLimit):
		t.Fatal("rename into place not seen")
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(waitLimit):
		t.Fatal("Run did not return after cancel")
	}
	waitNoGoroutines(t, "github.com/fsnotify/fsnotify.", "internal/watch.(*Watcher).Run")
}

// waitNoGoroutines fails the test unless, within waitLimit, no goroutine
// runs code whose frame names one of funcs.
func waitNoGoroutines(t *testing.T, funcs ...string) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for {
		buf := make([]byte, 1<<20)
		stacks := string(buf[:runtime.Stack(buf, true)])
		var left []string
		for _, g := range strings.Split(stacks, "\n\n") {
			for _, f := range funcs {
				if strings.Contains(g, f) {
					left = append(left, g)
					break
				}
			}
		}
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("goroutines left behind:\n%s", strings.Join(left, "\n\n"))
		}
		time.Sleep(10 * time.Millisecond)
	}
}
