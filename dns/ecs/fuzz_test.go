package ecs_test

import (
	"errors"
	"testing"

	"github.com/meridian-dns/meridian/dns/ecs"
)

// FuzzParse feeds arbitrary option data to the parser: it must return a
// subnet whose address fits its family and prefix, or ErrMalformed, and a
// parsed subnet must survive a round trip through the reply option.
func FuzzParse(f *testing.F) {
	for _, seed := range [][]byte{
		{0, 1, 24, 0, 192, 0, 2},
		{0, 2, 48, 0, 0x20, 0x01, 0x0d, 0xb8, 0, 1},
		{0, 1, 0, 0},
		{0, 0, 0, 0},
		{0, 3, 24, 0, 1, 2, 3},
		{0, 1, 33, 0, 1, 2, 3, 4, 5},
		{0, 1, 24, 0, 192, 0, 2, 1},
		{0, 1},
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := ecs.Parse(data)
		if err != nil {
			if !errors.Is(err, ecs.ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		if s.Family == 0 {
			return
		}
		p := s.Prefix()
		if !p.IsValid() || p.Masked() != p {
			t.Fatalf("parsed %v from %x: not a clean prefix", p, data)
		}
		if (s.Family == ecs.FamilyIPv4) != s.Addr.Is4() {
			t.Fatalf("family %d with address %v", s.Family, s.Addr)
		}
		o := s.Option(uint8(s.SourceBits))
		if o.SourceNetmask != s.SourceBits || o.Family != s.Family {
			t.Fatalf("reply option %v does not echo %v", o, s)
		}
	})
}
