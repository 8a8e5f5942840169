package admin

import (
	"mime"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
)

// A web page the operator's browser opens can send requests to the admin
// listener: forms and no-cors fetches to drive it (cross-site request
// forgery), and, through a name of its own that it points at 127.0.0.1
// (DNS rebinding), requests whose answers it can read. The checks here
// refuse both; clients that are not browsers (curl, Prometheus, the
// kubelet) pass them unchanged as long as they name the server by an
// allowed host and send JSON.

// hostExempt are the paths answered whatever the Host header says: the
// kubelet's probes may name the pod in any way, and these answers hold
// nothing but "ok" and what startup still waits for.
var hostExempt = map[string]bool{"/healthz": true, "/readyz": true}

// defaultHosts are the names the listener answers to when http.allowed_hosts
// is empty, besides its own listen address.
var defaultHosts = []string{"localhost", "127.0.0.1", "::1"}

// hostPattern is one allowed host: a name or address, lower case, without
// brackets or a final dot, and a port ("" for the port the request arrived
// on, or none).
type hostPattern struct{ host, port string }

// hostPolicy decides which Host headers the listener answers.
type hostPolicy struct {
	patterns []hostPattern
	// listenPort is the configured listen port, used when a request does
	// not say which local address it arrived on.
	listenPort string
}

// newHostPolicy builds the policy from http.allowed_hosts (validated by
// config) and the listen address. An empty list allows the listen address
// and the loopback names.
func newHostPolicy(allowed []string, listen string) hostPolicy {
	var p hostPolicy
	listenHost := ""
	if ap, err := netip.ParseAddrPort(listen); err == nil {
		p.listenPort = strconv.Itoa(int(ap.Port()))
		if !ap.Addr().IsUnspecified() {
			listenHost = ap.Addr().Unmap().String()
		}
	}
	if len(allowed) == 0 {
		for _, h := range defaultHosts {
			p.patterns = append(p.patterns, hostPattern{host: h})
		}
		if listenHost != "" {
			p.patterns = append(p.patterns, hostPattern{host: listenHost})
		}
		return p
	}
	for _, a := range allowed {
		if host, port, ok := splitHost(a); ok {
			p.patterns = append(p.patterns, hostPattern{host: host, port: port})
		}
	}
	return p
}

// allows reports whether the Host header host may be answered on a
// connection to local (invalid when unknown). A pattern without a port
// matches the host without a port or with the port the request arrived on.
// The address the connection arrived on, written as an IP literal, is
// always allowed: a page can only send that Host from that very address,
// which is this server, so it cannot come from DNS rebinding.
func (p hostPolicy) allows(host string, local netip.AddrPort) bool {
	h, port, ok := splitHost(host)
	if !ok {
		return false
	}
	here := p.listenPort
	if local.IsValid() {
		here = strconv.Itoa(int(local.Port()))
	}
	samePort := port == "" || port == here
	if local.IsValid() && samePort {
		if a, err := netip.ParseAddr(h); err == nil && a.Unmap() == local.Addr().Unmap() {
			return true
		}
	}
	for _, pat := range p.patterns {
		if pat.host != h {
			continue
		}
		if pat.port == port || (pat.port == "" && samePort) {
			return true
		}
	}
	return false
}

// splitHost splits a Host header or an allowed_hosts entry ("name",
// "name:port", "192.0.2.1:80", "[::1]:9153") into its lower-case host,
// without brackets or a final dot, and its port ("" when absent). An IPv6
// address must be bracketed.
func splitHost(s string) (host, port string, ok bool) {
	s = strings.ToLower(s)
	if rest, found := strings.CutPrefix(s, "["); found {
		end := strings.IndexByte(rest, ']')
		if end < 0 {
			return "", "", false
		}
		host, rest = rest[:end], rest[end+1:]
		if _, err := netip.ParseAddr(host); err != nil || !strings.Contains(host, ":") {
			return "", "", false
		}
		if rest != "" {
			p, found := strings.CutPrefix(rest, ":")
			if !found {
				return "", "", false
			}
			port = p
		}
	} else {
		host = s
		if i := strings.LastIndexByte(s, ':'); i >= 0 {
			host, port = s[:i], s[i+1:]
			if strings.Contains(host, ":") {
				return "", "", false
			}
		}
		host = strings.TrimSuffix(host, ".")
	}
	if host == "" {
		return "", "", false
	}
	if a, err := netip.ParseAddr(host); err == nil {
		host = a.String()
	}
	if port != "" || strings.HasSuffix(s, ":") {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 || strconv.Itoa(n) != port {
			return "", "", false
		}
	}
	return host, port, true
}

// localAddr is the address the request's connection arrived on, when the
// server recorded it.
func localAddr(r *http.Request) netip.AddrPort {
	if a, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		if ap, err := netip.ParseAddrPort(a.String()); err == nil {
			return ap
		}
	}
	return netip.AddrPort{}
}

// checkHost refuses requests whose Host is not an allowed host with 421
// Misdirected Request, except for the health probes.
func (s *Server) checkHost(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !hostExempt[r.URL.Path] && !s.hosts.allows(r.Host, localAddr(r)) {
			s.refused(r, "host not allowed")
			writeError(w, http.StatusMisdirectedRequest, "host %q is not served here: add it to http.allowed_hosts", r.Host)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// checkUnsafe guards every request that may change state (any method but
// GET and HEAD): it must come from no browser or from this server's own
// origin (else 403), and carry a JSON body (else 415), which an HTML form
// or a no-cors fetch cannot send.
func (s *Server) checkUnsafe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet || r.Method == http.MethodHead {
			next.ServeHTTP(w, r)
			return
		}
		if why := s.crossOrigin(r); why != "" {
			s.refused(r, why)
			writeError(w, http.StatusForbidden, "cross-origin request refused: %s", why)
			return
		}
		if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
			writeError(w, http.StatusUnsupportedMediaType, "%s %s needs Content-Type: application/json", r.Method, r.URL.Path)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// crossOrigin says why r comes from a page of another origin, or "". A
// request without Sec-Fetch-Site and Origin is not from a browser's
// cross-origin page (curl and scripts send neither).
func (s *Server) crossOrigin(r *http.Request) string {
	switch site := r.Header.Get("Sec-Fetch-Site"); site {
	case "", "same-origin", "none":
	default:
		return "Sec-Fetch-Site is " + site
	}
	if o := r.Header.Get("Origin"); o != "" && !s.sameOrigin(o, r) {
		return "Origin " + o + " is not this server"
	}
	return ""
}

// sameOrigin reports whether origin (an Origin header) is the scheme and
// host r was addressed to, and that host is an allowed one.
func (s *Server) sameOrigin(origin string, r *http.Request) bool {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	u, err := url.Parse(origin)
	if err != nil || u.Scheme != scheme || u.Opaque != "" || u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
		return false
	}
	oh, op, ok1 := splitHost(u.Host)
	rh, rp, ok2 := splitHost(r.Host)
	if !ok1 || !ok2 || oh != rh || defaultPort(op, scheme) != defaultPort(rp, scheme) {
		return false
	}
	return s.hosts.allows(r.Host, localAddr(r))
}

func defaultPort(port, scheme string) string {
	if port != "" {
		return port
	}
	if scheme == "https" {
		return "443"
	}
	return "80"
}

// refused logs a request the Host or cross-origin checks turned away.
func (s *Server) refused(r *http.Request, why string) {
	s.deps.Logger.Warn("admin request refused", "client", r.RemoteAddr, "method", r.Method, "path", r.URL.Path,
		"host", r.Host, "reason", why)
}
