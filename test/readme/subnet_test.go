package readme

import (
	"strings"
	"testing"
)

// TestReadmeShowsClientSubnet holds every dig command of the walk-through
// that sends a client subnet to showing the CLIENT-SUBNET line dig prints
// for the reply: the scope it carries is half of what the example shows.
func TestReadmeShowsClientSubnet(t *testing.T) {
	n := 0
	for _, c := range readmeCommands(t) {
		if !strings.Contains(strings.Join(c.args, " "), "+subnet=") || strings.Contains(strings.Join(c.args, " "), "+short") {
			continue
		}
		n++
		shown := false
		for _, w := range c.want {
			shown = shown || strings.HasPrefix(w, "; CLIENT-SUBNET: ")
		}
		if !shown {
			t.Errorf("README: dig %s is shown without its CLIENT-SUBNET line", strings.Join(c.args, " "))
		}
	}
	if n < 5 {
		t.Errorf("found only %d dig commands with +subnet", n)
	}
}
