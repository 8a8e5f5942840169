package diag

import (
	"errors"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

func TestClosest(t *testing.T) {
	regions := []string{"us-east", "eu-central", "eu-west", "ap-south"}
	for _, tc := range []struct {
		name       string
		candidates []string
		want       string
	}{
		{"eu-cental", regions, "eu-central"},
		{"eu-wset", regions, "eu-west"},
		{"EU-West", regions, "eu-west"},
		{"us-est", regions, "us-east"},
		{"af-north", regions, ""},
		{"webb", []string{"web", "api"}, "web"},
		{"degraded_tll", []string{"ttl", "degraded_ttl", "all_down"}, "degraded_ttl"},
		{"tll", []string{"ttl", "url"}, "ttl"},
		{"xyz", []string{"ttl"}, ""},
		{"ab", []string{"xy"}, ""},
		{"web", []string{"web"}, ""},
	} {
		got, ok := Closest(tc.name, tc.candidates)
		if got != tc.want || ok != (tc.want != "") {
			t.Errorf("Closest(%q) = %q, %v; want %q", tc.name, got, ok, tc.want)
		}
	}
	if got := DidYouMean("eu-cental", regions); got != `; did you mean "eu-central"?` {
		t.Errorf("DidYouMean = %q", got)
	}
	if got := DidYouMean("zz-top", regions); got != "" {
		t.Errorf("DidYouMean of nothing near = %q", got)
	}
}

func TestSyntaxErrorFindsTheLine(t *testing.T) {
	for _, tc := range []struct {
		name string
		src  string
		line int
		want string
	}{
		{"key indented less than its siblings", "listen: [\"127.0.0.1:5353\"]\nzones: z\ngeoip:\n  city: a\nhttp:\n  listen: 127.0.0.1:9153\n  token: \"\"\n allowed_networks: [\"127.0.0.0/8\"]\nlog:\n  level: info\n",
			8, "did not find expected key (this line is not indented"},
		{"top-level key indented", "listen: [\"127.0.0.1:5353\"]\nzones: z\nlog:\n  level: info\n  format: text\n server_id: x\n",
			6, "did not find expected key"},
		{"list item key out of line", "zone: a.\nservices:\n  www:\n    ttl: 30\n    endpoints:\n      - region: x\n      address: 1.2.3.4\n",
			7, "did not find expected '-' indicator"},
		{"key indented more than its siblings", "zone: a.\nsoa:\n  mname: a.\n   rname: b.\n",
			4, "mapping values are not allowed in this context (check this line's indentation"},
		{"tab", "zone: a.\nsoa:\n  mname: a.\n\trname: b.\n", 4, "tabs"},
		{"missing colon", "zone: a.\nchecks:\n  web:\n    type: http\n    port 80\n    path: /x\n", 5, "could not find expected ':'"},
		{"unclosed list", "a: [1,\n  2\nb: 3\n", 2, "is not closed"},
	} {
		var n yaml.Node
		err := yaml.Unmarshal([]byte(tc.src), &n)
		if err == nil {
			t.Fatalf("%s: parsed", tc.name)
		}
		line, msg, ok := SyntaxError([]byte(tc.src), err)
		if !ok || line != tc.line || !strings.Contains(msg, tc.want) {
			t.Errorf("%s: line %d %q (%v); want line %d, %q (go-yaml: %v)", tc.name, line, msg, ok, tc.line, tc.want, err)
		}
	}
	if _, _, ok := SyntaxError(nil, errors.New("open x: no such file")); ok {
		t.Errorf("a non-YAML error taken for a syntax error")
	}
}

func TestTypeErrorInWords(t *testing.T) {
	type inner struct {
		Location []float64 `yaml:"location"`
	}
	type doc struct {
		TTL      uint32           `yaml:"ttl"`
		NS       []string         `yaml:"ns"`
		Weight   int              `yaml:"weight"`
		Chaos    bool             `yaml:"chaos"`
		Name     string           `yaml:"name"`
		Regions  map[string]inner `yaml:"regions"`
		Interval time.Duration    `yaml:"interval"`
	}
	for _, tc := range []struct {
		src  string
		line int
		want string
	}{
		{"ttl: soon\n", 1, `ttl: "soon" is not a whole number from 0 to 4294967295`},
		{"name: x\nns: ns1.example.com.\n", 2, `ns: "ns1.example.com." is not a list`},
		{"weight: heavy\n", 1, `weight: "heavy" is not a whole number`},
		{"chaos: maybe\n", 1, `chaos: "maybe" is not true or false`},
		{"name: [a, b]\n", 1, `name: a list is not a single value`},
		{"regions:\n  us: {location: [1, north]}\n", 2, `location: "north" is not a number`},
		{"regions:\n  us: here\n", 2, `us: "here" is not a mapping`},
		{"interval: 10\n", 1, `interval: "10" is not a duration such as "10s"`},
		{"name: x\nns: a-rather-long-name.example.com.\n", 2, `ns: "a-rather-long-name.example.com." is not a list`},
	} {
		var n yaml.Node
		if err := yaml.Unmarshal([]byte(tc.src), &n); err != nil {
			t.Fatal(err)
		}
		var d doc
		err := n.Decode(&d)
		var te *yaml.TypeError
		if !errors.As(err, &te) {
			t.Fatalf("%q: %v", tc.src, err)
		}
		line, text, ok := TypeError(&n, te.Errors[0])
		if !ok || line != tc.line || !strings.Contains(text, tc.want) {
			t.Errorf("%q: line %d %q (%v); want line %d, %q (go-yaml: %v)", tc.src, line, text, ok, tc.line, tc.want, te.Errors[0])
		}
		if strings.Contains(text, "[]") || strings.Contains(text, "uint32") || strings.Contains(text, "diag.") {
			t.Errorf("%q: Go type in %q", tc.src, text)
		}
	}
}
