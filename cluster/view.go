package cluster

import (
	"fmt"
	"strings"

	"github.com/meridian-dns/meridian/healthcheck"
)

// Text says in one line how the fleet decided the target, for
// explanations: "fleet: down (2 of 3 observers: ns1 down, ns2 down, ns3 up)",
// and when this instance's own probes disagree, what they say.
func (v TargetView) Text() string {
	if len(v.Observers) == 0 {
		return fmt.Sprintf("fleet: %s (no observer has a fresh verdict)", v.Verdict)
	}
	down := 0
	views := make([]string, len(v.Observers))
	for i, o := range v.Observers {
		if o.State == healthcheck.StateDown {
			down++
		}
		views[i] = o.Instance + " " + o.State.String()
	}
	text := fmt.Sprintf("fleet: %s (%d of %d observers down: %s)", v.Verdict, down, len(v.Observers), strings.Join(views, ", "))
	if v.Own != healthcheck.StateUnknown && v.Own != v.Verdict {
		text += fmt.Sprintf("; this instance's probes say %s", v.Own)
	}
	return text
}
