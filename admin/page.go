package admin

import (
	"embed"
	"io/fs"
	"net/http"
)

// ui holds the status page: one HTML document with its script, styles and
// the world map's country shapes, embedded so the page needs nothing from
// outside the server.
//
//go:embed ui
var ui embed.FS

var uiFS, _ = fs.Sub(ui, "ui")

// contentSecurityPolicy lets the page load only its own files, be framed
// by no other page, and submit no form natively (its token form is handled
// by the script, so the token never ends up in a URL).
const contentSecurityPolicy = "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; " +
	"frame-ancestors 'none'; form-action 'none'; base-uri 'none'"

func statusPage(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Security-Policy", contentSecurityPolicy)
	http.ServeFileFS(w, r, uiFS, "index.html")
}

var staticFiles = http.StripPrefix("/static/", http.FileServerFS(uiFS)).ServeHTTP
