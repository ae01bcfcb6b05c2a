package api_test

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/ionbus/ionbus/broker/api"
)

// TestDashboardSignIn: the key once (query or form) becomes a cookie
// that opens the page and its data, and nothing under /api/v1.
func TestDashboardSignIn(t *testing.T) {
	e := newEnv(t, api.Config{Key: testKey}, nil)
	do := func(req *http.Request) *http.Response {
		rec := httptest.NewRecorder()
		e.api.ServeHTTP(rec, req)
		return rec.Result()
	}

	res := do(httptest.NewRequest("GET", "/dashboard", nil))
	if page := readAll(t, res); res.StatusCode != http.StatusOK || !strings.Contains(page, `name="key"`) || strings.Contains(page, "t-nodes") {
		t.Fatalf("no credentials: %d, want the sign-in form only", res.StatusCode)
	}
	if res := do(httptest.NewRequest("GET", "/dashboard?key=wrong", nil)); res.StatusCode != http.StatusUnauthorized || len(res.Cookies()) != 0 {
		t.Fatalf("wrong key: %d, cookies %v", res.StatusCode, res.Cookies())
	}
	if res := do(httptest.NewRequest("GET", "/dashboard/nodes", nil)); res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("data without the cookie: %d", res.StatusCode)
	}

	var cookie *http.Cookie
	for _, signIn := range []*http.Request{
		httptest.NewRequest("GET", "/dashboard?key="+url.QueryEscape(testKey), nil),
		func() *http.Request {
			r := httptest.NewRequest("POST", "/dashboard", strings.NewReader("key="+url.QueryEscape(testKey)))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			return r
		}(),
	} {
		res := do(signIn)
		if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/dashboard" {
			t.Fatalf("%s sign-in: %d to %q", signIn.Method, res.StatusCode, res.Header.Get("Location"))
		}
		cs := res.Cookies()
		if len(cs) != 1 || cs[0].Name != api.DashboardCookie || !cs[0].HttpOnly || cs[0].SameSite != http.SameSiteStrictMode ||
			cs[0].Path != "/dashboard" || strings.Contains(cs[0].Value, testKey) {
			t.Fatalf("cookie %+v", cs)
		}
		cookie = cs[0]
	}

	withCookie := func(path string) *http.Response {
		r := httptest.NewRequest("GET", path, nil)
		r.AddCookie(cookie)
		return do(r)
	}
	res = withCookie("/dashboard")
	if res.StatusCode != http.StatusOK {
		t.Fatalf("page with the cookie: %d", res.StatusCode)
	}
	page := readAll(t, res)
	if !strings.Contains(page, "<title>ionbus dashboard</title>") || strings.Contains(page, "http://") && strings.Contains(page, "<script src") {
		t.Fatal("not the dashboard page, or it loads a remote script")
	}
	checkCSP(t, res.Header.Get("Content-Security-Policy"), page)

	res = withCookie("/dashboard/nodes")
	var out api.NodesResponse
	if err := json.Unmarshal([]byte(readAll(t, res)), &out); err != nil || res.StatusCode != 200 || out.Count != 1 {
		t.Fatalf("data with the cookie: %d %+v %v", res.StatusCode, out, err)
	}
	if res := withCookie("/api/v1/stats"); res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("the dashboard cookie opened /api/v1/stats: %d", res.StatusCode)
	}
	bad := &http.Cookie{Name: api.DashboardCookie, Value: strings.Repeat("0", len(cookie.Value))}
	r := httptest.NewRequest("GET", "/dashboard/nodes", nil)
	r.AddCookie(bad)
	if res := do(r); res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("forged cookie: %d", res.StatusCode)
	}
	// The bearer key works too (curl).
	r = httptest.NewRequest("GET", "/dashboard/nodes", nil)
	r.Header.Set("Authorization", "Bearer "+testKey)
	if res := do(r); res.StatusCode != http.StatusOK {
		t.Fatalf("bearer: %d", res.StatusCode)
	}
}

// TestDashboardNoKey: without api.key the dashboard never opens (unless
// api.insecure), like the API.
func TestDashboardNoKey(t *testing.T) {
	e := newEnv(t, api.Config{}, nil)
	for _, path := range []string{"/dashboard", "/dashboard?key=", "/dashboard/nodes"} {
		if res, _ := e.call(t, "GET", path, "", ""); res.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s without a configured key: %d", path, res.StatusCode)
		}
	}
	open := newEnv(t, api.Config{Insecure: true}, nil)
	if res, _ := open.call(t, "GET", "/dashboard", "", ""); res.StatusCode != http.StatusOK {
		t.Errorf("insecure: %d", res.StatusCode)
	}
}

func readAll(t *testing.T, res *http.Response) string {
	t.Helper()
	var b strings.Builder
	buf := make([]byte, 32<<10)
	for {
		n, err := res.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return b.String()
}

// checkCSP: every inline block of the page is allowed by its hash, and
// nothing remote is.
func checkCSP(t *testing.T, csp, page string) {
	t.Helper()
	if csp == "" || !strings.Contains(csp, "default-src 'none'") || strings.Contains(csp, "unsafe-inline") {
		t.Fatalf("CSP %q", csp)
	}
	blocks := regexp.MustCompile(`(?s)<(?:style|script)>(.*?)</(?:style|script)>`).FindAllStringSubmatch(page, -1)
	if len(blocks) != 2 {
		t.Fatalf("%d inline blocks", len(blocks))
	}
	for _, b := range blocks {
		sum := sha256.Sum256([]byte(b[1]))
		if h := "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"; !strings.Contains(csp, h) {
			t.Fatalf("CSP %q lacks %s", csp, h)
		}
	}
}
