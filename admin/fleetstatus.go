package admin

import (
	"context"
	"net/http"

	"github.com/meridian-dns/meridian/cluster"
)

// FleetReader reads the fleet as etcd holds it: the published zone
// revision and every live instance with what it serves.
type FleetReader func(context.Context) (cluster.Fleet, error)

// fleetStatus answers GET /api/v1/fleet with the fleet's live instances,
// the zone revision and serials each serves, its contact with etcd and
// its health disagreements (what meridian fleet status prints).
func (s *Server) fleetStatus(w http.ResponseWriter, r *http.Request) {
	if s.deps.FleetStatus == nil {
		writeError(w, http.StatusNotFound, "no cluster is configured: this instance runs alone")
		return
	}
	f, err := s.deps.FleetStatus(r.Context())
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "reading the fleet from etcd: %v", err)
		return
	}
	writeJSON(w, http.StatusOK, f)
}
