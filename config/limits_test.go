package config

import (
	"os"
	"strings"
	"testing"
)

func TestLimits(t *testing.T) {
	c, err := Load("", nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Limits.ZoneFileBytes != 64<<20 || c.Limits.ZoneRecords != 5000000 {
		t.Errorf("default limits %+v", c.Limits)
	}
	c, err = Load(writeConfig(t, "limits:\n  zone_file_bytes: 1048576\n  zone_records: 1000\n"), nil)
	if err != nil || c.Limits.ZoneFileBytes != 1<<20 || c.Limits.ZoneRecords != 1000 {
		t.Errorf("limits from the file: %+v, %v", c, err)
	}
	for _, body := range []string{"limits: {zone_file_bytes: 0}\n", "limits: {zone_records: -1}\n"} {
		if _, err := Load(writeConfig(t, body), nil); err == nil || !strings.Contains(err.Error(), "limits:") {
			t.Errorf("%q: %v", body, err)
		}
	}
}

// TestConfigFileOverLimit: the main configuration file is held to
// limits.zone_file_bytes, and read under the default cap whatever it sets.
func TestConfigFileOverLimit(t *testing.T) {
	body := "limits: {zone_file_bytes: 4096}\n# " + strings.Repeat("x", 5000) + "\n"
	if _, err := Load(writeConfig(t, body), nil); err == nil || !strings.Contains(err.Error(), "larger than 4096 bytes (limits.zone_file_bytes)") {
		t.Errorf("a 5 kB file with a 4 KiB limit: %v", err)
	}
	if _, err := Load(writeConfig(t, "limits: {zone_file_bytes: 8192}\n# "+strings.Repeat("x", 5000)+"\n"), nil); err != nil {
		t.Errorf("a 5 kB file with an 8 KiB limit: %v", err)
	}

	// A sparse file one byte over the default cap is refused unread.
	p := writeConfig(t, "limits: {zone_file_bytes: 1073741824}\n")
	if err := os.Truncate(p, 64<<20+1); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(p, nil); err == nil || !strings.Contains(err.Error(), "larger than 67108864 bytes (limits.zone_file_bytes)") {
		t.Errorf("a file over the default cap: %v", err)
	}
}
