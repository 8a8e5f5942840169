package routing

import (
	"fmt"
	"strings"

	"github.com/meridian-dns/meridian/zones"
)

// Explain renders a decision made with explain set as lines of text, the
// same for `meridian explain`, the admin API and _explain TXT queries.
func Explain(s *zones.Service, qtype uint16, c Client, d Decision) []string {
	var out []string
	add := func(format string, args ...any) { out = append(out, fmt.Sprintf(format, args...)) }
	src := "resolver address"
	if c.SourceBits >= 0 {
		src = fmt.Sprintf("client subnet /%d", c.SourceBits)
	}
	add("service %s (%s, routing %s, select %s, answers %s)", s.Name, typeName(qtype), s.Routing, s.Select, answersText(s.Answers))
	add("client %s (%s)", c.Addr, src)
	add("location %s", d.Location)
	if d.NoData {
		add("no region has %s endpoints: NODATA", typeName(qtype))
		return out
	}
	add("rule %s chose region %s", d.Rule, d.Preferred.Name)
	for i, cand := range d.Candidates {
		dist := "distance unknown"
		if cand.Distance >= 0 {
			dist = fmt.Sprintf("%.0f km", cand.Distance)
		}
		state := "down"
		if cand.Up {
			state = "up"
		}
		add("candidate %d: %s, %s, %s (%d/%d endpoints healthy)", i+1, cand.Region.Name, dist, state, cand.Healthy, cand.Total)
	}
	for _, note := range d.HealthNotes {
		add("%s", note)
	}
	switch {
	case d.AllDown:
		add("every region is down: serving %s as if healthy", d.Region.Name)
	case d.Degraded:
		add("failover: %s is down, answering from %s", d.Preferred.Name, d.Region.Name)
	default:
		add("answering from %s", d.Region.Name)
	}
	var eps []string
	for _, ep := range d.Endpoints {
		if ep.CNAME != "" {
			eps = append(eps, "CNAME "+ep.CNAME)
		} else {
			eps = append(eps, ep.Address.String())
		}
	}
	add("endpoints %s", strings.Join(eps, " "))
	add("ttl %d, ecs scope /%d", d.TTL, d.Scope)
	return out
}

func typeName(qtype uint16) string {
	if qtype == 28 {
		return "AAAA"
	}
	return "A"
}

func answersText(n int) string {
	if n == 0 {
		return "all"
	}
	return itoa(n)
}

// EndpointExplainer is a Health that can say more about a checked
// endpoint's state than up or down: where the verdict came from, such as
// the fleet's decision and each observer's view. Explanations ask for it
// when the Health implements it; ExplainEndpoint returns "" when it has
// nothing to add.
type EndpointExplainer interface {
	ExplainEndpoint(ep *zones.Endpoint) string
}

// healthNotes asks hv, when it is an EndpointExplainer, about the checked
// endpoints of every candidate region, as "endpoint IDENT (REGION): NOTE".
func healthNotes(hv Health, s *zones.Service, qtype uint16, candidates []Candidate) []string {
	ex, ok := hv.(EndpointExplainer)
	if !ok {
		return nil
	}
	var notes []string
	for _, cand := range candidates {
		pool := countedPool(s, cand.Region, qtype)
		if pool == nil {
			continue
		}
		for _, ep := range pool.Endpoints {
			if !ep.Checked {
				continue
			}
			if note := ex.ExplainEndpoint(ep); note != "" {
				notes = append(notes, fmt.Sprintf("endpoint %s (%s): %s", ep.Ident, cand.Region.Name, note))
			}
		}
	}
	return notes
}
