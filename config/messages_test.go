package config

import (
	"regexp"
	"strings"
	"testing"
)

// TestErrorsSayWhereAndWhat holds the main configuration's errors to
// naming the line of the mistake and saying what was expected, in the
// operator's words rather than Go's.
func TestErrorsSayWhereAndWhat(t *testing.T) {
	goType := regexp.MustCompile(`\binterface\b|\[\]|'u?int(8|16|32|64)?'|float64|strconv\.|decoding failed|cannot parse|unconvertible`)
	tests := []struct{ name, body, want string }{
		{"indentation inside a mapping", "listen: [\"127.0.0.1:5353\"]\nzones: z\ngeoip:\n  city: a\nhttp:\n  listen: 127.0.0.1:9153\n  token: \"\"\n allowed_networks: [\"127.0.0.0/8\"]\nlog:\n  level: info\n",
			`meridian.yaml:8: did not find expected key (this line is not indented like`},
		{"top-level key indented below a comment", "# Meridian\nlisten: [\"127.0.0.1:5353\"]\nzones: z\ngeoip:\n  city: a\nlog:\n  level: info\n http:\n  listen: 127.0.0.1:9153\n",
			`meridian.yaml:8: did not find expected key (this line is not indented like`},
		{"top-level key indented", "listen: [\"127.0.0.1:5353\"]\nzones: z\nlog:\n  level: info\n  format: text\n server_id: x\n",
			`meridian.yaml:6: did not find expected key`},
		{"key indented too far", "log:\n  level: info\n   format: text\n", `meridian.yaml:3: mapping values are not allowed in this context (check this line's indentation`},
		{"unknown key near a known one", "listen: [\"127.0.0.1:53\"]\nlsten: x\n", `meridian.yaml:2: unknown key "lsten"; did you mean "listen"?`},
		{"unknown nested key", "geoip:\n  city: a\n  cty: b\n", `meridian.yaml:3: unknown key "geoip.cty"; did you mean "geoip.city"?`},
		{"unknown key far from any", "degraded_tll: 5\n", `meridian.yaml:1: unknown key "degraded_tll"`},
		{"number", "udp_size: abc\n", `meridian.yaml:1: udp_size: "abc" is not a whole number`},
		{"boolean", "chaos: maybe\n", `meridian.yaml:1: chaos: "maybe" is not true or false`},
		{"fraction", "log:\n  query_sample: lots\n", `meridian.yaml:2: log.query_sample: "lots" is not a number`},
		{"duration", "startup_grace: soon\n", `meridian.yaml:1: startup_grace: "soon" is not a duration such as "10s"`},
		{"duration without a unit", "tcp:\n  idle_timeout: 10\n", `meridian.yaml:2: tcp.idle_timeout: "10" is not a duration such as "10s"`},
		{"list where one value goes", "zones: [a, b]\n", `meridian.yaml:1: zones: a list is not a single value`},
		{"mapping where a list goes", "listen: {a: b}\n", `meridian.yaml:1: listen: a mapping is not a list`},
		{"mapping where a section goes", "geoip: here\n", `meridian.yaml:1: geoip: "here" is not a mapping`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(writeConfig(t, tc.body), nil)
			if err == nil {
				t.Fatal("loaded without error")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q\ndoes not contain %q", err, tc.want)
			}
			if m := goType.FindString(err.Error()); m != "" {
				t.Errorf("error %q shows Go's %q", err, m)
			}
		})
	}
	if _, err := Load(writeConfig(t, "degraded_tll: 5\n"), nil); err != nil && strings.Contains(err.Error(), "did you mean") {
		t.Errorf("a suggestion for a key near no known one: %v", err)
	}
}

// TestEnvironmentErrorsNameTheKey holds values from the environment, which
// have no line, to errors that name the key and what it should be.
func TestEnvironmentErrorsNameTheKey(t *testing.T) {
	for _, tc := range []struct{ env, value, want string }{
		{"MERIDIAN_UDP_SIZE", "big", `udp_size: "big" (from MERIDIAN_UDP_SIZE) is not a whole number`},
		{"MERIDIAN_CHAOS", "perhaps", `chaos: "perhaps" (from MERIDIAN_CHAOS) is not true or false`},
		{"MERIDIAN_STARTUP_GRACE", "soon", `startup_grace: "soon" (from MERIDIAN_STARTUP_GRACE) is not a duration such as "10s"`},
	} {
		t.Run(tc.env, func(t *testing.T) {
			t.Setenv(tc.env, tc.value)
			_, err := Load("", nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want it to contain %q", err, tc.want)
			}
		})
	}
}
