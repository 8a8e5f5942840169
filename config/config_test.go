package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "meridian.yaml")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDefaults(t *testing.T) {
	c, err := Load("", nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen[0] != "127.0.0.1:5353" || c.HTTP.Listen != "127.0.0.1:9153" || c.DNS.UDPSize != 1232 ||
		c.TCP.IdleTimeout != 10*time.Second || c.Log.Level != "info" || c.DNS.Chaos ||
		!c.DNS.FastPath || c.DNS.AnswerCache != 131072 {
		t.Errorf("defaults %+v", c)
	}
	if want := (TCP{IdleTimeout: 10 * time.Second, WriteTimeout: 5 * time.Second, MaxConnections: 1000,
		MaxConnectionsIP: 32, ClientPrefixV4: 24, ClientPrefixV6: 56, MaxInFlight: 16}); c.TCP != want {
		t.Errorf("tcp defaults %+v, want %+v", c.TCP, want)
	}
}

func TestPrecedence(t *testing.T) {
	path := writeConfig(t, `
listen: ["127.0.0.1:1053"]
zones: /file/zones
geoip:
  city: /file/city.mmdb
  asn: /file/asn.mmdb
log:
  level: warn
tcp:
  idle_timeout: 3s
`)
	t.Setenv("MERIDIAN_GEOIP_CITY", "/env/city.mmdb")
	t.Setenv("MERIDIAN_LOG_LEVEL", "error")
	t.Setenv("MERIDIAN_LISTEN", "127.0.0.1:2053,[::1]:2053")
	fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
	Flags(fs)
	if err := fs.Parse([]string{"--log-level=debug"}); err != nil {
		t.Fatal(err)
	}
	c, err := Load(path, fs)
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct{ what, got, want string }{
		{"flag beats env", c.Log.Level, "debug"},
		{"env beats file", c.GeoIP.City, "/env/city.mmdb"},
		{"file beats default", c.Zones, "/file/zones"},
		{"file only", c.GeoIP.ASN, "/file/asn.mmdb"},
		{"env list", strings.Join(c.Listen, " "), "127.0.0.1:2053 [::1]:2053"},
		{"duration", c.TCP.IdleTimeout.String(), "3s"},
		{"default", c.HTTP.Listen, "127.0.0.1:9153"},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s: got %q, want %q", ch.what, ch.got, ch.want)
		}
	}
}

func TestInvalid(t *testing.T) {
	tests := []struct{ body, want string }{
		{"listen: [\"127.0.0.1:53\"]\nlsten: x\n", ":2: unknown key \"lsten\""},
		{"geoip:\n  city: a\n  cty: b\n", ":3: unknown key \"geoip.cty\""},
		{"log:\n  level: loud\n", "log.level: \"loud\""},
		{"log:\n  format: xml\n", "log.format"},
		{"listen: [\"localhost\"]\n", "listen: \"localhost\" is not an address:port"},
		{"udp_size: 100\n", "udp_size: 100 is outside"},
		{"answer_cache: 10\n", "answer_cache: 10 is below"},
		{"http:\n  listen: nowhere\n", "http.listen"},
		{"tcp:\n  idle_timeout: soon\n", "idle_timeout"},
		{"tcp:\n  write_timeout: 0s\n", "tcp.write_timeout: must be positive"},
		{"tcp:\n  client_prefix_v4: 33\n", "tcp.client_prefix_v4: 33 is outside 1..32"},
		{"tcp:\n  client_prefix_v4: 0\n", "tcp.client_prefix_v4: 0 is outside 1..32"},
		{"tcp:\n  client_prefix_v6: 129\n", "tcp.client_prefix_v6: 129 is outside 1..128"},
		{"zones: [a\n", "meridian.yaml"},
	}
	for _, tc := range tests {
		_, err := Load(writeConfig(t, tc.body), nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want it to contain %q", tc.body, err, tc.want)
		}
	}
}

func TestDemoConfigLoads(t *testing.T) {
	c, err := Load("../testdata/demo/meridian.yaml", nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Zones != "testdata/demo/zones" {
		t.Errorf("zones %q", c.Zones)
	}
}

func TestAllowedHosts(t *testing.T) {
	c, err := Load("", nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.HTTP.AllowedHosts == nil || len(c.HTTP.AllowedHosts) != 0 {
		t.Errorf("default http.allowed_hosts %#v, want an empty list", c.HTTP.AllowedHosts)
	}
	good := []string{"localhost", "meridian.example.net", "meridian.example.net.", "Meridian-1.Example.NET:9153",
		"10.1.2.3", "10.1.2.3:8080", "[::1]", "[2001:db8::1]:9153", "_admin.example.net"}
	c, err = Load(writeConfig(t, "http:\n  allowed_hosts: [\""+strings.Join(good, "\", \"")+"\"]\n"), nil)
	if err != nil {
		t.Fatalf("valid allowed_hosts: %v", err)
	}
	if strings.Join(c.HTTP.AllowedHosts, " ") != strings.Join(good, " ") {
		t.Errorf("allowed_hosts %q, want %q", c.HTTP.AllowedHosts, good)
	}
	t.Setenv("MERIDIAN_HTTP_ALLOWED_HOSTS", "a.example:9153,[::1]")
	if c, err = Load("", nil); err != nil || strings.Join(c.HTTP.AllowedHosts, " ") != "a.example:9153 [::1]" {
		t.Errorf("allowed_hosts from the environment: %q, %v", c.HTTP.AllowedHosts, err)
	}
}

func TestInvalidAllowedHosts(t *testing.T) {
	for _, h := range []string{"", "::1", "::1:9153", "[::1", "[::1]9153", "[127.0.0.1]", "[::1]:", "localhost:",
		"localhost:0", "localhost:65536", "localhost:09153", "localhost:http", ":9153", "http://localhost",
		"localhost/", "*.example.net", "a..example", "exa mple.net", "[fe80::1]x"} {
		_, err := Load(writeConfig(t, "http:\n  allowed_hosts: [\""+h+"\"]\n"), nil)
		if err == nil || !strings.Contains(err.Error(), "http.allowed_hosts: \""+h+"\"") {
			t.Errorf("allowed_hosts [%q]: error %v, want one naming the entry", h, err)
		}
	}
}

// TestTokens: named admin tokens load (names lower-cased, as every key
// is), and bad names, empty tokens and a token given twice are refused.
func TestTokens(t *testing.T) {
	c, err := Load(writeConfig(t, "http:\n  token: main-secret\n  tokens:\n    Alice: alice-secret\n    deploy-bot: bot-secret\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.HTTP.Token != "main-secret" || len(c.HTTP.Tokens) != 2 || c.HTTP.Tokens["alice"] != "alice-secret" || c.HTTP.Tokens["deploy-bot"] != "bot-secret" {
		t.Errorf("tokens %q and %v", c.HTTP.Token, c.HTTP.Tokens)
	}
	for _, tc := range []struct{ body, want string }{
		{"http:\n  tokens: [a, b]\n", "http.tokens: a list is not a mapping"},
		{"http:\n  tokens:\n    alice: \"\"\n", "http.tokens: alice: the token is empty"},
		{"http:\n  tokens:\n    a b: x\n", "is not a token name"},
		{"http:\n  tokens:\n    token: x\n", "is not a token name"},
		{"http:\n  token: same\n  tokens:\n    alice: same\n", "http.tokens: alice: the same token as http.token"},
		{"http:\n  tokens:\n    alice: same\n    bob: same\n", "http.tokens: bob: the same token as http.tokens.alice"},
	} {
		_, err := Load(writeConfig(t, tc.body), nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want it to contain %q", tc.body, err, tc.want)
		}
	}
}
