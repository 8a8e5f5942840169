package check

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

func decodeYAML(t *testing.T, src string) (Spec, error) {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(src), &doc); err != nil {
		t.Fatalf("yaml: %v", err)
	}
	return Decode(&doc)
}

func TestDecodeSpec(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want Spec
	}{
		{
			name: "http from the zone example",
			src: `type: http
port: 80
path: /healthz
host: www.example.com
expect_status: [200-299, 304]
expect_body: "ok"
interval: 10s
timeout: 2s
rise: 2
fall: 3
load_header: X-Load
`,
			want: Spec{
				Type: HTTP, Port: 80, Path: "/healthz", Host: "www.example.com",
				ExpectStatus: []StatusRange{{200, 299}, {304, 304}}, ExpectBody: "ok",
				LoadHeader: "X-Load", Interval: 10 * time.Second, Timeout: 2 * time.Second, Rise: 2, Fall: 3,
			},
		},
		{
			name: "http defaults",
			src:  "type: http\n",
			want: Spec{
				Type: HTTP, Port: 80, Path: "/", ExpectStatus: []StatusRange{{200, 399}},
				Interval: DefaultInterval, Timeout: DefaultTimeout, Rise: DefaultRise, Fall: DefaultFall,
			},
		},
		{
			name: "https defaults and skip verify",
			src:  "type: https\ntls_skip_verify: true\ninterval: 500ms\ntimeout: 100ms\n",
			want: Spec{
				Type: HTTPS, Port: 443, Path: "/", ExpectStatus: []StatusRange{{200, 399}}, TLSSkipVerify: true,
				Interval: 500 * time.Millisecond, Timeout: 100 * time.Millisecond, Rise: DefaultRise, Fall: DefaultFall,
			},
		},
		{
			name: "dns defaults",
			src:  "type: dns\nquery: \"www.example.com. A\"\n",
			want: Spec{
				Type: DNS, Port: 53, Query: "www.example.com. A", ExpectRcode: []Rcode{0},
				Interval: DefaultInterval, Timeout: DefaultTimeout, Rise: DefaultRise, Fall: DefaultFall,
			},
		},
		{
			name: "dns rcodes by name and number",
			src:  "type: dns\nquery: example.com. SOA\nexpect_rcode: [NOERROR, nxdomain, 5]\n",
			want: Spec{
				Type: DNS, Port: 53, Query: "example.com. SOA", ExpectRcode: []Rcode{0, 3, 5},
				Interval: DefaultInterval, Timeout: DefaultTimeout, Rise: DefaultRise, Fall: DefaultFall,
			},
		},
		{
			name: "tcp",
			src:  "type: tcp\nport: 22\nrise: 1\nfall: 1\n",
			want: Spec{Type: TCP, Port: 22, Interval: DefaultInterval, Timeout: DefaultTimeout, Rise: 1, Fall: 1},
		},
		{
			name: "exec",
			src:  "type: exec\ncommand: [\"/usr/local/bin/check\", \"--fast\"]\n",
			want: Spec{
				Type: Exec, Command: []string{"/usr/local/bin/check", "--fast"},
				Interval: DefaultInterval, Timeout: DefaultTimeout, Rise: DefaultRise, Fall: DefaultFall,
			},
		},
		{
			name: "merge key",
			src:  "base: &base {interval: 5s, timeout: 1s}\ncheck:\n  <<: *base\n  type: tcp\n  port: 25\n",
			want: Spec{Type: TCP, Port: 25, Interval: 5 * time.Second, Timeout: time.Second, Rise: DefaultRise, Fall: DefaultFall},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var doc yaml.Node
			if err := yaml.Unmarshal([]byte(tc.src), &doc); err != nil {
				t.Fatalf("yaml: %v", err)
			}
			node := &doc
			if tc.name == "merge key" {
				node = doc.Content[0].Content[3]
			}
			got, err := Decode(node)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Decode =\n%+v\nwant\n%+v", got, tc.want)
			}
		})
	}
}

func TestDecodeSpecErrors(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want string
	}{
		{"unknown key", "type: http\nport: 80\nintreval: 10s\n", `line 3: unknown key "intreval"; did you mean "interval"?`},
		{"unknown key in merged mapping", "b: &b {typo: 1}\nc:\n  <<: *b\n  type: tcp\n", `line 1: unknown key "typo"`},
		{"unknown type", "type: htp\n", `line 1: unknown type "htp"`},
		{"missing type", "port: 80\n", "line 1: type is required"},
		{"timeout above interval", "type: tcp\nport: 1\ninterval: 2s\ntimeout: 5s\n", "line 4: timeout 5s must be below interval 2s"},
		{"timeout equal to default interval", "type: tcp\nport: 1\ntimeout: 10s\n", "line 3: timeout 10s must be below interval 10s"},
		{"tcp without port", "type: tcp\n", "line 1: port 1..65535 is required for tcp checks"},
		{"port out of range", "type: http\nport: 70000\n", "line 2: port 70000 out of range 1..65535"},
		{"exec without command", "type: exec\n", "line 1: exec checks require a command"},
		{"dns without query", "type: dns\n", "line 1: dns checks require a query"},
		{"dns bad qtype", "type: dns\nquery: example.com. BOGUS\n", `line 2: query "example.com. BOGUS": unknown record type "BOGUS"`},
		{"bad rcode", "type: dns\nquery: a.\nexpect_rcode: [NOPE]\n", `line 3: unknown rcode "NOPE"`},
		{"path on tcp", "type: tcp\nport: 1\npath: /x\n", "line 3: path is not used by tcp checks"},
		{"skip verify on http", "type: http\ntls_skip_verify: true\n", "line 2: tls_skip_verify is not used by http checks"},
		{"relative path", "type: http\npath: healthz\n", `line 2: path "healthz" must start with /`},
		{"bad status", "type: http\nexpect_status: [200-x]\n", `line 2: status "200-x" is not a code`},
		{"status out of range", "type: http\nexpect_status: [99]\n", "line 2: status range 99 is not within 100-599"},
		{"duration as int", "type: tcp\nport: 1\ninterval: 10\n", `line 3: interval: "10" is not a duration such as "10s"`},
		{"bad duration", "type: tcp\nport: 1\ninterval: soon\n", `line 3: interval: "soon" is not a duration such as "10s"`},
		{"port not a number", "type: tcp\nport: http\n", `line 2: port: "http" is not a whole number`},
		{"command not a list of words", "type: exec\ncommand: {run: x}\n", `line 2: command: a mapping is not a list`},
		{"unknown key near a known one", "type: http\nexpect_stauts: 200\n", `line 2: unknown key "expect_stauts"; did you mean "expect_status"?`},
		{"negative rise", "type: tcp\nport: 1\nrise: -1\n", "line 3: rise -1 must be at least 1"},
		{"bad load header", "type: http\nload_header: \"X Load\"\n", `line 2: load_header "X Load" is not a valid header name`},
		{"bad host", "type: http\nhost: \"a b\"\n", `line 2: host "a b" is not a host name`},
		{"not a mapping", "- type: tcp\n", "line 1: check must be a mapping"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var doc yaml.Node
			if err := yaml.Unmarshal([]byte(tc.src), &doc); err != nil {
				t.Fatalf("yaml: %v", err)
			}
			node := &doc
			if strings.HasPrefix(tc.name, "unknown key in merged") {
				node = doc.Content[0].Content[3]
			}
			_, err := Decode(node)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Decode error = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestParseStatusRange(t *testing.T) {
	tests := []struct {
		in      string
		want    StatusRange
		wantErr bool
	}{
		{"200", StatusRange{200, 200}, false},
		{"200-299", StatusRange{200, 299}, false},
		{" 301 - 302 ", StatusRange{301, 302}, false},
		{"299-200", StatusRange{}, true},
		{"600", StatusRange{}, true},
		{"2xx", StatusRange{}, true},
		{"", StatusRange{}, true},
	}
	for _, tc := range tests {
		got, err := ParseStatusRange(tc.in)
		if (err != nil) != tc.wantErr {
			t.Errorf("ParseStatusRange(%q) error = %v, wantErr %v", tc.in, err, tc.wantErr)
			continue
		}
		if !tc.wantErr && got != tc.want {
			t.Errorf("ParseStatusRange(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
	if r := (StatusRange{200, 299}); !r.Contains(204) || r.Contains(300) || r.String() != "200-299" {
		t.Errorf("StatusRange{200,299}: Contains(204)=%v Contains(300)=%v String=%q", r.Contains(204), r.Contains(300), r.String())
	}
}

func TestSpecMarshalRoundTrip(t *testing.T) {
	in := Spec{
		Type: HTTPS, Port: 8443, Path: "/h", ExpectStatus: []StatusRange{{200, 299}, {418, 418}},
		Interval: 3 * time.Second, Timeout: time.Second, Rise: 1, Fall: 4, TLSSkipVerify: true,
	}
	out, err := yaml.Marshal(in)
	if err != nil {
		t.Fatalf("Marshal: %v", err)
	}
	got, err := decodeYAML(t, string(out))
	if err != nil {
		t.Fatalf("Decode(%s): %v", out, err)
	}
	if !reflect.DeepEqual(got, in) {
		t.Errorf("round trip through\n%s= %+v, want %+v", out, got, in)
	}
}

func TestKey(t *testing.T) {
	addr := netip.MustParseAddr("198.51.100.10")
	web := Spec{Name: "web", Type: HTTP, Path: "/healthz"}
	tests := []struct {
		name  string
		a, b  Target
		equal bool
	}{
		{"same spec", Target{web, addr}, Target{web, addr}, true},
		{"name does not matter", Target{web, addr}, Target{Spec{Name: "other", Type: HTTP, Path: "/healthz"}, addr}, true},
		{"defaults are explicit values", Target{web, addr},
			Target{Spec{Type: HTTP, Port: 80, Path: "/healthz", Rise: 2, Fall: 3, Interval: 10 * time.Second}, addr}, true},
		{"mapped IPv4", Target{web, addr}, Target{web, netip.MustParseAddr("::ffff:198.51.100.10")}, true},
		{"address differs", Target{web, addr}, Target{web, netip.MustParseAddr("198.51.100.11")}, false},
		{"port differs", Target{web, addr}, Target{Spec{Type: HTTP, Path: "/healthz", Port: 8080}, addr}, false},
		{"path differs", Target{web, addr}, Target{Spec{Type: HTTP, Path: "/"}, addr}, false},
		{"body differs", Target{web, addr}, Target{Spec{Type: HTTP, Path: "/healthz", ExpectBody: "ok"}, addr}, false},
		{"fall differs", Target{web, addr}, Target{Spec{Type: HTTP, Path: "/healthz", Fall: 5}, addr}, false},
		{"type differs", Target{Spec{Type: TCP, Port: 80}, addr}, Target{Spec{Type: HTTP}, addr}, false},
		{"exec name matters", Target{Spec{Name: "a", Type: Exec, Command: []string{"x"}}, addr},
			Target{Spec{Name: "b", Type: Exec, Command: []string{"x"}}, addr}, false},
		{"exec args matter", Target{Spec{Type: Exec, Command: []string{"x", "y z"}}, addr},
			Target{Spec{Type: Exec, Command: []string{"x y", "z"}}, addr}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.a.Key() == tc.b.Key(); got != tc.equal {
				t.Errorf("keys equal = %v, want %v (%q vs %q)", got, tc.equal, tc.a.Key(), tc.b.Key())
			}
		})
	}

	v6 := Target{Spec{Type: HTTPS, Host: "www.example.com"}, netip.MustParseAddr("2001:db8::1")}
	if got, want := v6.Key().String(), "https://[2001:db8::1]:443/ host=www.example.com"; got != want {
		t.Errorf("Key.String = %q, want %q", got, want)
	}
	v6.Spec = v6.Spec.WithDefaults()
	if got, want := v6.HostPort(), "[2001:db8::1]:443"; got != want {
		t.Errorf("HostPort = %q, want %q", got, want)
	}
}

// TestDecodeSpecSingleOrList holds that expect_status and expect_rcode
// take one value as well as a list of them.
func TestDecodeSpecSingleOrList(t *testing.T) {
	tests := []struct {
		src    string
		status []StatusRange
		rcode  []Rcode
	}{
		{"type: http\nexpect_status: 200-299\n", []StatusRange{{200, 299}}, nil},
		{"type: http\nexpect_status: \"200-299\"\n", []StatusRange{{200, 299}}, nil},
		{"type: http\nexpect_status: 204\n", []StatusRange{{204, 204}}, nil},
		{"type: http\nexpect_status: [200-299, 304]\n", []StatusRange{{200, 299}, {304, 304}}, nil},
		{"type: http\nexpect_status:\n  - 200\n  - \"301-302\"\n", []StatusRange{{200, 200}, {301, 302}}, nil},
		{"type: dns\nquery: a.\nexpect_rcode: NXDOMAIN\n", nil, []Rcode{3}},
		{"type: dns\nquery: a.\nexpect_rcode: [NOERROR, NXDOMAIN]\n", nil, []Rcode{0, 3}},
	}
	for _, tc := range tests {
		s, err := decodeYAML(t, tc.src)
		if err != nil {
			t.Errorf("%q: %v", tc.src, err)
			continue
		}
		if tc.status != nil && !reflect.DeepEqual(s.ExpectStatus, tc.status) {
			t.Errorf("%q: expect_status %v, want %v", tc.src, s.ExpectStatus, tc.status)
		}
		if tc.rcode != nil && !reflect.DeepEqual(s.ExpectRcode, tc.rcode) {
			t.Errorf("%q: expect_rcode %v, want %v", tc.src, s.ExpectRcode, tc.rcode)
		}
	}
	if _, err := decodeYAML(t, "type: http\nexpect_status: 200-x\n"); err == nil || !strings.Contains(err.Error(), `line 2: status "200-x" is not a code`) {
		t.Errorf("a bad single status: %v", err)
	}
}
