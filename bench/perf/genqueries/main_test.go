package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/meridian-dns/meridian/bench/dnsperfinput"
)

// TestDO writes the ECS mix and a spec's queries with and without -do:
// with it every query sets the DNSSEC OK bit, and apart from that bit the
// queries are the same.
func TestDO(t *testing.T) {
	dir := t.TempDir()
	spec := filepath.Join(dir, "static.txt")
	if err := os.WriteFile(spec, []byte("example.com. SOA\nwww.example.com. A 85.176.0.0/24\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"ecs mix", []string{"-ecs-mix", "100", "-networks", benchCSV, "-seed", "13"}},
		{"spec", []string{spec}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			gen := func(do bool) []byte {
				out := filepath.Join(t.TempDir(), "queries.bin")
				args := append([]string{"-o", out}, tc.args...)
				if do {
					args = append([]string{"-do"}, args...)
				}
				var stderr bytes.Buffer
				if err := run(args, &stderr); err != nil {
					t.Fatalf("genqueries %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
				}
				if got := strings.Contains(stderr.String(), "with the DO bit"); got != do {
					t.Errorf("genqueries %s says %q", strings.Join(args, " "), stderr.String())
				}
				b, err := os.ReadFile(out)
				if err != nil {
					t.Fatal(err)
				}
				return b
			}
			plain, err := dnsperfinput.ReadBinary(gen(false))
			if err != nil {
				t.Fatal(err)
			}
			signed, err := dnsperfinput.ReadBinary(gen(true))
			if err != nil {
				t.Fatal(err)
			}
			if len(plain) == 0 || len(signed) != len(plain) {
				t.Fatalf("%d queries without -do, %d with it", len(plain), len(signed))
			}
			for i := range plain {
				p, s := plain[i].IsEdns0(), signed[i].IsEdns0()
				if p == nil || s == nil || p.Do() || !s.Do() {
					t.Fatalf("query %d: OPT %v without -do and %v with it, want DO clear and set", i, p, s)
				}
				s.SetDo(false)
				if plain[i].String() != signed[i].String() {
					t.Errorf("query %d differs beyond the DO bit:\n%s\nwith -do:\n%s", i, plain[i], signed[i])
				}
			}
		})
	}
}
