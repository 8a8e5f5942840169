package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/meridian-dns/meridian/app/health"
	"github.com/meridian-dns/meridian/healthcheck"
)

// OperatorState is where the API's drains, undrains and weights are kept
// and applied, with the record of who changed what. An instance alone
// keeps them in its admin_state file and its changes in memory (the
// default); a fleet keeps both in etcd (cluster.Operator), so that a
// change made on one instance reaches all.
type OperatorState interface {
	// Apply stores e and applies it, and records c with its Time, Old and
	// New filled in; it returns the change as recorded. An error leaves
	// the operator state as it was.
	Apply(ctx context.Context, e healthcheck.Edit, c healthcheck.Change) (healthcheck.Change, error)
	// Changes returns up to n of the most recent changes, newest first.
	Changes(ctx context.Context, n int) ([]healthcheck.Change, error)
}

// ErrNotStored is returned by an OperatorState that has nowhere to keep a
// change (no admin_state file and no cluster).
var ErrNotStored = errors.New("admin_state is not configured, so drains and weights cannot be persisted; set admin_state in the configuration")

// fileState is the OperatorState of an instance alone: the admin_state
// file, the overrides in force in the health view, and changes in memory.
type fileState struct {
	path   string
	health *health.View
	log    *healthcheck.ChangeLog
	// mu serialises edits so that concurrent requests do not lose updates.
	mu sync.Mutex
}

func (f *fileState) Apply(_ context.Context, e healthcheck.Edit, c healthcheck.Change) (healthcheck.Change, error) {
	if f.path == "" {
		return c, ErrNotStored
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	cur := f.health.Overrides()
	next, err := cur.Apply(e)
	if err != nil {
		return c, err
	}
	if err := next.Save(f.path); err != nil {
		return c, fmt.Errorf("persisting to %s: %w", f.path, err)
	}
	f.health.SetOverrides(next)
	c.Time, c.Old, c.New = time.Now().UTC(), cur.Current(e), e.Value()
	f.log.Add(c)
	return c, nil
}

func (f *fileState) Changes(_ context.Context, n int) ([]healthcheck.Change, error) {
	return f.log.Recent(n), nil
}

// decodeBody decodes a JSON request body of at most 64 KiB into v,
// refusing unknown fields and trailing data.
func decodeBody(w http.ResponseWriter, r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil && dec.More() {
		err = errors.New("trailing data after the JSON object")
	}
	return err
}

// edit stores and applies e through the operator state, records and logs
// who asked, and reports whether it succeeded; on failure it has written
// the error response.
func (s *Server) edit(w http.ResponseWriter, r *http.Request, action string, e healthcheck.Edit, target []any) (healthcheck.Change, bool) {
	name, err := e.Target()
	if err != nil {
		writeError(w, http.StatusBadRequest, "%v", err)
		return healthcheck.Change{}, false
	}
	c := healthcheck.Change{Client: r.RemoteAddr, Auth: tokenName(r), Action: action, Target: name}
	c, err = s.operator.Apply(r.Context(), e, c)
	switch {
	case errors.Is(err, ErrNotStored):
		writeError(w, http.StatusConflict, "%v", err)
		return c, false
	case err != nil:
		writeError(w, http.StatusServiceUnavailable, "the change was not made: %v", err)
		return c, false
	}
	s.changed(r, action, append(target, "from", c.Old, "to", c.New)...)
	return c, true
}

// weightRequest names an endpoint of a service and its runtime weight;
// a null or absent weight clears it.
type weightRequest struct {
	Service  string `json:"service"`
	Endpoint string `json:"endpoint"`
	Weight   *int   `json:"weight"`
}

// weight is POST /api/v1/weight: it sets (or, with "weight": null,
// clears) an endpoint's runtime weight.
func (s *Server) weight(w http.ResponseWriter, r *http.Request) {
	var req weightRequest
	if err := decodeBody(w, r, &req); err != nil {
		writeError(w, http.StatusBadRequest, "body must be JSON {\"service\":..., \"endpoint\":..., \"weight\": N or null}: %s", jsonProblem(err))
		return
	}
	if req.Service == "" || req.Endpoint == "" {
		writeError(w, http.StatusBadRequest, "name the service and the endpoint")
		return
	}
	e := healthcheck.Edit{Kind: healthcheck.EditWeight, Name: req.Service, Item: req.Endpoint, Weight: -1}
	if req.Weight != nil {
		if err := healthcheck.CheckWeight(*req.Weight); err != nil {
			writeError(w, http.StatusBadRequest, "%v", err)
			return
		}
		e.Weight = *req.Weight
	}
	if findEndpoint(s.deps.Zones.Current(), req.Service, req.Endpoint) == nil {
		writeError(w, http.StatusNotFound, "no endpoint %s in service %s", req.Endpoint, req.Service)
		return
	}
	c, ok := s.edit(w, r, "weight", e, []any{"service", req.Service, "endpoint", req.Endpoint})
	if !ok {
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"result": "weighted", "target": c.Target, "old": c.Old, "new": c.New})
}

// maxChangesListed bounds GET /api/v1/changes.
const maxChangesListed = healthcheck.DefaultChangesKept

// changes is GET /api/v1/changes?limit=N: the most recent changes of
// operator state, newest first (100 unless limit says otherwise).
func (s *Server) changes(w http.ResponseWriter, r *http.Request) {
	n := 100
	if l := r.URL.Query().Get("limit"); l != "" {
		v, err := strconv.Atoi(l)
		if err != nil || v < 1 || v > maxChangesListed {
			writeError(w, http.StatusBadRequest, "limit %q is not a number from 1 to %d", l, maxChangesListed)
			return
		}
		n = v
	}
	list, err := s.operator.Changes(r.Context(), n)
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "reading the changes: %v", err)
		return
	}
	if list == nil {
		list = []healthcheck.Change{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"changes": list})
}
