package zones

import (
	"errors"
	"regexp"
	"strings"
	"testing"
)

// goTypeRe matches what Go type names look like in a message.
var goTypeRe = regexp.MustCompile(`\[\]|\bu?int(8|16|32|64)?\b|float64|\bstring\b|time\.Duration|\w+\.\w+File|healthcheck\.|\bcheck\.[A-Z]|cannot unmarshal|!!`)

// TestErrorsSayWhatToDo holds the messages a first-time operator meets to
// saying where, what and what to do instead.
func TestErrorsSayWhatToDo(t *testing.T) {
	regions := "regions:\n  us-east: { location: [39.04, -77.49] }\n  eu-central: { location: [50.11, 8.68] }\n" // lines 4-6
	tests := []struct{ name, body, want string }{
		{"region typo in an endpoint", header + regions + "services:\n  www:\n    endpoints:\n      - { region: eu-cental, address: 192.0.2.10 }\n",
			`z.yaml:10: service www: unknown region "eu-cental"; did you mean "eu-central"?`},
		{"region typo in fallback", header + regions + "services:\n  www:\n    fallback: [eu-centrl]\n    endpoints: [{ region: us-east, address: 192.0.2.10 }]\n",
			`z.yaml:9: service www: fallback names unknown region "eu-centrl"; did you mean "eu-central"?`},
		{"unknown check with a near name", header + regions + "checks:\n  web: { type: http, port: 8080 }\nservices:\n  www:\n    check: webb\n    endpoints: [{ region: us-east, address: 192.0.2.10 }]\n",
			`z.yaml:11: service www: check "webb" is not defined under checks:; did you mean "web"?`},
		{"bad A record", header + "records: |\n  www IN A 198.51.100.256\n",
			`z.yaml:5: bad A record "198.51.100.256": not an IPv4 address`},
		{"bad AAAA record", header + "records: |\n  www IN AAAA 192.0.2.1\n",
			`z.yaml:5: bad AAAA record "192.0.2.1": not an IPv6 address`},
		{"bad MX preference", header + "records: |\n  @ IN MX ten mail\n",
			`z.yaml:5: bad MX record "ten": the preference must be a number from 0 to 65535`},
		{"TTL too large", header + "records: |\n  www 99999999999 IN A 192.0.2.1\n",
			`z.yaml:5: bad TTL "99999999999": not a number from 0 to 2147483647`},
		{"unknown type", header + "records: |\n  www IN AA 192.0.2.1\n",
			`z.yaml:5: "AA" is not a record type, class or TTL`},
		{"bad CNAME target", header + "records: |\n  www IN CNAME bad..name\n",
			`z.yaml:5: bad CNAME record "bad..name": the target is not a domain name`},
		{"text after the data", header + "records: |\n  www IN A 192.0.2.1 extra\n",
			`z.yaml:5: "extra" after the end of the record's data`},
		{"YAML indentation in a zone", header + regions + "services:\n  www:\n    ttl: 30\n   endpoints: [{ region: us-east, address: 192.0.2.10 }]\n",
			`z.yaml:10:`},
		{"YAML indentation in a list", header + regions + "services:\n  www:\n    endpoints:\n      - region: us-east\n      address: 192.0.2.10\n",
			`z.yaml:11: did not find expected '-' indicator (this line is not indented like`},
		{"YAML key indented too far", "zone: example.com.\nsoa:\n  mname: ns1.example.com.\n   rname: hostmaster.example.com.\nns: [ns1.example.com.]\n",
			`z.yaml:4: mapping values are not allowed in this context (check this line's indentation`},
		{"unknown service key", header + regions + "services:\n  www:\n    degraded_tll: 5\n    endpoints: [{ region: us-east, address: 192.0.2.10 }]\n",
			`z.yaml:9: unknown key "degraded_tll"; did you mean "degraded_ttl"?`},
		{"unknown top-level key", header + "recrods: |\n  www IN A 192.0.2.1\n",
			`z.yaml:4: unknown key "recrods"; did you mean "records"?`},
		{"unknown check key", header + "checks:\n  web: { type: http, intreval: 5s }\n",
			`z.yaml:5: unknown key "intreval"; did you mean "interval"?`},
		{"ttl not a number", header + "ttl: soon\n", `z.yaml:4: ttl: "soon" is not a whole number`},
		{"ns not a list", "zone: example.com.\nsoa: {mname: ns1.example.com., rname: hostmaster.example.com.}\nns: ns1.example.com.\n",
			`z.yaml:3: ns: "ns1.example.com." is not a list`},
		{"location not a list", header + "regions:\n  us-east: { location: virginia }\n", `z.yaml:5: location: "virginia" is not a list`},
		{"region not a mapping", header + "regions:\n  us-east: virginia\n", `z.yaml:5: us-east: "virginia" is not a mapping of its settings`},
		{"service as a list", header + "services:\n  www:\n    - 192.0.2.1\n", `z.yaml:6: www: a list is not a mapping of its settings`},
		{"check not a mapping", header + "checks:\n  web: http\n", `z.yaml:5: web: "http" is not a mapping of its settings`},
		{"weight not a number", header + regions + "services:\n  www:\n    endpoints: [{ region: us-east, address: 192.0.2.10, weight: heavy }]\n",
			`z.yaml:9: weight: "heavy" is not a whole number`},
		{"interval not a duration", header + "checks:\n  web: { type: http, interval: 10 }\n", `z.yaml:5: interval: "10" is not a duration such as "10s"`},
		{"expect_status out of range", header + "checks:\n  web: { type: http, expect_status: 200-999 }\n", `z.yaml:5:`},
		{"endpoint address with a port", header + regions + "checks:\n  web: { type: http }\nservices:\n  www:\n    check: web\n    endpoints: [{ region: us-east, address: \"192.0.2.10:8080\" }]\n",
			`z.yaml:12: service www: address "192.0.2.10:8080" has a port; an endpoint is an address only (the check's port is probed: set port: 8080 under checks: web)`},
		{"check_address with a port", header + regions + "checks:\n  web: { type: http }\nservices:\n  www:\n    check: web\n    endpoints:\n      - { region: us-east, address: 192.0.2.10, check_address: \"127.0.0.1:8080\" }\n",
			`z.yaml:13: service www: check_address "127.0.0.1:8080" has a port; it is an address only (the check's port is probed: set port: 8080 under checks: web)`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFile(t, dir, "z.yaml", tc.body)
			_, err := Load(dir, nil)
			if err == nil {
				t.Fatal("loaded without error")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q\ndoes not contain %q", err, tc.want)
			}
			if m := goTypeRe.FindString(err.Error()); m != "" {
				t.Errorf("error %q shows Go's %q", err, m)
			}
		})
	}
}

// TestOneMistakeOneMessage holds that a mistake is reported once, where it
// is, and not again by every check that depends on it.
func TestOneMistakeOneMessage(t *testing.T) {
	body := header + `regions:
  us-east: { location: [39.04, -77.49] }
  eu-west: { location: [53.35, -6.26] }
checks:
  web: { type: http, port: 8080 }
services:
  www:
    check: webb
    routing: failover
    fallback: [eu-wst]
    endpoints:
      - { region: us-east, address: 192.0.2.10, check_address: 127.0.0.1 }
      - { region: us-east, address: 192.0.2.11, check_address: 127.0.0.1 }
      - { region: us-east, address: "2001:db8::10", check_address: 127.0.0.1 }
      - { region: eu-west, address: 198.51.100.10, check_address: 127.0.0.2 }
      - { region: eu-west, address: "2001:db8:2::10", check_address: 127.0.0.2 }
      - { region: eu-west, cname: lb.example.net. }
`
	dir := t.TempDir()
	writeFile(t, dir, "z.yaml", body)
	_, err := Load(dir, nil)
	var joined interface{ Unwrap() []error }
	if !errors.As(err, &joined) {
		t.Fatalf("error %v", err)
	}
	errs := joined.Unwrap()
	want := []string{
		`z.yaml:11: service www: check "webb" is not defined under checks:; did you mean "web"?`,
		`z.yaml:13: service www: fallback names unknown region "eu-wst"; did you mean "eu-west"?`,
	}
	if len(errs) != len(want) {
		t.Fatalf("%d errors, want %d:\n%v", len(errs), len(want), err)
	}
	for i, w := range want {
		if !strings.HasSuffix(errs[i].Error(), "/"+w) {
			t.Errorf("error %d: %q, want %q", i, errs[i], w)
		}
	}
}
