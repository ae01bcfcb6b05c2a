package node

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

func adminHash(t *testing.T) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}

// TestAdminUIValidate: admin_ui problems are reported with the others,
// at once, by key; a disabled admin_ui is never checked.
func TestAdminUIValidate(t *testing.T) {
	c := Default()
	c.AdminUI = AdminUIConfig{Namespace: "/x*y", Mode: "staging", PasswordHash: "plain", AllowOrigins: []string{"admin.socket.io"}}
	if err := c.Validate(); err != nil {
		t.Fatalf("disabled admin_ui checked: %v", err)
	}
	c.AdminUI.Enabled = true
	c.Engine.MaxPayload = 0 // an unrelated problem, reported beside
	err := c.Validate()
	if err == nil {
		t.Fatal("accepted")
	}
	for _, want := range []string{"engine: max_payload", "admin_ui.namespace", "admin_ui.mode", "admin_ui: username and password_hash", "admin_ui.allow_origins", "admin_ui.session_ttl"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%v lacks %q", err, want)
		}
	}
	hash := adminHash(t)
	for _, tc := range []struct {
		name   string
		mutate func(*Config)
		want   string
	}{
		{"valid", func(*Config) {}, ""},
		{"collides with a namespace", func(c *Config) {
			c.Namespaces = append(c.Namespaces, NamespaceConfig{Name: "/admin"})
		}, `admin_ui.namespace: "/admin" is also namespaces[/admin]`},
		{"matched by a pattern", func(c *Config) {
			c.Namespaces = append(c.Namespaces, NamespaceConfig{Name: "/adm*"})
		}, `is also namespaces[/adm*]`},
		{"plain password", func(c *Config) { c.AdminUI.PasswordHash = "pw" }, "admin_ui.password_hash: password_hash is not a bcrypt hash"},
		{"no username", func(c *Config) { c.AdminUI.Username = "" }, "admin_ui: username and password_hash"},
		{"insecure with a hash", func(c *Config) { c.AdminUI.Insecure = true }, "admin_ui.insecure"},
		{"insecure", func(c *Config) { c.AdminUI.Insecure, c.AdminUI.Username, c.AdminUI.PasswordHash = true, "", "" }, ""},
		{"origin with a path", func(c *Config) { c.AdminUI.AllowOrigins = []string{"https://a.example/ui"} }, "admin_ui.allow_origins"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := Default()
			c.AdminUI.Enabled, c.AdminUI.Username, c.AdminUI.PasswordHash = true, "admin", hash
			tc.mutate(&c)
			err := c.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("Validate: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("Validate: %v, want %q", err, tc.want)
			case err != nil && strings.Contains(err.Error(), hash):
				t.Fatalf("the error echoes the hash: %v", err)
			}
		})
	}
}

// TestAdminUIEnvAndOrigins: the IONBUS_ADMIN_UI_* variables, and the UI's
// origin allowed with credentials beside a restrictive cors.origins that
// grants none.
func TestAdminUIEnvAndOrigins(t *testing.T) {
	c := Default()
	hash := adminHash(t)
	env := map[string]string{
		"IONBUS_ADMIN_UI_ENABLED": "true", "IONBUS_ADMIN_UI_NAMESPACE": "/ops", "IONBUS_ADMIN_UI_MODE": "development",
		"IONBUS_ADMIN_UI_USERNAME": "root", "IONBUS_ADMIN_UI_PASSWORD_HASH": hash, "IONBUS_ADMIN_UI_READONLY": "true",
		"IONBUS_ADMIN_UI_ALLOW_ORIGINS": "https://ui.example/, https://admin.socket.io", "IONBUS_ADMIN_UI_SESSION_TTL": "1h",
	}
	if err := ApplyEnv(&c, func(k string) (string, bool) { v, ok := env[k]; return v, ok }); err != nil {
		t.Fatal(err)
	}
	want := AdminUIConfig{Enabled: true, Namespace: "/ops", Mode: "development", Username: "root", PasswordHash: hash, ReadOnly: true,
		AllowOrigins: []string{"https://ui.example/", "https://admin.socket.io"}, SessionTTL: Duration(time.Hour)}
	if got := c.AdminUI; got.Enabled != want.Enabled || got.Namespace != want.Namespace || got.Mode != want.Mode || got.Username != want.Username ||
		got.PasswordHash != want.PasswordHash || got.ReadOnly != want.ReadOnly || strings.Join(got.AllowOrigins, " ") != strings.Join(want.AllowOrigins, " ") ||
		got.SessionTTL != want.SessionTTL {
		t.Fatalf("admin_ui from env: %+v", got)
	}
	c.Listen, c.API.Listen = "127.0.0.1:0", ""
	c.CORS.Origins = []string{"https://app.example"}
	n := startNode(t, c, nil)
	if n.adminUI == nil || n.Server().Lookup("/ops") == nil {
		t.Fatal("admin UI not built")
	}
	get := func(origin string) *http.Response {
		req, _ := http.NewRequest(http.MethodGet, "http://"+n.Addr().String()+"/socket.io/?EIO=4&transport=polling", nil)
		req.Header.Set("Origin", origin)
		resp, err := httpClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	for origin, creds := range map[string]string{"https://ui.example": "true", "https://admin.socket.io": "true", "https://app.example": ""} {
		r := get(origin)
		if r.StatusCode != http.StatusOK || r.Header.Get("Access-Control-Allow-Origin") != origin || r.Header.Get("Access-Control-Allow-Credentials") != creds {
			t.Errorf("%s: %d %v", origin, r.StatusCode, r.Header)
		}
	}
	if r := get("https://evil.example"); r.StatusCode != http.StatusForbidden {
		t.Errorf("foreign origin: %d", r.StatusCode)
	}
}
