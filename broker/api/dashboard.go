package api

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	_ "embed"
	"encoding/base64"
	"encoding/hex"
	"html"
	"net/http"
	"regexp"
	"strings"
)

// Dashboard routes: the page, and the JSON it polls (GET /api/v1/nodes
// behind the dashboard's cookie instead of the bearer key).
const (
	PathDashboard      = "/dashboard"
	PathDashboardNodes = "/dashboard/nodes"
)

// DashboardCookie carries the dashboard session: an HMAC of api.key (not
// the key itself), HttpOnly, SameSite=Strict, scoped to /dashboard, so it
// authorizes the dashboard's read-only routes and nothing under /api/v1.
const DashboardCookie = "ionbus_dashboard"

// dashboardCookieAge is how long a browser stays signed in (12 h).
const dashboardCookieAge = 12 * 60 * 60

//go:embed dashboard.html
var dashboardPage string

// The pages' inline <style> and <script> are allowed by their hashes;
// nothing else (no remote script, style, font, frame or form target).
var (
	dashboardCSP = pageCSP(dashboardPage)
	loginCSP     = pageCSP(loginPage(""))
)

var inlineBlock = regexp.MustCompile(`(?s)<(style|script)>(.*?)</(?:style|script)>`)

func pageCSP(page string) string {
	var scripts, styles []string
	for _, m := range inlineBlock.FindAllStringSubmatch(page, -1) {
		sum := sha256.Sum256([]byte(m[2]))
		src := "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
		if m[1] == "script" {
			scripts = append(scripts, src)
		} else {
			styles = append(styles, src)
		}
	}
	script := "'none'"
	if len(scripts) > 0 {
		script = strings.Join(scripts, " ")
	}
	return "default-src 'none'; connect-src 'self'; img-src 'self' data:; form-action 'self'; " +
		"frame-ancestors 'none'; base-uri 'none'; script-src " + script + "; style-src " + strings.Join(styles, " ")
}

// loginPage asks for the API key; msg (plain text) says why.
func loginPage(msg string) string {
	note := ""
	if msg != "" {
		note = `<p class="msg">` + html.EscapeString(msg) + `</p>`
	}
	return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer"><link rel="icon" href="data:,"><title>ionbus dashboard: sign in</title>
<style>
body { margin: 0; min-height: 100vh; display: grid; place-items: center; background: #0f1419; color: #e6edf3;
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif; }
form { background: #171d24; border: 1px solid #2a343f; border-radius: 8px; padding: 24px; width: 320px; display: grid; gap: 12px; }
h1 { margin: 0; font-size: 18px; } h1 span { color: #58a6ff; }
input { padding: 8px 10px; border-radius: 6px; border: 1px solid #2a343f; background: #0f1419; color: inherit; font: inherit; }
button { padding: 8px 10px; border: 0; border-radius: 6px; background: #238636; color: #fff; font: inherit; font-weight: 600; cursor: pointer; }
.msg { margin: 0; color: #f85149; } .hint { margin: 0; color: #8b98a5; font-size: 12px; }
</style></head><body>
<form method="post" action="` + PathDashboard + `">
<h1><span>ion</span>bus dashboard</h1>` + note + `
<input type="password" name="key" placeholder="API key (api.key)" autocomplete="current-password" autofocus required>
<button type="submit">Sign in</button>
<p class="hint">The key is exchanged for a cookie scoped to this dashboard.</p>
</form></body></html>
`
}

// dashboardToken is the cookie value for the configured key.
func (h *handler) dashboardToken() string {
	m := hmac.New(sha256.New, []byte(h.cfg.Key))
	m.Write([]byte("ionbus dashboard session v1"))
	return hex.EncodeToString(m.Sum(nil))
}

// dashboardAuthorized: api.insecure, the bearer key, or the cookie.
func (h *handler) dashboardAuthorized(r *http.Request) bool {
	if h.authorized(r) {
		return true
	}
	if h.cfg.Key == "" {
		return false
	}
	c, err := r.Cookie(DashboardCookie)
	if err != nil {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(c.Value), []byte(h.dashboardToken())) == 1
}

// keyMatches compares a key given by hand with api.key in constant time.
func (h *handler) keyMatches(key string) bool {
	if h.cfg.Key == "" {
		return false
	}
	a, b := sha256.Sum256([]byte(key)), sha256.Sum256([]byte(h.cfg.Key))
	return subtle.ConstantTimeCompare(a[:], b[:]) == 1
}

func (h *handler) dashboard(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case PathDashboard, PathDashboard + "/":
		h.dashboardPage(w, r)
	case PathDashboardNodes:
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			methodNotAllowed(w, http.MethodGet)
			return
		}
		if !h.dashboardAuthorized(r) {
			writeError(w, http.StatusUnauthorized, CodeUnauthorized, "sign in at "+PathDashboard)
			return
		}
		h.nodes(w, r)
	default:
		if !h.dashboardAuthorized(r) {
			writeError(w, http.StatusUnauthorized, CodeUnauthorized, "sign in at "+PathDashboard)
			return
		}
		writeError(w, http.StatusNotFound, CodeNotFound, "no route "+r.URL.Path)
	}
}

// dashboardPage serves the page, or signs in: a key in ?key= or a posted
// form becomes the cookie and the browser is sent back to the page
// without the key in its address.
func (h *handler) dashboardPage(w http.ResponseWriter, r *http.Request) {
	var key string
	var given bool
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		q := r.URL.Query()
		key, given = q.Get("key"), q.Has("key")
	case http.MethodPost:
		r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
		if err := r.ParseForm(); err != nil {
			writeHTML(w, http.StatusBadRequest, loginCSP, loginPage("Could not read the form."))
			return
		}
		key, given = r.PostForm.Get("key"), true
	default:
		methodNotAllowed(w, http.MethodGet)
		return
	}
	if given {
		if !h.keyMatches(strings.TrimSpace(key)) {
			h.log.Warn().Str("remote", r.RemoteAddr).Msg("dashboard: wrong key")
			writeHTML(w, http.StatusUnauthorized, loginCSP, loginPage("Wrong key."))
			return
		}
		http.SetCookie(w, &http.Cookie{
			Name: DashboardCookie, Value: h.dashboardToken(), Path: PathDashboard,
			MaxAge: dashboardCookieAge, HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode,
		})
		w.Header().Set("Cache-Control", "no-store")
		http.Redirect(w, r, PathDashboard, http.StatusSeeOther)
		return
	}
	if !h.dashboardAuthorized(r) {
		// Not an error yet: the sign-in form is the page a signed-out
		// browser gets (a 401 would read as a failed load in its console).
		if h.cfg.Key == "" {
			writeHTML(w, http.StatusUnauthorized, loginCSP, loginPage("The API key is not configured (api.key / IONBUS_API_KEY)."))
			return
		}
		writeHTML(w, http.StatusOK, loginCSP, loginPage(""))
		return
	}
	writeHTML(w, http.StatusOK, dashboardCSP, dashboardPage)
}

func writeHTML(w http.ResponseWriter, status int, csp, page string) {
	hd := w.Header()
	hd.Set("Content-Type", "text/html; charset=utf-8")
	hd.Set("Cache-Control", "no-store")
	hd.Set("Content-Security-Policy", csp)
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("Referrer-Policy", "no-referrer")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(page))
}
