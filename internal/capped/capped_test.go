package capped

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReadFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f")
	if err := os.WriteFile(path, []byte(strings.Repeat("x", 100)), 0o644); err != nil {
		t.Fatal(err)
	}
	if b, err := ReadFile(path, 100); err != nil || len(b) != 100 {
		t.Errorf("ReadFile at the limit = %d bytes, %v; want 100 bytes", len(b), err)
	}
	_, err := ReadFile(path, 99)
	var tl *TooLargeError
	if !errors.As(err, &tl) || tl.Limit != 99 || !strings.Contains(err.Error(), path) {
		t.Errorf("ReadFile over the limit: %v; want a TooLargeError naming %s", err, path)
	}
	if _, err := ReadFile(dir, 1<<20); !errors.Is(err, ErrNotRegular) {
		t.Errorf("ReadFile of a directory: %v; want ErrNotRegular", err)
	}
	if _, err := ReadFile(filepath.Join(dir, "missing"), 1<<20); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("ReadFile of a missing file: %v; want ErrNotExist", err)
	}
}

// TestReadCountsWhileReading reads files whose metadata says they are empty
// (as /proc files do): the limit must hold for what is read.
func TestReadCountsWhileReading(t *testing.T) {
	if _, err := os.Stat("/proc/self/status"); err != nil {
		t.Skip("no /proc")
	}
	if fi, _ := os.Stat("/proc/self/status"); fi.Size() != 0 {
		t.Skip("/proc reports a size")
	}
	_, err := ReadFile("/proc/self/status", 16)
	var tl *TooLargeError
	if !errors.As(err, &tl) {
		t.Errorf("ReadFile of /proc/self/status with a 16-byte limit: %v; want a TooLargeError", err)
	}
	if b, err := ReadFile("/proc/self/status", 1<<20); err != nil || len(b) == 0 {
		t.Errorf("ReadFile of /proc/self/status = %d bytes, %v", len(b), err)
	}
}
