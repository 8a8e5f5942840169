package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeLimitsConfig writes a configuration whose one zone holds 2 + 20
// records and a service, with the given limits: block.
func writeLimitsConfig(t *testing.T, limits string) string {
	t.Helper()
	dir := t.TempDir()
	zonesDir := filepath.Join(dir, "zones")
	if err := os.Mkdir(zonesDir, 0o755); err != nil {
		t.Fatal(err)
	}
	zone := `zone: example.com.
soa: {mname: ns1.example.com., rname: hostmaster.example.com.}
ns: [ns1.example.com.]
records: |
  $GENERATE 1-20 h$ A 192.0.2.1
regions:
  eu: {location: [50.1, 8.7], countries: [DE]}
services:
  www:
    endpoints:
      - {address: 192.0.2.10, region: eu}
`
	cfg := "listen: [\"127.0.0.1:0\"]\nzones: " + zonesDir + "\nhttp: {listen: \"\"}\n" + limits
	for p, body := range map[string]string{filepath.Join(zonesDir, "example.com.yaml"): zone, filepath.Join(dir, "meridian.yaml"): cfg} {
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return filepath.Join(dir, "meridian.yaml")
}

func runLimitsCmd(args ...string) (string, error) {
	cmd := root()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(args)
	err := cmd.Execute()
	return out.String(), err
}

// TestCheckAndExplainApplyLimits: check and explain load the zones within
// the configured limits, as serve does.
func TestCheckAndExplainApplyLimits(t *testing.T) {
	ok := writeLimitsConfig(t, "")
	if out, err := runLimitsCmd("check", "--config", ok); err != nil || !strings.Contains(out, "zone example.com.: serial") {
		t.Fatalf("check within the limits: %v\n%s", err, out)
	}
	if out, err := runLimitsCmd("explain", "--config", ok, "--client", "192.0.2.1", "www.example.com."); err != nil {
		t.Fatalf("explain within the limits: %v\n%s", err, out)
	}

	tight := writeLimitsConfig(t, "limits: {zone_records: 10}\n")
	if _, err := runLimitsCmd("check", "--config", tight); err == nil {
		t.Error("check passed a zone over limits.zone_records")
	}
	if _, err := runLimitsCmd("explain", "--config", tight, "--client", "192.0.2.1", "www.example.com."); err == nil || !strings.Contains(err.Error(), "limits.zone_records") {
		t.Errorf("explain of a zone over limits.zone_records: %v", err)
	}
}
