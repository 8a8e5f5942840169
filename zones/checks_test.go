package zones

import (
	"strings"
	"testing"
)

func TestChecksAndDefaultPortWarnings(t *testing.T) {
	regions := "regions:\n  us-east: { location: [39.04, -77.49] }\n" // lines 4-5
	tests := []struct {
		name   string
		checks string // from line 6
		want   []string
	}{
		{"check_address on loopback, port from the default",
			"checks:\n  web: { type: http, path: /healthz }\n",
			[]string{"z.yaml:7: check web has no port, so it probes port 80, the http default, at 127.0.0.1:80 for www.example.com./192.0.2.10 (its check_address), 127.0.0.1:80 for api.example.com./192.0.2.20 (its check_address): if the health endpoint listens on another port, set port: under checks: web"}},
		{"https default", "checks:\n  web: { type: https }\n",
			[]string{"z.yaml:7: check web has no port, so it probes port 443, the https default, at 127.0.0.1:443"}},
		{"port given", "checks:\n  web: { type: http, port: 80 }\n", nil},
		{"port given through a merge", "checks:\n  base: &base { type: http, port: 8080 }\n  web: { <<: *base, path: /x }\n", nil},
		{"tcp needs a port anyway", "checks:\n  web: { type: tcp, port: 8080 }\n", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFile(t, dir, "z.yaml", header+regions+tc.checks+`services:
  www:
    check: web
    endpoints:
      - { region: us-east, address: 192.0.2.10, check_address: 127.0.0.1 }
  api:
    check: web
    endpoints:
      - { region: us-east, address: 192.0.2.20, check_address: 127.0.0.1 }
  static:
    endpoints:
      - { region: us-east, address: 127.0.0.1 }
`)
			snap, err := Load(dir, nil)
			if err != nil {
				t.Fatal(err)
			}
			z := snap.Zone("example.com.")
			got := z.Warnings()
			if len(got) != len(tc.want) {
				t.Fatalf("warnings %q, want %d", got, len(tc.want))
			}
			for i, w := range tc.want {
				if !strings.HasSuffix(got[i], "/"+w) && !strings.Contains(got[i], "/"+w) {
					t.Errorf("warning %q\ndoes not contain %q", got[i], w)
				}
			}
			c := z.Check("web")
			if c == nil || c.Spec.Name != "web" || c.Spec.Port == 0 || c.Line < 7 || c.PortDefaulted != (tc.want != nil) {
				t.Errorf("check web: %+v", c)
			}
		})
	}
}

func TestNoWarningWithoutChecks(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "z.yaml", header+"regions:\n  us-east: { location: [39.04, -77.49] }\nservices:\n  www:\n    endpoints: [{ region: us-east, address: 127.0.0.1 }]\n")
	snap, err := Load(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if w := snap.Zone("example.com.").Warnings(); len(w) != 0 {
		t.Errorf("warnings %q", w)
	}
}
