package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const signedZone = `zone: example.com.
soa: {mname: ns1.example.com., rname: hostmaster.example.com.}
ns: [ns1.example.com.]
dnssec:
  enabled: true
  keys: keys
`

// signedTree writes a configuration whose one zone is signed with the keys
// in zones/keys, and returns the configuration file and the keys
// directory.
func signedTree(t *testing.T) (cfg, keys string) {
	t.Helper()
	dir := writeTree(t, t.TempDir(), map[string]string{
		"zones/example.com.yaml": signedZone,
		"meridian.yaml":          "zones: zones\nhttp:\n  listen: \"\"\n",
	})
	keys = filepath.Join(dir, "zones", "keys")
	if err := os.Mkdir(keys, 0o700); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	return filepath.Join(dir, "meridian.yaml"), keys
}

// TestDNSSECKeygenDSAndCheck makes a CSK with `meridian dnssec keygen`,
// then `meridian check` reports the signed zone and `meridian dnssec ds`
// prints the DS that keygen printed, by zone and by --keys, the one
// dnssec-dsfromkey -2 computes.
func TestDNSSECKeygenDSAndCheck(t *testing.T) {
	cfg, keys := signedTree(t)
	if _, _, err := runMeridian(t, "check", "--config", cfg); err == nil || !strings.Contains(err.Error(), "1 problem") {
		t.Fatalf("check of a signed zone without keys: %v; want a problem", err)
	}
	out, _, err := runMeridian(t, "dnssec", "keygen", "example.com", "--dir", keys, "--algorithm", "ED25519")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "Kexample.com.+015+") || !strings.HasPrefix(lines[1], "example.com. IN DS ") {
		t.Fatalf("keygen printed %q; want the key's name and its DS", out)
	}
	name, ds := lines[0], lines[1]
	if fi, err := os.Stat(filepath.Join(keys, name+".private")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("private key file: %v, %v; want mode 0600", fi, err)
	}

	// The zone asks for ECDSAP256SHA256 (the default); its one key is
	// Ed25519: check refuses, saying which.
	_, errOut, err := runMeridian(t, "check", "--config", cfg)
	if err == nil || !strings.Contains(errOut, "no active key of example.com. uses the zone's algorithm ECDSAP256SHA256") {
		t.Fatalf("check of a zone whose key is of another algorithm: %v\n%s", err, errOut)
	}
	writeTree(t, filepath.Dir(cfg), map[string]string{"zones/example.com.yaml": signedZone + "  algorithm: ED25519\n"})
	out, errOut, err = runMeridian(t, "check", "--config", cfg)
	if err != nil || errOut != "" {
		t.Fatalf("check: %v\n%s", err, errOut)
	}
	if !strings.Contains(out, "dnssec example.com.: ED25519, compact denial; "+name+" (KSK, ED25519") || !strings.Contains(out, " active") {
		t.Errorf("check does not describe the signed zone:\n%s", out)
	}

	for _, args := range [][]string{
		{"dnssec", "ds", "example.com.", "--config", cfg},
		{"dnssec", "ds", "EXAMPLE.com", "--keys", keys},
	} {
		out, _, err := runMeridian(t, args...)
		if err != nil || strings.TrimSpace(out) != ds {
			t.Errorf("%s: %q, %v; want %q", strings.Join(args, " "), out, err, ds)
		}
	}
	if p, err := exec.LookPath("dnssec-dsfromkey"); err == nil {
		bind, err := exec.Command(p, "-2", filepath.Join(keys, name+".key")).Output()
		if err != nil {
			t.Fatal(err)
		}
		if strings.Join(strings.Fields(string(bind)), " ") != ds {
			t.Errorf("dnssec-dsfromkey -2 says %q, we say %q", bind, ds)
		}
	}

	if err := os.Chmod(filepath.Join(keys, name+".private"), 0o640); err != nil {
		t.Fatal(err)
	}
	if _, errOut, err := runMeridian(t, "check", "--config", cfg); err != nil || !strings.Contains(errOut, "warning: "+filepath.Join("zones", "keys", name+".private")+": the private key may be read by other users") {
		t.Errorf("check of a group-readable private key: %v, stderr %q; want a warning naming it", err, errOut)
	}
}

// TestDNSSECCommandErrors holds the dnssec commands' mistakes to messages
// that say what to do.
func TestDNSSECCommandErrors(t *testing.T) {
	cfg, keys := signedTree(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"dnssec", "keygen", "example.com", "--dir", keys, "--algorithm", "RSASHA1"}, `algorithm "RSASHA1" is not supported: use ECDSAP256SHA256 (13) or ED25519 (15)`},
		{[]string{"dnssec", "keygen", "example.com", "--dir", filepath.Join(keys, "missing")}, "not a directory: create it first"},
		{[]string{"dnssec", "keygen", "example.com"}, `required flag(s) "dir" not set`},
		{[]string{"dnssec", "ds", "example.com", "--keys", keys}, "no key of example.com. (files Kexample.com.+<alg>+<tag>.key and .private)"},
		{[]string{"dnssec", "ds", "example.com", "--config", cfg}, "zones/example.com.yaml:6: dnssec.keys: zones/keys: no key of example.com."},
		{[]string{"dnssec", "ds", "example.com", "--config", cfg, "--keys", keys}, "give --config or --keys, not both"},
	} {
		_, _, err := runMeridian(t, tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v; want %q", strings.Join(tc.args, " "), err, tc.want)
		}
	}
	if _, _, err := runMeridian(t, "dnssec", "keygen", "example.com", "--dir", keys); err != nil {
		t.Fatal(err)
	}
	if _, _, err := runMeridian(t, "dnssec", "ds", "example.org", "--config", cfg); err == nil || !strings.Contains(err.Error(), "no zone example.org. in zones") {
		t.Errorf("ds of a zone not served: %v", err)
	}
	writeTree(t, filepath.Dir(cfg), map[string]string{"zones/example.com.yaml": strings.Replace(signedZone, "enabled: true", "enabled: false", 1)})
	if _, _, err := runMeridian(t, "dnssec", "ds", "example.com", "--config", cfg); err == nil || !strings.Contains(err.Error(), "is not signed: set dnssec: {enabled: true, keys: DIR}") {
		t.Errorf("ds of an unsigned zone: %v", err)
	}
}
