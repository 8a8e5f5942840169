package check

import (
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

func TestMinHealthyYAML(t *testing.T) {
	tests := []struct {
		src     string
		want    string
		wantErr string
	}{
		{"min_healthy: 1", "1", ""},
		{"min_healthy: 3", "3", ""},
		{`min_healthy: "50%"`, "50%", ""},
		{"min_healthy: 100%", "100%", ""},
		{"min_healthy: 0", "", `line 1: min_healthy "0" must be a count of at least 1`},
		{"min_healthy: -2", "", "must be a count of at least 1"},
		{`min_healthy: "0%"`, "", "must be a percentage from 1% to 100%"},
		{`min_healthy: "150%"`, "", "must be a percentage from 1% to 100%"},
		{`min_healthy: "half"`, "", "must be a count of at least 1 or a percentage"},
		{"min_healthy: [1]", "", "line 1: min_healthy must be a count or a percentage"},
	}
	for _, tc := range tests {
		t.Run(tc.src, func(t *testing.T) {
			var v struct {
				MinHealthy MinHealthy `yaml:"min_healthy"`
			}
			err := yaml.Unmarshal([]byte(tc.src), &v)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Errorf("error = %v, want it to contain %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Unmarshal: %v", err)
			}
			if got := v.MinHealthy.String(); got != tc.want {
				t.Errorf("MinHealthy = %q, want %q", got, tc.want)
			}
			out, err := yaml.Marshal(v)
			if err != nil || strings.TrimSpace(string(out)) != strings.ReplaceAll(tc.src, `"`, "") {
				t.Errorf("Marshal = %q, %v; want %q", out, err, tc.src)
			}
		})
	}
}

func TestRegionUp(t *testing.T) {
	pct := func(s string) MinHealthy {
		m, err := ParseMinHealthy(s)
		if err != nil {
			t.Fatalf("ParseMinHealthy(%q): %v", s, err)
		}
		return m
	}
	tests := []struct {
		name      string
		up, total int
		min       MinHealthy
		required  int
		want      bool
	}{
		{"zero value means one", 1, 3, MinHealthy{}, 1, true},
		{"zero value, none up", 0, 3, MinHealthy{}, 1, false},
		{"count met", 2, 4, MinHealthyCount(2), 2, true},
		{"count missed", 1, 4, MinHealthyCount(2), 2, false},
		{"count capped at region size", 1, 1, MinHealthyCount(2), 1, true},
		{"50% of 4", 2, 4, pct("50%"), 2, true},
		{"50% of 3 rounds up", 1, 3, pct("50%"), 2, false},
		{"50% of 3 met", 2, 3, pct("50%"), 2, true},
		{"1% is at least one", 0, 10, pct("1%"), 1, false},
		{"1% of 10 met by one", 1, 10, pct("1%"), 1, true},
		{"100% needs all", 4, 5, pct("100%"), 5, false},
		{"empty region is never up", 0, 0, MinHealthyCount(1), 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.min.Required(tc.total); got != tc.required {
				t.Errorf("Required(%d) = %d, want %d", tc.total, got, tc.required)
			}
			if got := RegionUp(tc.up, tc.total, tc.min); got != tc.want {
				t.Errorf("RegionUp(%d, %d, %s) = %v, want %v", tc.up, tc.total, tc.min, got, tc.want)
			}
		})
	}
}
