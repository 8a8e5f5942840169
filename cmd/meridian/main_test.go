package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// runMeridian runs the command line in-process and returns its standard
// output, standard error and error.
func runMeridian(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	cmd := root()
	cmd.SetArgs(args)
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	err := cmd.Execute()
	return out.String(), errOut.String(), err
}

// writeTree writes files (path relative to dir: content) and returns dir.
func writeTree(t *testing.T, dir string, files map[string]string) string {
	t.Helper()
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

const checkedZone = `zone: example.com.
soa: {mname: ns1.example.com., rname: hostmaster.example.com.}
ns: [ns1.example.com.]
regions:
  us-east: { location: [39.04, -77.49] }
  eu-west: { location: [53.35, -6.26] }
checks:
  web: { type: http, path: /healthz }
  api: { type: tcp, port: 8443 }
services:
  www:
    check: web
    endpoints:
      - { region: us-east, address: 192.0.2.10, check_address: 127.0.0.1 }
      - { region: us-east, address: 192.0.2.11, check_address: 127.0.0.1 }
      - { region: us-east, address: "2001:db8::10", check_address: 127.0.0.1 }
      - { region: eu-west, address: 198.51.100.10, check_address: 127.0.0.2 }
      - { region: eu-west, address: "2001:db8:2::10", check_address: 127.0.0.2 }
  app:
    check: web
    endpoints:
      - { region: us-east, address: 192.0.2.20, check_address: 127.0.0.1 }
      - { region: eu-west, address: 198.51.100.20, check_address: 127.0.0.3 }
  api:
    check: api
    endpoints:
      - { region: us-east, address: 192.0.2.30 }
`

// checkedTree is a configuration (with absolute paths) and the zone above.
func checkedTree(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		"meridian.yaml":          "zones: " + filepath.Join(dir, "zones") + "\nhttp:\n  listen: \"\"\n",
		"zones/example.com.yaml": checkedZone,
	})
	return filepath.Join(dir, "meridian.yaml")
}

// TestCheckCountsEndpointsAndTargets holds check to telling endpoints
// checked from the distinct targets probed: equal targets are probed once.
func TestCheckCountsEndpointsAndTargets(t *testing.T) {
	out, errOut, err := runMeridian(t, "check", "--config", checkedTree(t))
	if err != nil {
		t.Fatalf("%v\n%s", err, errOut)
	}
	for _, want := range []string{
		"service www.example.com.: 5 endpoints in 2 regions, routing nearest, select weighted, check web\n",
		"check web of example.com.: http, port 80 (the http default: no port given), path /healthz, status 200-399, every 10s, timeout 2s, rise 2, fall 3; 7 endpoints, 3 distinct probe targets\n",
		"check api of example.com.: tcp, port 8443, every 10s, timeout 2s, rise 2, fall 3; 1 endpoint, 1 distinct probe target\n",
		"1 zone, 2 records, 8 endpoints checked, 4 distinct probe targets\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "  probe ") {
		t.Errorf("targets listed without --verbose:\n%s", out)
	}
	if !strings.Contains(errOut, "warning: ") || !strings.Contains(errOut, "check web has no port, so it probes port 80, the http default") {
		t.Errorf("no warning about the default port:\n%s", errOut)
	}
}

// TestCheckVerboseListsTargets holds check --verbose to listing every
// target exactly as it is probed, with the endpoints behind it.
func TestCheckVerboseListsTargets(t *testing.T) {
	out, errOut, err := runMeridian(t, "check", "--verbose", "--config", checkedTree(t))
	if err != nil {
		t.Fatalf("%v\n%s", err, errOut)
	}
	for _, want := range []string{
		"  probe http://127.0.0.1:80/healthz for www.example.com./192.0.2.10 (us-east), www.example.com./192.0.2.11 (us-east), www.example.com./2001:db8::10 (us-east), app.example.com./192.0.2.20 (us-east)\n",
		"  probe http://127.0.0.2:80/healthz for www.example.com./198.51.100.10 (eu-west), www.example.com./2001:db8:2::10 (eu-west)\n",
		"  probe http://127.0.0.3:80/healthz for app.example.com./198.51.100.20 (eu-west)\n",
		"  probe tcp://192.0.2.30:8443 for api.example.com./192.0.2.30 (us-east)\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("verbose output lacks %q:\n%s", want, out)
		}
	}
}

// TestCheckCountsProblems holds check to one message per mistake and a
// count in good English.
func TestCheckCountsProblems(t *testing.T) {
	for _, tc := range []struct {
		name, from, to string
		want           string
		lines          int
	}{
		{"one unknown check", "    check: web\n    endpoints:\n      - { region: us-east, address: 192.0.2.10,", "    check: webb\n    endpoints:\n      - { region: us-east, address: 192.0.2.10,", "1 problem found", 1},
		{"two mistakes", "regions:\n  us-east: { location: [39.04, -77.49] }\n", "regions:\n  us-east: { location: [39.04, -77.49], countries: [XX, YY] }\n", "2 problems found", 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := checkedTree(t)
			zone := filepath.Join(filepath.Dir(cfg), "zones/example.com.yaml")
			if !strings.Contains(checkedZone, tc.from) {
				t.Fatalf("zone lacks %q", tc.from)
			}
			writeTree(t, filepath.Dir(zone), map[string]string{"example.com.yaml": strings.Replace(checkedZone, tc.from, tc.to, 1)})
			_, errOut, err := runMeridian(t, "check", "--config", cfg)
			if err == nil || err.Error() != tc.want {
				t.Errorf("error %v, want %q", err, tc.want)
			}
			if n := strings.Count(strings.TrimSpace(errOut), "\n") + 1; n != tc.lines {
				t.Errorf("%d lines of problems, want %d:\n%s", n, tc.lines, errOut)
			}
		})
	}
}

// TestCheckFromAnotherDirectory holds a relative path that does not
// resolve to an error naming the key, the resolved path, and the file
// beside the configuration that was probably meant.
func TestCheckFromAnotherDirectory(t *testing.T) {
	elsewhere := t.TempDir()
	writeTree(t, elsewhere, map[string]string{
		"meridian.yaml":          "zones: zones\nhttp:\n  listen: \"\"\n",
		"zones/example.com.yaml": checkedZone,
	})
	here := t.TempDir()
	t.Chdir(here)
	_, _, err := runMeridian(t, "check", "--config", filepath.Join(elsewhere, "meridian.yaml"))
	if err == nil {
		t.Fatal("check passed")
	}
	for _, want := range []string{
		`zones: directory "zones" not found (resolved to ` + filepath.Join(here, "zones") + ")",
		filepath.Join(elsewhere, "zones") + " exists; start meridian in " + elsewhere,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q\nlacks %q", err, want)
		}
	}
	t.Chdir(elsewhere)
	if _, errOut, err := runMeridian(t, "check", "--config", "meridian.yaml"); err != nil {
		t.Errorf("check beside the configuration: %v\n%s", err, errOut)
	}
}

// TestDemoLeavesNothingBehind holds the commands that fall back to the
// built-in demo to removing the copy they extract.
func TestDemoLeavesNothingBehind(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	t.Chdir(t.TempDir())
	for _, args := range [][]string{
		{"check"},
		{"explain", "--client", "185.0.64.0/24", "www.example.com"},
		{"explain", "--client", "185.0.64.0/24", "mail.example.com"},
	} {
		out, errOut, err := runMeridian(t, args...)
		if args[len(args)-1] != "mail.example.com" && err != nil {
			t.Fatalf("%v: %v\n%s%s", args, err, out, errOut)
		}
		if !strings.Contains(errOut, "built-in demo") {
			t.Errorf("%v: no notice of the demo:\n%s", args, errOut)
		}
		left, _ := filepath.Glob(filepath.Join(tmp, "meridian-demo-*"))
		if len(left) != 0 {
			t.Errorf("%v left %v", args, left)
		}
	}
}
