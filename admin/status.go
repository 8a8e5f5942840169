package admin

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/miekg/dns"

	"github.com/meridian-dns/meridian/healthcheck"
	"github.com/meridian-dns/meridian/routing"
	"github.com/meridian-dns/meridian/zones"
)

// Status is the JSON document of GET /api/v1/status.
type Status struct {
	Version  string       `json:"version"`
	ServerID string       `json:"server_id,omitempty"`
	Time     time.Time    `json:"time"`
	Ready    bool         `json:"ready"`
	Waiting  []string     `json:"waiting_for,omitempty"`
	Zones    []ZoneStatus `json:"zones"`
	// Cluster is this instance's standing in its fleet; nil without one.
	Cluster *ClusterStatus `json:"cluster,omitempty"`
}

// ZoneStatus is one zone.
type ZoneStatus struct {
	Name     string          `json:"name"`
	Serial   uint32          `json:"serial"`
	Records  int             `json:"records"`
	File     string          `json:"file"`
	Regions  []RegionInfo    `json:"regions"`
	Services []ServiceStatus `json:"services"`
}

// RegionInfo is a region's place and maps.
type RegionInfo struct {
	Name       string   `json:"name"`
	Latitude   float64  `json:"latitude"`
	Longitude  float64  `json:"longitude"`
	Countries  []string `json:"countries,omitempty"`
	Continents []string `json:"continents,omitempty"`
	Admin      string   `json:"admin,omitempty"`
}

// ServiceStatus is one service with the health of its regions and
// endpoints.
type ServiceStatus struct {
	Name      string           `json:"name"`
	Routing   string           `json:"routing"`
	Select    string           `json:"select"`
	TTL       uint32           `json:"ttl"`
	Check     string           `json:"check,omitempty"`
	AllDown   string           `json:"all_down"`
	Regions   []RegionHealth   `json:"regions"`
	Endpoints []EndpointStatus `json:"endpoints"`
}

// RegionHealth is a region as one service sees it.
type RegionHealth struct {
	Name    string `json:"name"`
	Up      bool   `json:"up"`
	Healthy int    `json:"healthy"`
	Total   int    `json:"total"`
}

// EndpointStatus is one endpoint's state.
type EndpointStatus struct {
	Region    string     `json:"region"`
	Address   string     `json:"address"`
	Weight    int        `json:"weight"`
	State     string     `json:"state"` // up, down, drained
	Probe     string     `json:"probe"` // up, down, unknown, unchecked
	Admin     string     `json:"admin,omitempty"`
	LatencyMS float64    `json:"latency_ms,omitempty"`
	Load      *float64   `json:"load,omitempty"`
	LastError string     `json:"last_error,omitempty"`
	LastProbe *time.Time `json:"last_probe,omitempty"`
	Since     *time.Time `json:"since,omitempty"`
	// Fleet is the fleet's verdict and each observer's view of the
	// endpoint's check, with a cluster configured.
	Fleet *FleetView `json:"fleet,omitempty"`
	// ZoneWeight is the zone file's weight when an operator set Weight at
	// runtime.
	ZoneWeight *int `json:"zone_weight,omitempty"`
}

func (s *Server) status(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, BuildStatus(s.deps))
}

// BuildStatus assembles the status document from the running state.
func BuildStatus(deps Deps) Status {
	st := Status{Version: deps.Version, ServerID: deps.ServerID, Time: time.Now().UTC()}
	if deps.Ready != nil {
		st.Waiting = deps.Ready()
	}
	st.Ready = len(st.Waiting) == 0
	if deps.Fleet != nil {
		st.Cluster = clusterStatus(deps.Fleet.State())
	}
	var probes *healthcheck.StatusMap
	if deps.Checker != nil {
		probes = deps.Checker.Status()
	}
	overrides := deps.Health.Overrides()
	snap := deps.Zones.Current()
	for _, z := range snap.Zones() {
		zs := ZoneStatus{Name: z.Origin, Serial: z.Serial, Records: z.Records, File: z.File,
			Regions: []RegionInfo{}, Services: []ServiceStatus{}}
		for _, r := range z.Regions() {
			ri := RegionInfo{Name: r.Name, Latitude: r.Latitude, Longitude: r.Longitude, Countries: r.Countries, Continents: r.Continents}
			if a, ok := overrides.Region(z.Origin, r.Name); ok {
				ri.Admin = string(a)
			}
			zs.Regions = append(zs.Regions, ri)
		}
		for _, svc := range z.Services() {
			zs.Services = append(zs.Services, serviceStatus(deps, svc, probes, overrides))
		}
		st.Zones = append(st.Zones, zs)
	}
	return st
}

func serviceStatus(deps Deps, svc *zones.Service, probes *healthcheck.StatusMap, overrides *healthcheck.Overrides) ServiceStatus {
	ss := ServiceStatus{Name: svc.Name, Routing: svc.Routing.String(), Select: svc.Select.String(), TTL: svc.TTL,
		AllDown: svc.AllDown.String(), Endpoints: []EndpointStatus{}, Regions: []RegionHealth{}}
	if svc.Check != nil {
		ss.Check = svc.Check.Name
	}
	seen := map[*zones.Region]bool{}
	var regions []*zones.Region
	for _, ep := range svc.Endpoints {
		h := deps.Health.Endpoint(ep)
		es := EndpointStatus{Region: ep.Region.Name, Address: ep.Ident, Weight: ep.Weight, Probe: "unchecked"}
		switch {
		case !h.Up:
			es.State = "down"
		case h.Drained:
			es.State = "drained"
		default:
			es.State = "up"
		}
		if a, ok := overrides.Endpoint(ep.Service, ep.Ident); ok {
			es.Admin = string(a)
		}
		if h.Reweighted {
			zone := ep.Weight
			es.Weight, es.ZoneWeight = h.Weight, &zone
		}
		if ep.Checked && probes != nil {
			es.Probe = "unknown"
			if p, ok := probes.Get(ep.CheckKey); ok {
				es.Probe = p.State.String()
				es.LatencyMS = float64(p.Latency.Microseconds()) / 1000
				es.LastError = p.LastError
				if !p.LastProbe.IsZero() {
					t, since := p.LastProbe.UTC(), p.Since.UTC()
					es.LastProbe, es.Since = &t, &since
				}
				if p.Load >= 0 {
					l := p.Load
					es.Load = &l
				}
			}
		}
		if ep.Checked {
			es.Fleet = fleetView(deps.Fleet, ep.CheckKey)
		}
		ss.Endpoints = append(ss.Endpoints, es)
		if !seen[ep.Region] {
			seen[ep.Region] = true
			regions = append(regions, ep.Region)
		}
	}
	for _, reg := range regions {
		c := deps.Router.RegionState(svc, reg)
		ss.Regions = append(ss.Regions, RegionHealth{Name: reg.Name, Up: c.Up, Healthy: c.Healthy, Total: c.Total})
	}
	return ss
}

// decisionJSON is the machine-readable part of an explanation.
func decisionJSON(d routing.Decision) map[string]any {
	out := map[string]any{"rule": d.Rule, "ttl": d.TTL, "ecs_scope": d.Scope, "degraded": d.Degraded,
		"all_down": d.AllDown, "nodata": d.NoData, "location": d.Location.String()}
	if d.Region != nil {
		out["region"] = d.Region.Name
	}
	var eps []string
	for _, ep := range d.Endpoints {
		eps = append(eps, ep.Ident)
	}
	out["endpoints"] = eps
	return out
}

func parseTypes(s string) ([]uint16, error) {
	switch strings.ToUpper(s) {
	case "":
		return []uint16{dns.TypeA, dns.TypeAAAA}, nil
	case "A":
		return []uint16{dns.TypeA}, nil
	case "AAAA":
		return []uint16{dns.TypeAAAA}, nil
	}
	return nil, fmt.Errorf("type %q: services answer A and AAAA", s)
}

func typeName(t uint16) string { return dns.TypeToString[t] }
