package config

import (
	"net/netip"
	"strings"
	"testing"
)

// TestRRLOnByDefault: response rate limiting is on unless turned off, with
// a bounded table.
func TestRRLOnByDefault(t *testing.T) {
	c, err := Load("", nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.RRL.ResponsesPerSecond != 100 || c.RRL.Slip != 2 || c.RRL.MaxEntries != 250000 {
		t.Errorf("rrl defaults %+v", c.RRL)
	}
	off, err := Load(writeConfig(t, "rrl: {responses_per_second: 0}\n"), nil)
	if err != nil || off.RRL.ResponsesPerSecond != 0 {
		t.Errorf("rrl off: %+v, %v", off.RRL, err)
	}
	if _, err := Load(writeConfig(t, "rrl: {max_entries: 10}\n"), nil); err == nil || !strings.Contains(err.Error(), "max_entries") {
		t.Errorf("a tiny rrl table: %v", err)
	}
}

// TestECSTrustedResolvers: both spellings of the trusted resolvers list.
func TestECSTrustedResolvers(t *testing.T) {
	want := []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24"), netip.MustParsePrefix("2001:db8::/32")}
	for name, body := range map[string]string{
		"flat":    "ecs: true\necs_trusted_resolvers: [192.0.2.0/24, \"2001:db8::/32\"]\n",
		"mapping": "ecs:\n  enabled: true\n  trusted_resolvers: [192.0.2.0/24, \"2001:db8::/32\"]\n",
	} {
		c, err := Load(writeConfig(t, body), nil)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		got := c.DNS.ECSTrustedPrefixes()
		if !c.DNS.ECS || len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
			t.Errorf("%s: ecs %v, trusted %v", name, c.DNS.ECS, got)
		}
	}
	c, err := Load(writeConfig(t, "ecs: {enabled: false}\n"), nil)
	if err != nil || c.DNS.ECS {
		t.Errorf("ecs {enabled: false}: ecs %v, %v", c != nil && c.DNS.ECS, err)
	}
	if c, err := Load("", nil); err != nil || !c.DNS.ECS || len(c.DNS.ECSTrustedPrefixes()) != 0 {
		t.Errorf("default: every resolver trusted with ECS: %+v, %v", c, err)
	}
	for body, wantErr := range map[string]string{
		"ecs: {enabled: true, trusted: [192.0.2.0/24]}\n": `:1: unknown key "ecs.trusted"`,
		"ecs_trusted_resolvers: [resolver.example]\n":     "ecs_trusted_resolvers",
	} {
		if _, err := Load(writeConfig(t, body), nil); err == nil || !strings.Contains(err.Error(), wantErr) {
			t.Errorf("%q: error %v, want it to mention %s", body, err, wantErr)
		}
	}
}
