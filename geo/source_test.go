package geo_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/meridian-dns/meridian/geo"
	"github.com/meridian-dns/meridian/geo/geotest"
	"github.com/meridian-dns/meridian/geo/mmdbbuild"
	"github.com/meridian-dns/meridian/internal/syncbuf"
)

// waitTimeout bounds every wait for a reload notification.
const waitTimeout = 5 * time.Second

var (
	clientIP = netip.MustParseAddr("192.0.2.1")
	// usEntries and deEntries place clientIP in two different countries, so
	// a test can tell which database is in service.
	usEntries = []mmdbbuild.Entry{{Network: netip.MustParsePrefix("192.0.2.0/24"), Country: "US", Continent: "NA"}}
	deEntries = []mmdbbuild.Entry{{Network: netip.MustParsePrefix("192.0.2.0/24"), Country: "DE", Continent: "EU"}}
)

// discardLogger returns a logger that drops everything.
func discardLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// copyFile copies src to dst.
func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// replaceFile writes the content of src beside dst and renames it over dst,
// the way geoipupdate and mmdbbuild.BuildFile update databases.
func replaceFile(t *testing.T, src, dst string) {
	t.Helper()
	tmp := filepath.Join(filepath.Dir(dst), ".incoming.tmp")
	copyFile(t, src, tmp)
	if err := os.Rename(tmp, dst); err != nil {
		t.Fatal(err)
	}
}

// newTestSource returns a Source over a copy of a US database in its own
// directory, and the path of that copy.
func newTestSource(t *testing.T) (*geo.Source, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "city.mmdb")
	copyFile(t, geotest.WriteMMDB(t, usEntries), path)
	src, err := geo.NewSource(geo.Paths{City: path}, discardLogger())
	if err != nil {
		t.Fatal(err)
	}
	return src, path
}

func TestNewSourceError(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "missing.mmdb")
	_, err := geo.NewSource(geo.Paths{Country: missing}, discardLogger())
	var fe *geo.FileError
	if !errors.As(err, &fe) || fe.Path != missing {
		t.Fatalf("NewSource error = %v, want a FileError naming %s", err, missing)
	}
}

func TestSourceReload(t *testing.T) {
	garbage := filepath.Join(t.TempDir(), "garbage")
	if err := os.WriteFile(garbage, []byte("not an mmdb file"), 0o644); err != nil {
		t.Fatal(err)
	}
	asn := geotest.WriteMMDBType(t, asnEntries, mmdbbuild.TypeASN)
	de := geotest.WriteMMDB(t, deEntries)

	tests := []struct {
		name        string
		replacement string // file copied over the database; "" removes it
		wantErr     string // "" for success
		wantCountry string
		wantNotify  bool
	}{
		{name: "unchanged content is skipped", replacement: "self", wantCountry: "US"},
		{name: "corrupt file keeps old", replacement: garbage, wantErr: "invalid MaxMind DB", wantCountry: "US", wantNotify: true},
		{name: "wrong type keeps old", replacement: asn, wantErr: "is not a City or Country database", wantCountry: "US", wantNotify: true},
		{name: "missing file keeps old", replacement: "", wantErr: "no such file", wantCountry: "US", wantNotify: true},
		{name: "new database is swapped in", replacement: de, wantCountry: "DE", wantNotify: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src, path := newTestSource(t)
			var notified []error
			src.OnReload = func(err error) { notified = append(notified, err) }
			old := src.Current()

			switch tt.replacement {
			case "self":
			case "":
				if err := os.Remove(path); err != nil {
					t.Fatal(err)
				}
			default:
				copyFile(t, tt.replacement, path)
			}

			err := src.Reload()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Reload: %v", err)
				}
			} else {
				var fe *geo.FileError
				if !errors.As(err, &fe) || fe.Path != path || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Reload error = %v, want a FileError naming %s containing %q", err, path, tt.wantErr)
				}
				if src.Current() != old {
					t.Error("failed reload replaced the databases")
				}
				// The same broken content is reported again but not
				// notified twice.
				if again := src.Reload(); again == nil || again.Error() != err.Error() {
					t.Errorf("second Reload error = %v, want %v", again, err)
				}
			}
			if got := src.Lookup(clientIP).Country; got != tt.wantCountry {
				t.Errorf("Lookup country = %q, want %q", got, tt.wantCountry)
			}
			if tt.wantNotify != (len(notified) == 1) || len(notified) > 1 {
				t.Errorf("OnReload calls = %v, want one: %v", notified, tt.wantNotify)
			}
			// Queries that loaded the old set before the swap keep getting
			// consistent answers from it.
			if got := old.Lookup(clientIP).Country; got != "US" {
				t.Errorf("old databases answer %q after reload, want US", got)
			}
		})
	}
}

// startWatch runs src.Watch until the test ends and waits, with a bound,
// until its watches are in place.
func startWatch(t *testing.T, src *geo.Source) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- src.Watch(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Watch: %v", err)
		}
	})
	select {
	case <-src.Watching():
	case err := <-done:
		t.Fatalf("Watch returned early: %v", err)
	case <-time.After(waitTimeout):
		t.Fatal("Watch did not start")
	}
}

// waitReload returns the next reload notification sent to reloads, failing
// the test if none arrives in time.
func waitReload(t *testing.T, reloads <-chan error) error {
	t.Helper()
	select {
	case err := <-reloads:
		return err
	case <-time.After(waitTimeout):
		t.Fatal("no reload notification")
		return nil
	}
}

func TestSourceWatchRenameIntoPlace(t *testing.T) {
	src, path := newTestSource(t)
	src.Debounce = 10 * time.Millisecond
	reloads := make(chan error, 10)
	src.OnReload = func(err error) { reloads <- err }

	startWatch(t, src)

	// A corrupt file renamed into place is reported and the old data stays.
	garbage := filepath.Join(t.TempDir(), "garbage")
	if err := os.WriteFile(garbage, []byte("garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	replaceFile(t, garbage, path)
	if err := waitReload(t, reloads); err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("reload of corrupt file: error = %v, want one naming %s", err, path)
	}
	if got := src.Lookup(clientIP).Country; got != "US" {
		t.Fatalf("after failed reload country = %q, want US", got)
	}

	// A good file renamed into place is picked up.
	replaceFile(t, geotest.WriteMMDB(t, deEntries), path)
	if err := waitReload(t, reloads); err != nil {
		t.Fatalf("reload: %v", err)
	}
	if got := src.Lookup(clientIP).Country; got != "DE" {
		t.Fatalf("after reload country = %q, want DE", got)
	}
}

func TestSourceWatchLogsFailureOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "city.mmdb")
	copyFile(t, geotest.WriteMMDB(t, usEntries), path)
	var logged syncbuf.Buffer
	src, err := geo.NewSource(geo.Paths{City: path}, slog.New(slog.NewTextHandler(&logged, nil)))
	if err != nil {
		t.Fatal(err)
	}
	src.Debounce = 10 * time.Millisecond
	reloads := make(chan error, 10)
	src.OnReload = func(err error) { reloads <- err }
	startWatch(t, src)

	garbage := filepath.Join(t.TempDir(), "garbage")
	if err := os.WriteFile(garbage, []byte("garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	replaceFile(t, garbage, path)
	if err := waitReload(t, reloads); err == nil {
		t.Fatal("corrupt file reloaded without error")
	}
	// Renaming the same broken content in again must be neither notified
	// nor logged, whether or not the watcher coalesces it with the good file
	// that follows; the next notification is therefore the success.
	replaceFile(t, garbage, path)
	replaceFile(t, geotest.WriteMMDB(t, deEntries), path)
	if err := waitReload(t, reloads); err != nil {
		t.Fatalf("unexpected notification %v, want the successful reload", err)
	}

	out := logged.String()
	if n := strings.Count(out, "geoip reload failed"); n != 1 {
		t.Errorf("failure logged %d times, want once:\n%s", n, out)
	}
	if !strings.Contains(out, "file="+path) || !strings.Contains(out, "error=") {
		t.Errorf("failure log lacks the file and error keys:\n%s", out)
	}
}

func TestSourceConcurrentLookupsDuringReload(t *testing.T) {
	src, path := newTestSource(t)
	us := geotest.WriteMMDB(t, usEntries)
	de := geotest.WriteMMDB(t, deEntries)

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	errs := make(chan string, 4)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				if c := src.Lookup(clientIP).Country; c != "US" && c != "DE" {
					errs <- c
					return
				}
			}
		}()
	}
	for i := range 50 {
		next := us
		if i%2 == 0 {
			next = de
		}
		replaceFile(t, next, path)
		if err := src.Reload(); err != nil {
			t.Errorf("Reload %d: %v", i, err)
		}
	}
	cancel()
	wg.Wait()
	close(errs)
	for c := range errs {
		t.Errorf("lookup during reload returned country %q", c)
	}
	if got := src.Lookup(clientIP).Country; got != "US" {
		t.Errorf("final country = %q, want US", got)
	}
}
