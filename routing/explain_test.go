package routing

import (
	"strings"
	"testing"

	"github.com/miekg/dns"

	"github.com/meridian-dns/meridian/zones"
)

// explainingHealth is testHealth that says where each checked endpoint's
// state came from.
type explainingHealth struct{ testHealth }

func (explainingHealth) ExplainEndpoint(ep *zones.Endpoint) string {
	return "fleet: up (checked " + ep.Ident + ")"
}

func TestExplainHealthNotes(t *testing.T) {
	z := loadZone(t, testRegions+`
checks:
  web: { type: tcp, port: 80 }
services:
  www:
    check: web
    endpoints:
      - { region: eu-west, address: 198.51.100.10 }
      - { region: us-east, address: 192.0.2.1 }
  plain:
    endpoints:
      - { region: us-east, address: 192.0.2.9 }
`)
	c := client("20.4.1.0", 24)
	h := explainingHealth{newTestHealth("www", nil, nil)}

	s := service(t, z, "www")
	d := newRouter(t, testGeo(t), h).Decide(s, dns.TypeA, c, true)
	text := strings.Join(Explain(s, dns.TypeA, c, d), "\n")
	for _, want := range []string{
		"endpoint 198.51.100.10 (eu-west): fleet: up (checked 198.51.100.10)",
		"endpoint 192.0.2.1 (us-east): fleet: up (checked 192.0.2.1)",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("explanation lacks %q:\n%s", want, text)
		}
	}

	// An endpoint without a check has nothing to explain, and a Health
	// that is not an EndpointExplainer adds nothing.
	plain := service(t, z, "plain")
	d = newRouter(t, testGeo(t), h).Decide(plain, dns.TypeA, c, true)
	if text := strings.Join(Explain(plain, dns.TypeA, c, d), "\n"); strings.Contains(text, "fleet:") {
		t.Errorf("an unchecked endpoint is explained:\n%s", text)
	}
	d = newRouter(t, testGeo(t), h.testHealth).Decide(s, dns.TypeA, c, true)
	if len(d.HealthNotes) != 0 {
		t.Errorf("notes without an explainer: %q", d.HealthNotes)
	}
}
