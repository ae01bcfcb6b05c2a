package integration

import (
	"net/http"
	"strings"
	"testing"
)

// TestCORSPolling: long-polling from a browser page on another origin,
// with credentials (cookies). The answers for an allowed origin are the
// reference's (socket.io@4.8.1 with cors: {origin: [allowed],
// credentials: true}).
func TestCORSPolling(t *testing.T) {
	const allowed, foreign = "http://app.example", "http://evil.example"
	check := func(t *testing.T, url string, ionbus bool) {
		client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
		do := func(method, query, origin string, hdr map[string]string) *http.Response {
			t.Helper()
			req, _ := http.NewRequest(method, url+"/socket.io/?"+query, nil)
			req.Header.Set("Origin", origin)
			for k, v := range hdr {
				req.Header.Set(k, v)
			}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatalf("%s: %v", method, err)
			}
			resp.Body.Close()
			return resp
		}
		// Preflight, as a browser sends before a POST with a content type.
		resp := do(http.MethodOptions, "EIO=4&transport=polling", allowed, map[string]string{
			"Access-Control-Request-Method":  "POST",
			"Access-Control-Request-Headers": "content-type",
		})
		if resp.StatusCode != http.StatusNoContent ||
			resp.Header.Get("Access-Control-Allow-Origin") != allowed ||
			resp.Header.Get("Access-Control-Allow-Credentials") != "true" ||
			!strings.Contains(strings.ToUpper(resp.Header.Get("Access-Control-Allow-Methods")), "POST") ||
			!strings.Contains(strings.ToLower(resp.Header.Get("Access-Control-Allow-Headers")), "content-type") {
			t.Errorf("preflight: %d %v; want 204 echoing the origin, with credentials, POST and content-type allowed", resp.StatusCode, resp.Header)
		}
		// The handshake itself.
		resp = do(http.MethodGet, "EIO=4&transport=polling", allowed, nil)
		if resp.StatusCode != http.StatusOK ||
			resp.Header.Get("Access-Control-Allow-Origin") != allowed ||
			resp.Header.Get("Access-Control-Allow-Credentials") != "true" {
			t.Errorf("handshake: %d %v; want 200 echoing the origin, with credentials", resp.StatusCode, resp.Header)
		}
		// A foreign origin never gets the CORS grant. The reference still
		// serves the request (the browser then blocks the answer); ionbus
		// refuses it with 403 {"code":4,"message":"Forbidden"} by design
		// (DESIGN.md: foreign Origins are hostile input).
		resp = do(http.MethodGet, "EIO=4&transport=polling", foreign, nil)
		if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "" {
			t.Errorf("foreign origin granted: Access-Control-Allow-Origin %q", got)
		}
		if ionbus && resp.StatusCode != http.StatusForbidden {
			t.Errorf("foreign origin: status %d, want 403", resp.StatusCode)
		}
	}
	t.Run("ionbus", func(t *testing.T) {
		ts := startServer(t, serverOptions{corsOrigins: []string{allowed}})
		check(t, ts.url, true)
	})
	t.Run("reference", func(t *testing.T) {
		check(t, startReference(t, "CORS_ORIGIN="+allowed), false)
	})
}
