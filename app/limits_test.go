package app

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/meridian-dns/meridian/config"
)

// limitsConfig writes a configuration with the given limits: block, a
// zones directory holding one zone of 2 + 20 records, and an admin_state
// file of about 2 kB, and loads it.
func limitsConfig(t *testing.T, limits string) *config.Config {
	t.Helper()
	dir := t.TempDir()
	zonesDir := filepath.Join(dir, "zones")
	if err := os.Mkdir(zonesDir, 0o755); err != nil {
		t.Fatal(err)
	}
	zone := "zone: example.com.\nsoa: {mname: ns1.example.com., rname: hostmaster.example.com.}\nns: [ns1.example.com.]\nrecords: |\n  $GENERATE 1-20 h$ A 192.0.2.1\n"
	state := "endpoints: {}\n# " + strings.Repeat("x", 2000) + "\n"
	for p, body := range map[string]string{
		filepath.Join(zonesDir, "example.com.yaml"): zone,
		filepath.Join(dir, "admin_state.yaml"):      state,
		filepath.Join(dir, "meridian.yaml"): "listen: [\"127.0.0.1:0\"]\nzones: " + zonesDir + "\nhttp: {listen: \"\"}\n" +
			"admin_state: " + filepath.Join(dir, "admin_state.yaml") + "\n" + limits,
	} {
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cfg, err := config.Load(filepath.Join(dir, "meridian.yaml"), nil)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestNewAppliesLimits: the limits of the configuration reach the zone
// store and the admin_state file.
func TestNewAppliesLimits(t *testing.T) {
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	if _, err := New(limitsConfig(t, ""), logger, "test"); err != nil {
		t.Fatalf("within the default limits: %v", err)
	}
	if _, err := New(limitsConfig(t, "limits: {zone_records: 10}\n"), logger, "test"); err == nil || !strings.Contains(err.Error(), "more than 10 records (limits.zone_records)") {
		t.Errorf("limits.zone_records 10: %v", err)
	}
	if _, err := New(limitsConfig(t, "limits: {zone_file_bytes: 1024}\n"), logger, "test"); err == nil || !strings.Contains(err.Error(), "admin_state.yaml: larger than 1024 bytes (limits.zone_file_bytes)") {
		t.Errorf("limits.zone_file_bytes 1024: %v", err)
	}
}
