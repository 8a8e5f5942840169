//go:build unix

package zones

import (
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestFIFOsAreNotRead: opening a FIFO for reading waits for a writer, so
// reading one (as a records_file or as a zone file) would hang the load and
// with it every later reload.
func TestFIFOsAreNotRead(t *testing.T) {
	dir := t.TempDir()
	if err := syscall.Mkfifo(filepath.Join(dir, "pipe.zone"), 0o600); err != nil {
		t.Fatal(err)
	}
	writeFile(t, dir, "z.yaml", header+"records_file: pipe.zone\n")
	if _, err := Load(dir, nil); err == nil || !strings.Contains(err.Error(), `z.yaml:4: records_file: "pipe.zone": not a regular file`) {
		t.Errorf("records_file FIFO: %v", err)
	}

	dir = t.TempDir()
	if err := syscall.Mkfifo(filepath.Join(dir, "z.yaml"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(dir, nil); err == nil || !strings.Contains(err.Error(), "z.yaml: not a regular file") {
		t.Errorf("zone file FIFO: %v", err)
	}
}
