package healthcheck

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const overridesBody = "endpoints:\n  \"www.example.com./198.51.100.10\": drain\n"

func TestOverridesFileOverLimit(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "admin_state.yaml")
	body := overridesBody + "# " + strings.Repeat("x", 5000) + "\n"
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := (OverridesFile{Path: path, MaxBytes: 4096}).Load(); err == nil || !strings.Contains(err.Error(), "larger than 4096 bytes (limits.zone_file_bytes)") {
		t.Errorf("a 5 kB file with a 4 KiB limit: %v", err)
	}
	if o, err := (OverridesFile{Path: path, MaxBytes: 8192}).Load(); err != nil || len(o.Endpoints()) != 1 {
		t.Errorf("a 5 kB file with an 8 KiB limit: %v", err)
	}

	// A sparse file one byte over the default cap is refused unread.
	if err := os.Truncate(path, 64<<20+1); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOverrides(path); err == nil || !strings.Contains(err.Error(), "limits.zone_file_bytes") {
		t.Errorf("a file over the default cap: %v", err)
	}
}

// TestWatchOverridesOverLimit: the watcher holds the file to its cap too,
// so a reload of a file grown too large fails and the caller keeps the
// overrides it has.
func TestWatchOverridesOverLimit(t *testing.T) {
	path := filepath.Join(t.TempDir(), "admin_state.yaml")
	if err := os.WriteFile(path, []byte(overridesBody+"# "+strings.Repeat("x", 5000)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 16)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- OverridesFile{Path: path, MaxBytes: 4096}.Watch(ctx, 20*time.Millisecond, func(o *Overrides, err error) {
			errs <- err
		})
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Watch: %v", err)
		}
	}()
	select {
	case err := <-errs:
		if err == nil || !strings.Contains(err.Error(), "limits.zone_file_bytes") {
			t.Errorf("first load of a file over the limit: %v", err)
		}
	case <-time.After(waitLimit):
		t.Fatal("no overrides update")
	}
}
