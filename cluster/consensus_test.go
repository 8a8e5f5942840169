package cluster

import (
	"testing"

	"github.com/meridian-dns/meridian/healthcheck"
)

func TestDecide(t *testing.T) {
	const (
		U  = healthcheck.StateUnknown
		Up = healthcheck.StateUp
		Dn = healthcheck.StateDown
	)
	cases := []struct {
		rule     Rule
		up, down int
		want     healthcheck.State
	}{
		{Majority, 0, 0, U},
		{Majority, 1, 0, Up},
		{Majority, 0, 1, Dn},
		{Majority, 2, 1, Up}, // one broken path moves nobody
		{Majority, 1, 2, Dn}, // most observers see the outage
		{Majority, 1, 1, Up}, // a tie is not a majority
		{Majority, 2, 2, Up},
		{Majority, 4, 5, Dn},
		{Majority, 49, 1, Up},
		{Any, 0, 0, U},
		{Any, 3, 0, Up},
		{Any, 3, 1, Dn},
		{Any, 0, 1, Dn},
		{All, 0, 0, U},
		{All, 0, 3, Dn},
		{All, 1, 2, Up},
		{All, 0, 1, Dn},
		{AtLeast(2), 0, 0, U},
		{AtLeast(2), 2, 1, Up},
		{AtLeast(2), 1, 2, Dn},
		{AtLeast(2), 5, 2, Dn},
		{AtLeast(2), 0, 1, Dn}, // fewer than 2 report: every one that reports
		{AtLeast(2), 1, 0, Up},
		{AtLeast(3), 0, 2, Dn},
		{AtLeast(3), 1, 2, Up},
		{AtLeast(1), 9, 1, Dn},
		{AtLeast(0), 1, 1, Dn}, // AtLeast clamps to 1
		{Majority, -1, -1, U},  // nonsense counts count as none
		{Rule{}, 1, 2, Dn},     // the zero Rule is Majority
	}
	for _, c := range cases {
		if got := Decide(c.rule, c.up, c.down); got != c.want {
			t.Errorf("Decide(%s, up %d, down %d) = %s, want %s", c.rule, c.up, c.down, got, c.want)
		}
	}
}

func TestParseRule(t *testing.T) {
	for _, c := range []struct {
		in   string
		want Rule
	}{{"majority", Majority}, {"any", Any}, {"all", All}, {"1", AtLeast(1)}, {"3", AtLeast(3)}} {
		got, err := ParseRule(c.in)
		if err != nil || got != c.want {
			t.Errorf("ParseRule(%q) = %v, %v; want %v", c.in, got, err, c.want)
		}
		if got.String() != c.in {
			t.Errorf("ParseRule(%q).String() = %q", c.in, got.String())
		}
	}
	for _, bad := range []string{"", "Majority", "0", "-1", "02", "1.5", "most", " 2"} {
		if r, err := ParseRule(bad); err == nil {
			t.Errorf("ParseRule(%q) = %v, want an error", bad, r)
		}
	}
}
