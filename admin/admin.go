// Package admin is Meridian's operator HTTP interface on the admin listener:
// liveness and readiness, Prometheus metrics, a JSON API (status, drain,
// reload, explain) and the live status page.
package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/meridian-dns/meridian/app/health"
	"github.com/meridian-dns/meridian/geo"
	"github.com/meridian-dns/meridian/healthcheck"
	"github.com/meridian-dns/meridian/routing"
	"github.com/meridian-dns/meridian/zones"
)

// Deps is what the admin interface reads and acts on. The app fills it in.
type Deps struct {
	Zones    *zones.Store
	Router   *routing.Router
	Health   *health.View
	Checker  *healthcheck.Manager
	Gatherer prometheus.Gatherer
	// AdminState is the overrides file drains and weights are persisted
	// to; empty means they cannot be made through the API, unless Operator
	// is set.
	AdminState string
	// Operator, when set, keeps the operator state instead of AdminState
	// (a fleet's, in etcd); nil means the AdminState file, with changes
	// recorded in memory.
	Operator OperatorState
	// FleetStatus reads the fleet's live instances, zone revisions and
	// serials from etcd (GET /api/v1/fleet); nil without a cluster.
	FleetStatus FleetReader
	// Reload re-reads zones and GeoIP.
	Reload func(reason string) error
	// Ready reports what is not ready yet (nil or empty: ready).
	Ready func() []string
	// Fleet is this instance's membership of a fleet; nil without a
	// cluster section.
	Fleet    Fleet
	Version  string
	ServerID string
	Logger   *slog.Logger
}

// Config is the admin listener's access control.
type Config struct {
	Listen string
	// Token, when set, is required as "Authorization: Bearer <token>" for
	// the API (not for /healthz, /readyz, /metrics, nor the status page's
	// files, which hold no data and ask for the token themselves).
	Token string
	// Tokens are more bearer tokens by name, accepted like Token; a change
	// made with one is recorded with its name (Token's is "token").
	Tokens map[string]string
	// Allowed are the client networks that may connect at all; default
	// loopback only.
	Allowed []netip.Prefix
	// AllowedHosts are the Host headers answered ("name", "name:port",
	// "[::1]:9153"; a name without a port also matches with the port the
	// request arrived on). Empty means the listen address, localhost,
	// 127.0.0.1 and [::1]. The address a connection arrived on is always
	// allowed, and /healthz and /readyz answer any Host.
	AllowedHosts []string
}

// Server serves the admin interface.
type Server struct {
	cfg   Config
	deps  Deps
	hosts hostPolicy
	srv   *http.Server
	ln    net.Listener
	// operator keeps drains and weights and records their changes.
	operator OperatorState
}

// New returns an admin server.
func New(cfg Config, deps Deps) *Server {
	if len(cfg.Allowed) == 0 {
		cfg.Allowed = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	}
	if deps.Logger == nil {
		deps.Logger = slog.Default()
	}
	s := &Server{cfg: cfg, deps: deps, hosts: newHostPolicy(cfg.AllowedHosts, cfg.Listen), operator: deps.Operator}
	if s.operator == nil {
		s.operator = &fileState{path: deps.AdminState, health: deps.Health, log: healthcheck.NewChangeLog(0)}
	}
	return s
}

// Start binds the listener and serves in the background.
func (s *Server) Start() error {
	ln, err := net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("admin: listen %s: %w", s.cfg.Listen, err)
	}
	s.ln = ln
	s.srv = &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 60 * time.Second}
	go func() {
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.deps.Logger.Error("admin listener stopped", "error", err)
		}
	}()
	return nil
}

// Addr returns the bound address.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Shutdown stops the listener, letting requests in flight finish.
func (s *Server) Shutdown(ctx context.Context) error {
	if s.srv == nil {
		return nil
	}
	return s.srv.Shutdown(ctx)
}

// Handler returns the admin interface's routes behind its access control.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.deps.Gatherer, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError}))
	mux.Handle("GET /api/v1/status", s.auth(s.status))
	mux.Handle("GET /api/v1/map", s.auth(s.countryMap))
	mux.Handle("GET /api/v1/explain", s.auth(s.explain))
	mux.Handle("POST /api/v1/drain", s.auth(s.drain(healthcheck.AdminDrain)))
	mux.Handle("POST /api/v1/undrain", s.auth(s.drain("")))
	mux.Handle("POST /api/v1/weight", s.auth(s.weight))
	mux.Handle("GET /api/v1/changes", s.auth(s.changes))
	mux.Handle("POST /api/v1/reload", s.auth(s.reload))
	mux.Handle("GET /api/v1/fleet", s.auth(s.fleetStatus))
	// The page and its files hold no data: they are served without the
	// token, and the page asks for it when the API answers 401.
	mux.HandleFunc("GET /{$}", statusPage)
	mux.HandleFunc("GET /static/", staticFiles)
	mux.Handle("/api/", s.auth(func(w http.ResponseWriter, r *http.Request) {
		if m, ok := apiMethods[r.URL.Path]; ok {
			w.Header().Set("Allow", m)
			writeError(w, http.StatusMethodNotAllowed, "%s takes %s, not %s", r.URL.Path, m, r.Method)
			return
		}
		writeError(w, http.StatusNotFound, "no such API endpoint: %s %s", r.Method, r.URL.Path)
	}))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "not found: %s %s", r.Method, r.URL.Path)
	})
	return s.allowed(s.checkHost(s.checkUnsafe(recoverer(mux, s.deps.Logger))))
}

// apiMethods lists each API path's method, for 405 answers.
var apiMethods = map[string]string{
	"/api/v1/status": "GET", "/api/v1/map": "GET", "/api/v1/explain": "GET",
	"/api/v1/drain": "POST", "/api/v1/undrain": "POST", "/api/v1/reload": "POST",
	"/api/v1/weight": "POST", "/api/v1/changes": "GET",
}

// allowed refuses clients outside the allowed networks.
func (s *Server) allowed(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ap, err := netip.ParseAddrPort(r.RemoteAddr)
		ok := false
		if err == nil {
			ip := ap.Addr().Unmap()
			for _, p := range s.cfg.Allowed {
				if p.Contains(ip) {
					ok = true
					break
				}
			}
		}
		if !ok {
			writeError(w, http.StatusForbidden, "client %s is not in the admin allowed networks", r.RemoteAddr)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// tokenNameKey carries the name of the token a request gave.
type tokenNameKey struct{}

// auth requires a bearer token, when any is configured, and passes its
// name on to the handler (tokenName).
func (s *Server) auth(h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.cfg.Token != "" || len(s.cfg.Tokens) > 0 {
			got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			name := ""
			if ok {
				name = s.tokenFor(got)
			}
			if name == "" {
				w.Header().Set("WWW-Authenticate", `Bearer realm="meridian"`)
				writeError(w, http.StatusUnauthorized, "a valid bearer token is required")
				return
			}
			r = r.WithContext(context.WithValue(r.Context(), tokenNameKey{}, name))
		}
		h(w, r)
	})
}

// tokenFor returns the name of the configured token got is, or "". It
// compares got with every token, in constant time each.
func (s *Server) tokenFor(got string) string {
	name := ""
	if s.cfg.Token != "" && constantTimeEqual(got, s.cfg.Token) {
		name = "token"
	}
	for n, tok := range s.cfg.Tokens {
		if tok != "" && constantTimeEqual(got, tok) {
			name = n
		}
	}
	return name
}

// tokenName is the name of the token r gave, "none" when none is
// configured.
func tokenName(r *http.Request) string {
	if name, ok := r.Context().Value(tokenNameKey{}).(string); ok {
		return name
	}
	return "none"
}

func constantTimeEqual(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	var v byte
	for i := 0; i < len(a); i++ {
		v |= a[i] ^ b[i]
	}
	return v == 0
}

// recoverer turns a panic in a handler into a 500 with a JSON error.
func recoverer(next http.Handler, logger *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				logger.Error("admin handler panic", "path", r.URL.Path, "error", v)
				writeError(w, http.StatusInternalServerError, "internal error")
			}
		}()
		next.ServeHTTP(w, r)
	})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

func writeError(w http.ResponseWriter, code int, format string, args ...any) {
	writeJSON(w, code, map[string]string{"error": fmt.Sprintf(format, args...)})
}

func (s *Server) readyz(w http.ResponseWriter, _ *http.Request) {
	var waiting []string
	if s.deps.Ready != nil {
		waiting = s.deps.Ready()
	}
	body := map[string]any{"ready": len(waiting) == 0}
	if detail := readyDetail(s.deps.Fleet); detail != "" {
		body["cluster"] = detail
	}
	if len(waiting) > 0 {
		body["waiting_for"] = waiting
		writeJSON(w, http.StatusServiceUnavailable, body)
		return
	}
	writeJSON(w, http.StatusOK, body)
}

// reload re-reads the zones and GeoIP databases. A failure's error is
// logged by Reload; the record here says who asked and what was swapped in.
func (s *Server) reload(w http.ResponseWriter, r *http.Request) {
	before := s.deps.Zones.Current()
	err := s.deps.Reload("admin API")
	snap := s.deps.Zones.Current()
	result := "reloaded"
	if err != nil {
		result = "failed"
	}
	s.changed(r, "reload", "result", result, "zones_changed", snap != before,
		"zones", fmt.Sprintf("%d -> %d", len(before.Zones()), len(snap.Zones())),
		"records", fmt.Sprintf("%d -> %d", before.Records(), snap.Records()))
	if err != nil {
		writeJSON(w, http.StatusUnprocessableEntity, map[string]any{"reloaded": false, "error": err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"reloaded": true, "zones": len(snap.Zones()), "records": snap.Records()})
}

// changed logs a state change made through the API, once, at INFO: who
// asked (client address, and the name of the token given: "token" for
// http.token, a name of http.tokens, "none" when no token is configured),
// the action and what it changed.
func (s *Server) changed(r *http.Request, action string, attrs ...any) {
	s.deps.Logger.Info("admin state changed", append([]any{"client", r.RemoteAddr, "auth", tokenName(r), "action", action}, attrs...)...)
}

// drainRequest names an endpoint of a service or a region of a zone.
type drainRequest struct {
	Service  string `json:"service"`
	Endpoint string `json:"endpoint"`
	Zone     string `json:"zone"`
	Region   string `json:"region"`
}

// drain returns the handler that sets (state non-empty) or clears an
// override, stores it (the admin_state file, or the fleet's etcd) and
// applies it at once.
func (s *Server) drain(state healthcheck.AdminState) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var req drainRequest
		if err := decodeBody(w, r, &req); err != nil {
			writeError(w, http.StatusBadRequest, "body must be JSON {\"service\":..., \"endpoint\":...} or {\"zone\":..., \"region\":...}: %s", jsonProblem(err))
			return
		}
		if fs, ok := s.operator.(*fileState); ok && fs.path == "" {
			writeError(w, http.StatusConflict, "%v", ErrNotStored)
			return
		}
		snap := s.deps.Zones.Current()
		var e healthcheck.Edit
		var target []any
		switch {
		case req.Service != "" && req.Endpoint != "" && req.Zone == "" && req.Region == "":
			if findEndpoint(snap, req.Service, req.Endpoint) == nil {
				writeError(w, http.StatusNotFound, "no endpoint %s in service %s", req.Endpoint, req.Service)
				return
			}
			e = healthcheck.Edit{Kind: healthcheck.EditEndpoint, Name: req.Service, Item: req.Endpoint, State: state}
			target = []any{"service", req.Service, "endpoint", req.Endpoint}
		case req.Zone != "" && req.Region != "" && req.Service == "" && req.Endpoint == "":
			z := snap.Zone(req.Zone)
			if z == nil || z.Region(req.Region) == nil {
				writeError(w, http.StatusNotFound, "no region %s in zone %s", req.Region, req.Zone)
				return
			}
			e = healthcheck.Edit{Kind: healthcheck.EditRegion, Name: req.Zone, Item: req.Region, State: state}
			target = []any{"zone", req.Zone, "region", req.Region}
		default:
			writeError(w, http.StatusBadRequest, "name either service and endpoint, or zone and region")
			return
		}
		action, result := "drain", "drained"
		if state == "" {
			action, result = "undrain", "undrained"
		}
		c, ok := s.edit(w, r, action, e, target)
		if !ok {
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"result": result, "target": c.Target})
	}
}

// findEndpoint returns the endpoint ident (address or CNAME target, as
// an override names it: any case, a target with or without its final dot)
// of the named service, or nil.
func findEndpoint(snap *zones.Snapshot, service, ident string) *zones.Endpoint {
	want, err := healthcheck.EndpointKey(service, ident)
	if err != nil {
		return nil
	}
	for _, z := range snap.Zones() {
		if svc := z.Service(service); svc != nil {
			for _, ep := range svc.Endpoints {
				if k, err := healthcheck.EndpointKey(svc.Name, ep.Ident); err == nil && k == want {
					return ep
				}
			}
		}
	}
	return nil
}

// explain is GET /api/v1/explain?name=&type=&client=.
func (s *Server) explain(w http.ResponseWriter, r *http.Request) {
	name, client := r.URL.Query().Get("name"), r.URL.Query().Get("client")
	if name == "" || client == "" {
		writeError(w, http.StatusBadRequest, "name and client are required")
		return
	}
	c, err := routing.ParseClient(client)
	if err != nil {
		writeError(w, http.StatusBadRequest, "%v", err)
		return
	}
	qtypes, err := parseTypes(r.URL.Query().Get("type"))
	if err != nil {
		writeError(w, http.StatusBadRequest, "%v", err)
		return
	}
	svc := findService(s.deps.Zones.Current(), name)
	if svc == nil {
		writeError(w, http.StatusNotFound, "%s is not a service name", name)
		return
	}
	var out []map[string]any
	for _, qt := range qtypes {
		d := s.deps.Router.Decide(svc, qt, c, true)
		out = append(out, map[string]any{"type": typeName(qt), "lines": routing.Explain(svc, qt, c, d), "decision": decisionJSON(d)})
	}
	writeJSON(w, http.StatusOK, map[string]any{"service": svc.Name, "client": client, "answers": out})
}

// countryMap is GET /api/v1/map?service=: for every country, the region
// that would serve a client there now, decided by the same code as answers.
func (s *Server) countryMap(w http.ResponseWriter, r *http.Request) {
	name := r.URL.Query().Get("service")
	snap := s.deps.Zones.Current()
	svc := findService(snap, name)
	if svc == nil {
		for _, z := range snap.Zones() {
			if len(z.Services()) > 0 && name == "" {
				svc = z.Services()[0]
				break
			}
		}
	}
	if svc == nil {
		writeError(w, http.StatusNotFound, "no service %q", name)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"service": svc.Name, "countries": CountryRegions(s.deps.Router, svc)})
}

// CountryRegions returns, for each country, the region that serves an A
// query from its representative point (omitted when none would).
func CountryRegions(router *routing.Router, svc *zones.Service) map[string]string {
	out := map[string]string{}
	for _, cc := range geo.Countries() {
		loc, _ := geo.CountryLocation(cc)
		d := router.DecideAt(svc, 1, routing.Client{SourceBits: -1}, &loc, false)
		if d.Region != nil {
			out[cc] = d.Region.Name
		}
	}
	return out
}

func findService(snap *zones.Snapshot, name string) *zones.Service {
	if name == "" {
		return nil
	}
	if !strings.HasSuffix(name, ".") {
		name += "."
	}
	res := snap.Lookup(name, 1)
	return res.Service
}
