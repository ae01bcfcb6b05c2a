package connection

import "testing"

// CORSConfig.CredentialOrigins (the Admin UI's origins) are allowed
// beside Origins and always get credentials; the application's origins
// keep Credentials' answer.
func TestCORSCredentialOrigins(t *testing.T) {
	x := newTestServer(t, Config{CORS: CORSConfig{Origins: []string{"https://app.example"}, CredentialOrigins: []string{"https://admin.socket.io"}}}, nil)
	for _, tc := range []struct {
		origin, allow, creds string
		status               int
	}{
		{"https://admin.socket.io", "https://admin.socket.io", "true", 200},
		{"https://ADMIN.socket.io", "https://ADMIN.socket.io", "true", 200},
		{"https://app.example", "https://app.example", "", 200},
		{"https://evil.example", "", "", 403},
	} {
		r := x.do("GET", "EIO=4&transport=polling", "", "Origin", tc.origin)
		if r.status != tc.status || r.header.Get("Access-Control-Allow-Origin") != tc.allow || r.header.Get("Access-Control-Allow-Credentials") != tc.creds {
			t.Errorf("%s: %d %v; want %d, allow %q, credentials %q", tc.origin, r.status, r.header, tc.status, tc.allow, tc.creds)
		}
		p := x.do("OPTIONS", "EIO=4&transport=polling", "", "Origin", tc.origin, "Access-Control-Request-Method", "POST")
		if tc.status == 200 && (p.status != 204 || p.header.Get("Access-Control-Allow-Credentials") != tc.creds) {
			t.Errorf("%s preflight: %d %v", tc.origin, p.status, p.header)
		}
	}
	// Any origin allowed (Origins empty): the admin origin still gets
	// credentials, the others do not.
	y := newTestServer(t, Config{CORS: CORSConfig{CredentialOrigins: []string{"https://admin.socket.io"}}}, nil)
	if r := y.do("GET", "EIO=4&transport=polling", "", "Origin", "https://admin.socket.io"); r.header.Get("Access-Control-Allow-Credentials") != "true" {
		t.Errorf("admin origin without Origins: %v", r.header)
	}
	if r := y.do("GET", "EIO=4&transport=polling", "", "Origin", "https://other.example"); r.status != 200 || r.header.Get("Access-Control-Allow-Credentials") != "" {
		t.Errorf("other origin: %d %v", r.status, r.header)
	}
}
