package realparts

import (
	"encoding/json"
	"fmt"
	"html/template"
	"net"
	"net/http"
	"sort"
	"strings"
	"time"
)

// IdentityHeaderPrefix starts the names of the identity headers the app shows:
// the plugin's claim headers (X-Stepup-Subject, X-Stepup-ACR, ...).
const IdentityHeaderPrefix = "X-Stepup-"

// App is the backend of the browser tests and the demo: an HTML page that
// shows the identity headers it received, with links to the protected and
// public paths and a button that calls an API with fetch(). Paths under
// /api/ answer JSON instead.
//
// Page element ids: #title, #path, #identity (a table, one row per header),
// #headers (a <pre> of "Name: value" lines, canonical names, sorted),
// #fetch-admin (the button: POST /api/admin/x), #fetch-status (the status,
// written last), #fetch-challenge (WWW-Authenticate or "(none)"), #fetch-body.
type App struct {
	// URL is the app's base URL, http://127.0.0.1:<port>.
	URL string
	// Title heads every page. Default "traefikstepup app".
	Title string
	// Notes, when set, is shown under the title on every page (plain text).
	Notes string

	srv *http.Server
	ln  net.Listener
}

// StartApp starts the app on addr ("127.0.0.1:0" picks a free port).
func StartApp(addr string) (*App, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("app: listening on %s: %w", addr, err)
	}
	a := &App{URL: "http://" + ln.Addr().String(), Title: "traefikstepup app", ln: ln}
	a.srv = &http.Server{Handler: http.HandlerFunc(a.serveHTTP), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = a.srv.Serve(ln) }()

	return a, nil
}

// StartAppT starts the app on a free port and closes it at cleanup.
func StartAppT(t TB) *App {
	t.Helper()
	a, err := StartApp("127.0.0.1:0")
	if err != nil {
		t.Fatalf("%v", err)
	}
	t.Cleanup(a.Close)

	return a
}

// Close stops the server at once, closing open connections.
func (a *App) Close() {
	_ = a.srv.Close()
}

// identity returns the identity headers of r as sorted "Name: value" pairs.
func identity(r *http.Request) [][2]string {
	var out [][2]string
	for name, values := range r.Header {
		if strings.HasPrefix(strings.ToLower(name), strings.ToLower(IdentityHeaderPrefix)) {
			out = append(out, [2]string{name, strings.Join(values, ", ")})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i][0] < out[j][0] })

	return out
}

func (a *App) serveHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set(BackendHeader, "app")
	ids := identity(r)

	if strings.HasPrefix(r.URL.Path, "/api/") {
		headers := map[string]string{}
		for _, kv := range ids {
			headers[kv[0]] = kv[1]
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"method": r.Method, "path": r.URL.Path, "identity": headers,
		})
		return
	}
	if r.URL.Path == "/favicon.ico" {
		http.NotFound(w, r)
		return
	}

	var lines []string
	for _, kv := range ids {
		lines = append(lines, kv[0]+": "+kv[1])
	}
	data := map[string]any{
		"Title":    a.Title,
		"Notes":    a.Notes,
		"Path":     r.URL.Path,
		"Identity": ids,
		"Lines":    strings.Join(lines, "\n"),
		"Public":   len(ids) == 0,
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if err := appPage.Execute(w, data); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
	}
}

var appPage = template.Must(template.New("app").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Title}} {{.Path}}</title>
<style>
body{font-family:system-ui,sans-serif;max-width:48rem;margin:2rem auto;padding:0 1rem;color:#222}
h1{font-size:1.5rem;margin-bottom:.2rem} code,pre{background:#f3f3f3;padding:.1rem .3rem}
table{border-collapse:collapse;margin:.5rem 0} td,th{border:1px solid #ccc;padding:.3rem .6rem;text-align:left}
nav a{margin-right:1rem} .muted{color:#666} pre{padding:.5rem;white-space:pre-wrap}
button{font-size:1rem;padding:.3rem .8rem}
</style></head><body>
<h1 id="title">{{.Title}}</h1>
{{with .Notes}}<p class="muted" id="notes">{{.}}</p>{{end}}
<p>You are on <code id="path">{{.Path}}</code>.</p>
<nav><a id="link-home" href="/">/</a><a id="link-admin" href="/admin">/admin</a><a id="link-public" href="/public">/public</a><a id="link-logout" href="/_stepup/logout">log out</a></nav>
<h2>Identity headers the backend received</h2>
{{if .Public}}<p class="muted">None: this request carried no identity (a public path, or not signed in).</p>{{else}}
<table id="identity"><tr><th>header</th><th>value</th></tr>
{{range .Identity}}<tr><td>{{index . 0}}</td><td>{{index . 1}}</td></tr>
{{end}}</table>{{end}}
<pre id="headers">{{.Lines}}</pre>
<h2>An API call from this page</h2>
<p><button id="fetch-admin" type="button">fetch('/api/admin/x', {method: 'POST'})</button></p>
<p>Status: <code id="fetch-status"></code></p>
<p>WWW-Authenticate: <code id="fetch-challenge"></code></p>
<pre id="fetch-body"></pre>
<script>
document.getElementById('fetch-admin').addEventListener('click', async () => {
  const status = document.getElementById('fetch-status');
  status.textContent = '';
  try {
    const r = await fetch('/api/admin/x', {method: 'POST', headers: {'Content-Type': 'application/json'}, body: '{}'});
    document.getElementById('fetch-challenge').textContent = r.headers.get('WWW-Authenticate') || '(none)';
    document.getElementById('fetch-body').textContent = await r.text();
    status.textContent = String(r.status);
  } catch (e) {
    status.textContent = 'error: ' + e;
  }
});
</script>
</body></html>
`))
