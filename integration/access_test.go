package integration

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/ionbus/ionbus/broker"
	"github.com/ionbus/ionbus/broker/access"
	"github.com/ionbus/ionbus/broker/auth"
	"github.com/ionbus/ionbus/limits"
)

var jwtSecret = []byte("integration-secret-integration-secret!")

// startGuarded runs a broker guarded by broker/access with the rules the
// access.js scenarios expect.
func startGuarded(t *testing.T) (*broker.Server, string) {
	t.Helper()
	verifier, err := auth.New(auth.Config{Secret: jwtSecret})
	if err != nil {
		t.Fatal(err)
	}
	limiter, err := limits.New(limits.Config{
		MaxConnectionsPerUser: 2,
		MessagesPerUser:       20, MessagesWindow: time.Minute,
		MaxMessageBytes:   2048,
		MaxRoomsPerSocket: 4,
	}, limits.NewMemorySlots(), limits.NewMemoryRate(nil))
	if err != nil {
		t.Fatal(err)
	}
	guard, err := access.New(access.Config{Verifier: verifier, Limiter: limiter})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := broker.New(broker.Config{})
	if err != nil {
		t.Fatal(err)
	}
	must := func(s string) access.Access {
		a, err := access.ParseAccess(s)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	rules := map[string]access.Rules{
		"/":        {Access: must("public"), AutoJoin: []string{"user:{user}", "role:{role}"}, RoomsAllow: []string{"chat:*", "user_{user}_*"}},
		"/private": {Access: must("authenticated")},
		"/admin":   {Access: must("role:admin")},
		"/csrf":    {Access: must("authenticated"), RequireCSRF: true},
		"/legacy":  {Access: must("authenticated"), CompatEvents: true, RedirectURL: "/login"},
	}
	for name, r := range rules {
		ns := srv.Of(name)
		guard.Attach(ns, r)
		ns.On("whoami", func(e *broker.Event) {
			user := ""
			if id := access.Identity(e.Socket); id != nil {
				user = id.UserID
			}
			_ = e.Ack(map[string]any{"user": user, "id": e.Socket.ID()})
		})
		ns.On("my-rooms", func(e *broker.Event) { _ = e.Ack(e.Socket.Rooms()) })
	}
	srv.AddStats("access", func() any { return guard.Stats() })
	if err := srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/socket.io/", srv)
	hs := httptest.NewServer(mux)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		hs.Close()
	})
	return srv, hs.URL
}

// tokens mints the scenario tokens; short-lived ones expire in seconds.
func tokens(t *testing.T) string {
	t.Helper()
	now := time.Now()
	sign := func(sub string, roles []string, exp time.Time, key []byte, method string) string {
		claims := map[string]any{"sub": sub, "name": sub, "roles": roles, "exp": exp.Unix(), "iat": now.Unix(), "csrf": "c-" + sub}
		tok, err := auth.Sign(claims, method, key)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	hour := now.Add(time.Hour)
	m := map[string]string{
		"alice":    sign("alice", []string{"user"}, hour, jwtSecret, "HS256"),
		"bob":      sign("bob", []string{"user"}, hour, jwtSecret, "HS256"),
		"carol":    sign("carol", nil, hour, jwtSecret, "HS256"),
		"dave":     sign("dave", nil, hour, jwtSecret, "HS256"),
		"admin":    sign("root", []string{"admin"}, hour, jwtSecret, "HS256"),
		"expired":  sign("alice", nil, now.Add(-time.Hour), jwtSecret, "HS256"),
		"wrongKey": sign("alice", nil, hour, []byte("another-secret-another-secret-another!"), "HS256"),
		"short":    sign("erin", nil, now.Add(3*time.Second), jwtSecret, "HS256"),
		"short2":   sign("erin", nil, now.Add(4*time.Second), jwtSecret, "HS256"),
		// alg "none" with an empty signature.
		"none": "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJhbGljZSJ9.",
	}
	b, _ := json.Marshal(m)
	return string(b)
}

func runAccess(t *testing.T, scenario string) *broker.Server {
	srv, url := startGuarded(t)
	r := startNode(t, "access.js", []string{"URL=" + url, "TOKENS=" + tokens(t), "TIMEOUT_MS=20000"}, scenario)
	r.wait()
	return srv
}

func TestAccessNamespaces(t *testing.T) { runAccess(t, "access") }

func TestAccessTokenExpiryAndRefresh(t *testing.T) { runAccess(t, "expiry") }

func TestAccessLimits(t *testing.T) {
	srv := runAccess(t, "limits")
	// Every refusal the client saw is visible to the operator.
	st := srv.Stats().Extra["access"].(access.Stats)
	for code, atLeast := range map[string]int64{access.CodeConnectionLimit: 1, access.CodeRateLimit: 2, access.CodeMessageTooLarge: 1} {
		if st.Refused[code] < atLeast {
			t.Errorf("stats refused[%s] = %d, want >= %d (%+v)", code, st.Refused[code], atLeast, st.Refused)
		}
	}
}

func TestAccessRoomEvents(t *testing.T) { runAccess(t, "rooms") }
