package zones

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/meridian-dns/meridian/healthcheck/check"
)

// Check is one health check of a zone, as its services use it.
type Check struct {
	// Name is the check's key under checks:.
	Name string
	// Spec is the check with its defaults applied.
	Spec check.Spec
	// PortDefaulted is true when the zone file gives no port, so that
	// Spec.Port is the default of the check's type (80 for http, 443 for
	// https, 53 for dns).
	PortDefaulted bool
	// File and Line are where the check is defined.
	File string
	Line int
}

// Checks returns the zone's health checks in file order.
func (z *Zone) Checks() []*Check { return z.checks }

// Check returns the zone's check with the given name, or nil.
func (z *Zone) Check(name string) *Check {
	for _, c := range z.checks {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// Warnings returns what in the zone is allowed but probably not what was
// meant, each as "file:line: message". They are not errors: the zone
// loads and is served.
func (z *Zone) Warnings() []string { return z.warnings }

// Inputs returns the files the zone was built from: its zone file, then
// its records_file when it has one (not its DNSSEC keys).
func (z *Zone) Inputs() []string { return z.inputs }

// addChecks records the checks of f.
func (b *builder) addChecks(f *File) {
	for _, name := range f.Checks.Keys {
		c := f.Checks.Values[name]
		spec := c.spec
		spec.Name = name
		b.zone.checks = append(b.zone.checks, &Check{
			Name: name, Spec: spec, PortDefaulted: !c.portGiven,
			File: b.path, Line: f.Checks.Lines[name],
		})
	}
}

// warnDefaultPorts warns about http and https checks that take their
// type's default port while what they probe looks like a health endpoint
// of its own: a check_address apart from the answered address, or a
// loopback address. Such endpoints seldom listen on port 80 or 443, and a
// wrong port takes every endpoint down without any error.
func (b *builder) warnDefaultPorts() {
	for _, c := range b.zone.checks {
		if !c.PortDefaulted || (c.Spec.Type != check.HTTP && c.Spec.Type != check.HTTPS) {
			continue
		}
		var hints []string
		for _, s := range b.zone.services {
			if s.Check == nil || s.Check.Name != c.Name {
				continue
			}
			for _, ep := range s.Endpoints {
				var why string
				switch {
				case ep.CheckAddress != ep.Address:
					why = "its check_address"
				case ep.CheckAddress.IsLoopback():
					why = "a loopback address"
				default:
					continue
				}
				hints = append(hints, fmt.Sprintf("%s for %s (%s)", netip.AddrPortFrom(ep.CheckAddress, uint16(c.Spec.Port)), ep.Key, why))
			}
		}
		if len(hints) == 0 {
			continue
		}
		more := ""
		if len(hints) > 3 {
			more = fmt.Sprintf(" and %d more", len(hints)-3)
			hints = hints[:3]
		}
		b.zone.warnings = append(b.zone.warnings, fmt.Sprintf(
			"%s:%d: check %s has no port, so it probes port %d, the %s default, at %s%s: if the health endpoint listens on another port, set port: under checks: %s",
			c.File, c.Line, c.Name, c.Spec.Port, c.Spec.Type, strings.Join(hints, ", "), more, c.Name))
	}
}
