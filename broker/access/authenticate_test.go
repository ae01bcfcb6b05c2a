package access

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"github.com/ionbus/ionbus/broker"
	"github.com/ionbus/ionbus/broker/auth"
)

var testSecret = []byte("access-test-secret-of-32-bytes!!")

// fakeAuthenticator answers from a function and counts its calls.
type fakeAuthenticator struct {
	calls  atomic.Int32
	answer func(s *broker.Socket, h http.Header) (*auth.Identity, error)
}

func (f *fakeAuthenticator) Authenticate(_ context.Context, s *broker.Socket, h http.Header) (*auth.Identity, error) {
	f.calls.Add(1)
	return f.answer(s, h)
}

// cookieAuthenticator admits "session=good" as user "u-cookie" (role
// "staff"), refuses "session=banned" with a code, and is down otherwise.
func cookieAuthenticator() *fakeAuthenticator {
	return &fakeAuthenticator{answer: func(_ *broker.Socket, h http.Header) (*auth.Identity, error) {
		switch c := h.Get("Cookie"); {
		case strings.Contains(c, "session=good"):
			return &auth.Identity{UserID: "u-cookie", Roles: []string{"staff"}}, nil
		case strings.Contains(c, "session=banned"):
			return nil, &Refusal{Code: "USER_BANNED", Message: "banned", Details: map[string]any{"until": "never"}}
		case strings.Contains(c, "session=connecterr"):
			return nil, &broker.ConnectError{Message: "Go away", Data: map[string]any{"code": "CUSTOM"}}
		case c == "":
			return nil, &Refusal{Code: CodeAuthRequired}
		}
		return nil, errors.New("backend down")
	}}
}

// guardServer serves a broker whose namespaces are guarded with rules.
func guardServer(t *testing.T, cfg Config, rules map[string]Rules) *httptest.Server {
	t.Helper()
	srv, err := broker.New(broker.Config{})
	if err != nil {
		t.Fatal(err)
	}
	g, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for name, r := range rules {
		ns := srv.Of(name)
		ns.OnConnection(func(s *broker.Socket) {
			s.On("whoami", func(e *broker.Event) {
				user := ""
				if id := Identity(s); id != nil {
					user = id.UserID
				}
				_ = e.Ack(user)
			})
		})
		g.Attach(ns, r)
	}
	if err := srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		ts.Close()
	})
	return ts
}

// connectAnswer opens a websocket session with header, sends CONNECT to
// nsp with auth, and returns the answer's kind ('0' CONNECT, '4'
// CONNECT_ERROR) and body (after the namespace prefix). Once connected it
// asks "whoami" and returns the acked user id, or the events received
// before a server DISCONNECT (the compatibility events).
func connectAnswer(t *testing.T, ts *httptest.Server, nsp string, authPayload map[string]any, header http.Header) (kind byte, body, user string) {
	t.Helper()
	kind, body, user, _ = connectEvents(t, ts, nsp, authPayload, header)
	return kind, body, user
}

func connectEvents(t *testing.T, ts *httptest.Server, nsp string, authPayload map[string]any, header http.Header) (kind byte, body, user string, events []string) {
	t.Helper()
	u := "ws" + strings.TrimPrefix(ts.URL, "http") + "/socket.io/?EIO=4&transport=websocket"
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, br, _, err := (ws.Dialer{Header: ws.HandshakeHeaderHTTP(header)}).Dial(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var rd io.Reader = conn
	if br != nil {
		rd = br
	}
	rw := struct {
		io.Reader
		io.Writer
	}{rd, conn}
	read := func() string {
		_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		for {
			data, err := wsutil.ReadServerText(rw)
			if err != nil {
				t.Fatalf("read: %v", err)
			}
			if string(data) != "2" {
				return string(data)
			}
		}
	}
	read() // open
	prefix := ""
	if nsp != "/" {
		prefix = nsp + ","
	}
	msg := "40" + prefix
	if authPayload != nil {
		b, _ := json.Marshal(authPayload)
		msg += string(b)
	}
	_ = wsutil.WriteClientText(conn, []byte(msg))
	ans := read()
	kind, body = ans[1], strings.TrimPrefix(ans[2:], prefix)
	if kind != '0' {
		return kind, body, "", nil
	}
	_ = wsutil.WriteClientText(conn, []byte("42"+prefix+`1["whoami"]`))
	for {
		m := read()
		switch {
		case strings.HasPrefix(m, "41"+prefix):
			return kind, body, "", events
		case strings.HasPrefix(m, "42"+prefix):
			events = append(events, strings.TrimPrefix(m, "42"+prefix))
		case strings.HasPrefix(m, "43"+prefix+"1"):
			var args []string
			if err := json.Unmarshal([]byte(strings.TrimPrefix(m, "43"+prefix+"1")), &args); err != nil || len(args) != 1 {
				t.Fatalf("whoami ack %q", m)
			}
			return kind, body, args[0], events
		}
	}
}

func token(t *testing.T, sub string, roles ...string) string {
	t.Helper()
	tok, err := auth.Sign(map[string]any{"sub": sub, "roles": roles, "exp": time.Now().Add(time.Hour).Unix()}, "HS256", testSecret)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func cookie(v string) http.Header {
	h := http.Header{}
	if v != "" {
		h.Set("Cookie", v)
	}
	return h
}

func errData(t *testing.T, body string) map[string]any {
	t.Helper()
	var ce struct {
		Message string         `json:"message"`
		Data    map[string]any `json:"data"`
	}
	if err := json.Unmarshal([]byte(body), &ce); err != nil {
		t.Fatalf("connect error %q: %v", body, err)
	}
	if ce.Message != MessageAuthFailed && ce.Message != "Go away" {
		t.Fatalf("connect error message %q", ce.Message)
	}
	return ce.Data
}

func TestAuthenticateModes(t *testing.T) {
	v, err := auth.New(auth.Config{Secret: testSecret})
	if err != nil {
		t.Fatal(err)
	}
	fa := cookieAuthenticator()
	ts := guardServer(t, Config{Verifier: v, Authenticator: fa}, map[string]Rules{
		"/":        {Access: Access{Level: Authenticated}},
		"/backend": {Access: Access{Level: Authenticated}, Authenticate: AuthBackend},
		"/either":  {Access: Access{Level: Authenticated}, Authenticate: AuthJWTOrBackend},
		"/staff":   {Access: Access{Level: RoleRequired, Roles: []string{"staff"}}, Authenticate: AuthBackend},
		"/public":  {Access: Access{Level: Public}, Authenticate: AuthBackend},
		"/compat":  {Access: Access{Level: Authenticated}, Authenticate: AuthBackend, CompatEvents: true},
	})
	good := cookie("session=good")
	jwt := map[string]any{"token": token(t, "u-jwt")}

	cases := []struct {
		name   string
		nsp    string
		auth   map[string]any
		header http.Header
		user   string // admitted as
		code   string // or refused with
		calls  int32  // authenticator calls
	}{
		{"jwt mode ignores the backend", "/", nil, good, "", CodeAuthRequired, 0},
		{"jwt mode with a token", "/", jwt, good, "u-jwt", "", 0},
		{"backend admits", "/backend", nil, good, "u-cookie", "", 1},
		{"backend mode ignores tokens", "/backend", jwt, cookie("session=banned"), "", "USER_BANNED", 1},
		{"backend down", "/backend", nil, cookie("session=weird"), "", CodeBackendUnavailable, 1},
		{"custom connect error", "/backend", nil, cookie("session=connecterr"), "", "CUSTOM", 1},
		{"valid jwt wins", "/either", jwt, good, "u-jwt", "", 0},
		{"invalid jwt asks the backend", "/either", map[string]any{"token": "garbage"}, good, "u-cookie", "", 1},
		{"no jwt asks the backend", "/either", nil, good, "u-cookie", "", 1},
		{"no jwt, backend refuses", "/either", nil, cookie("session=banned"), "", "USER_BANNED", 1},
		{"roles from the backend", "/staff", nil, good, "u-cookie", "", 1},
		{"backend refusal stands in a public namespace", "/public", nil, cookie("session=banned"), "", "USER_BANNED", 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := fa.calls.Load()
			kind, body, user := connectAnswer(t, ts, tc.nsp, tc.auth, tc.header)
			if got := fa.calls.Load() - before; got != tc.calls {
				t.Fatalf("authenticator called %d times, want %d", got, tc.calls)
			}
			if tc.code == "" {
				if kind != '0' || user != tc.user {
					t.Fatalf("answer %c %s user %q, want admitted as %q", kind, body, user, tc.user)
				}
				return
			}
			if kind != '4' {
				t.Fatalf("answer %c %s, want refusal %s", kind, body, tc.code)
			}
			data := errData(t, body)
			if data["code"] != tc.code {
				t.Fatalf("refusal %s, want code %s", body, tc.code)
			}
			switch tc.code {
			case CodeBackendUnavailable:
				if data["retry_possible"] != true {
					t.Fatalf("unavailable without retry_possible: %s", body)
				}
			case "USER_BANNED":
				if data["message"] != "banned" || data["details"].(map[string]any)["until"] != "never" {
					t.Fatalf("refusal details lost: %s", body)
				}
			}
		})
	}

	// A backend identity without the role is refused like a JWT one.
	staffless := &fakeAuthenticator{answer: func(*broker.Socket, http.Header) (*auth.Identity, error) {
		return &auth.Identity{UserID: "u2"}, nil
	}}
	ts2 := guardServer(t, Config{Authenticator: staffless}, map[string]Rules{
		"/staff":  {Access: Access{Level: RoleRequired, Roles: []string{"staff"}}, Authenticate: AuthBackend},
		"/public": {Access: Access{Level: Public}, Authenticate: AuthBackend},
	})
	if kind, body, _ := connectAnswer(t, ts2, "/staff", nil, nil); kind != '4' || errData(t, body)["code"] != CodeInsufficientPrivileges {
		t.Fatalf("role check: %c %s", kind, body)
	}
	if kind, _, user := connectAnswer(t, ts2, "/public", nil, nil); kind != '0' || user != "u2" {
		t.Fatalf("public with backend identity: %c %q", kind, user)
	}

	// Compatibility events carry the backend's code.
	kind, body, _, events := connectEvents(t, ts, "/compat", nil, cookie("session=banned"))
	if kind != '0' || len(events) != 1 || !strings.HasPrefix(events[0], `["auth_error",`) || !strings.Contains(events[0], `"error_code":"USER_BANNED"`) {
		t.Fatalf("compat: %c %s %q", kind, body, events)
	}
}

func TestAuthenticateWithoutAuthenticator(t *testing.T) {
	ts := guardServer(t, Config{}, map[string]Rules{
		"/": {Access: Access{Level: Public}, Authenticate: AuthBackend},
	})
	kind, body, _ := connectAnswer(t, ts, "/", nil, cookie("session=good"))
	if kind != '4' || errData(t, body)["code"] != CodeAuthUnavailable {
		t.Fatalf("no authenticator: %c %s", kind, body)
	}
}

func TestParseAuthMode(t *testing.T) {
	for in, want := range map[string]AuthMode{"": AuthJWT, "jwt": AuthJWT, "backend": AuthBackend, "jwt_or_backend": AuthJWTOrBackend} {
		got, err := ParseAuthMode(in)
		if err != nil || got != want {
			t.Fatalf("%q: %v %v", in, got, err)
		}
		if in != "" && got.String() != in {
			t.Fatalf("%q: String %q", in, got.String())
		}
	}
	if _, err := ParseAuthMode("cookie"); err == nil {
		t.Fatal("unknown mode accepted")
	}
}

// TestErrorPayload pins the one error shape: ISO 8601 UTC timestamps
// with milliseconds, code/message repeating error_code/error_message, the
// rate fields only when set.
func TestErrorPayload(t *testing.T) {
	at := time.UnixMilli(1764033600123).In(time.FixedZone("X", 3600))
	b, _ := json.Marshal(ErrorPayload("X", "msg", map[string]any{"event": "e"}, true, at))
	want := `{"error_code":"X","error_message":"msg","error_details":{"event":"e"},"retry_possible":true,"timestamp":"2025-11-25T01:20:00.123Z","code":"X","message":"msg"}`
	if string(b) != want {
		t.Fatalf("got  %s\nwant %s", b, want)
	}
	p := ErrorPayload("R", "slow down", nil, true, at)
	limit, remaining := 100, 0
	p.Limit, p.Remaining, p.ResetTime = &limit, &remaining, Timestamp(at.Add(time.Minute))
	b, _ = json.Marshal(p)
	want = `{"error_code":"R","error_message":"slow down","error_details":{},"retry_possible":true,"timestamp":"2025-11-25T01:20:00.123Z","code":"R","message":"slow down","limit":100,"remaining":0,"reset_time":"2025-11-25T01:21:00.123Z"}`
	if string(b) != want {
		t.Fatalf("got  %s\nwant %s", b, want)
	}
}
