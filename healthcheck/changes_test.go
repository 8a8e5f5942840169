package healthcheck

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestOverridesWeights reads, writes and reads again the weights section of
// admin_state, and refuses malformed weights with the line.
func TestOverridesWeights(t *testing.T) {
	in := `endpoints:
  "www.example.com./192.0.2.10": drain
weights:
  "WWW.example.com/192.0.2.11": 5
  "www.example.com./2001:db8::1": 0
`
	o, err := ParseOverrides([]byte(in), "admin_state.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if w, ok := o.Weight("www.example.com.", "192.0.2.11"); !ok || w != 5 {
		t.Errorf("weight of 192.0.2.11: %d %v", w, ok)
	}
	if st, ok, w, hasW := o.EndpointEntry("www.example.com", "2001:DB8::1"); ok || st != "" || !hasW || w != 0 {
		t.Errorf("entry of 2001:db8::1: %q %v %d %v", st, ok, w, hasW)
	}
	path := filepath.Join(t.TempDir(), "admin_state.yaml")
	if err := o.Save(path); err != nil {
		t.Fatal(err)
	}
	again, err := LoadOverrides(path)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(again.Weights(), again.Endpoints()) != fmt.Sprint(o.Weights(), o.Endpoints()) {
		t.Errorf("saved and read again: %v %v, want %v %v", again.Weights(), again.Endpoints(), o.Weights(), o.Endpoints())
	}
	// A file without weights is written as before, without the section.
	b, err := o.WithoutWeight("www.example.com.", "192.0.2.11").WithoutWeight("www.example.com.", "2001:db8::1").Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "weights") {
		t.Errorf("no weights, yet the file has the section:\n%s", b)
	}

	for _, tc := range []struct{ body, want string }{
		{"weights:\n  \"www.example.com./192.0.2.1\": -1\n", "f:2: \"www.example.com./192.0.2.1\": weight -1 is outside 0..1000000"},
		{"weights:\n  \"www.example.com./192.0.2.1\": 1000001\n", "f:2: \"www.example.com./192.0.2.1\": weight 1000001 is outside"},
		{"weights:\n  \"www.example.com./192.0.2.1\": 1.5\n", "f:2: \"www.example.com./192.0.2.1\": weight \"1.5\" is not a whole number"},
		{"weights:\n  \"www.example.com./192.0.2.1\": \"5\"\n", "f:2: \"www.example.com./192.0.2.1\": weight \"5\" is not a whole number"},
		{"weights:\n  \"www.example.com./192.0.2.1\": 0x10\n", "is not a whole number"},
		{"weights:\n  \"www.example.com./192.0.2.1\": drain\n", "is not a whole number"},
		{"weights:\n  \"www.example.com./nope\": 1\n", "f:2: key \"www.example.com./nope\": address"},
		{"weights:\n  \"www.example.com.\": 1\n", "f:2: key \"www.example.com.\" must be"},
		{"weights:\n  \"www.example.com./192.0.2.1\": 1\n  \"WWW.example.com/192.0.2.1\": 2\n", "f:3: \"www.example.com./192.0.2.1\" is listed twice"},
		{"weights: [1]\n", "f:1: expected a mapping"},
		{"weight:\n  x: 1\n", "f:1: unknown key \"weight\" (want endpoints, regions or weights)"},
	} {
		_, err := ParseOverrides([]byte(tc.body), "f")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want it to contain %q", tc.body, err, tc.want)
		}
	}
}

// TestEditApply makes each kind of edit and reads back what it records.
func TestEditApply(t *testing.T) {
	o := NewOverrides()
	edits := []struct {
		e          Edit
		old, value string
		target     string
	}{
		{Edit{Kind: EditEndpoint, Name: "www.example.com", Item: "192.0.2.1", State: AdminDrain}, "none", "drain", "endpoint www.example.com./192.0.2.1"},
		{Edit{Kind: EditRegion, Name: "example.com.", Item: "eu", State: AdminDown}, "none", "down", "region example.com./eu"},
		{Edit{Kind: EditWeight, Name: "www.example.com.", Item: "192.0.2.1", Weight: 3}, "none", "3", "weight www.example.com./192.0.2.1"},
		{Edit{Kind: EditWeight, Name: "www.example.com.", Item: "192.0.2.1", Weight: 0}, "3", "0", "weight www.example.com./192.0.2.1"},
		{Edit{Kind: EditWeight, Name: "www.example.com.", Item: "192.0.2.1", Weight: -1}, "0", "none", "weight www.example.com./192.0.2.1"},
		{Edit{Kind: EditEndpoint, Name: "www.example.com.", Item: "192.0.2.1"}, "drain", "none", "endpoint www.example.com./192.0.2.1"},
		{Edit{Kind: EditRegion, Name: "example.com.", Item: "eu"}, "down", "none", "region example.com./eu"},
	}
	for _, tc := range edits {
		if got := o.Current(tc.e); got != tc.old {
			t.Errorf("%+v: current %q, want %q", tc.e, got, tc.old)
		}
		target, err := tc.e.Target()
		if err != nil || target != tc.target {
			t.Errorf("%+v: target %q %v, want %q", tc.e, target, err, tc.target)
		}
		next, err := o.Apply(tc.e)
		if err != nil {
			t.Fatal(err)
		}
		if got := next.Current(tc.e); got != tc.value || tc.e.Value() != tc.value {
			t.Errorf("%+v: after, %q (value %q), want %q", tc.e, got, tc.e.Value(), tc.value)
		}
		o = next
	}
	if !o.Empty() {
		t.Errorf("every edit undone, yet %v %v %v", o.Endpoints(), o.Regions(), o.Weights())
	}
	for _, e := range []Edit{
		{Kind: EditWeight, Name: "www.example.com.", Item: "192.0.2.1", Weight: MaxWeight + 1},
		{Kind: EditWeight, Name: "www.example.com.", Item: "198.51.100", Weight: 1},
		{Kind: EditWeight, Name: "www.example.com.", Item: "host", Weight: 1},
		{Kind: EditEndpoint, Name: "www.example.com.", Item: "192.0.2.1", State: "drained"},
		{Kind: EditRegion, Name: "example.com.", Item: "eu west", State: AdminDown},
	} {
		if _, err := o.Apply(e); err == nil {
			t.Errorf("%+v applied", e)
		}
	}
}

// TestMerge puts one set over another: the upper one wins where both name
// a target.
func TestMerge(t *testing.T) {
	file, _ := NewOverrides().WithEndpoint("www.example.com.", "192.0.2.1", AdminDown)
	file, _ = file.WithWeight("www.example.com.", "192.0.2.2", 4)
	fleet, _ := NewOverrides().WithEndpoint("www.example.com.", "192.0.2.1", AdminDrain)
	fleet, _ = fleet.WithRegion("example.com.", "eu", AdminDrain)
	m := file.Merge(fleet)
	if st, _ := m.Endpoint("www.example.com.", "192.0.2.1"); st != AdminDrain {
		t.Errorf("merged endpoint %q, want the fleet's drain", st)
	}
	if w, _ := m.Weight("www.example.com.", "192.0.2.2"); w != 4 {
		t.Errorf("merged weight %d, want the file's 4", w)
	}
	if _, ok := m.Region("example.com.", "eu"); !ok {
		t.Error("merged region lost")
	}
	if st, _ := file.Endpoint("www.example.com.", "192.0.2.1"); st != AdminDown {
		t.Error("Merge changed its receiver")
	}
}

// TestChangeLog keeps the last changes, newest first.
func TestChangeLog(t *testing.T) {
	l := NewChangeLog(3)
	for i := range 5 {
		l.Add(Change{Action: "weight", New: fmt.Sprint(i)})
	}
	var got []string
	for _, c := range l.Recent(0) {
		got = append(got, c.New)
	}
	if strings.Join(got, ",") != "4,3,2" {
		t.Errorf("recent %v, want 4,3,2", got)
	}
	if r := l.Recent(1); len(r) != 1 || r[0].New != "4" {
		t.Errorf("recent 1: %v", r)
	}
}

// TestOperationsAdminStateExample loads the admin_state example of
// docs/operations.md, weights included.
func TestOperationsAdminStateExample(t *testing.T) {
	b, err := os.ReadFile("../docs/operations.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), "# /var/lib/meridian/admin_state.yaml\n")
	if !ok {
		t.Fatal("docs/operations.md has no admin_state example")
	}
	example, _, _ := strings.Cut(rest, "```")
	o, err := ParseOverrides([]byte(example), "docs/operations.md")
	if err != nil {
		t.Fatal(err)
	}
	if len(o.Endpoints()) == 0 || len(o.Regions()) == 0 || len(o.Weights()) == 0 {
		t.Errorf("the example sets %v %v %v; want an endpoint, a region and a weight", o.Endpoints(), o.Regions(), o.Weights())
	}
}
