package connection

import (
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"
	"time"
)

func TestHandshakeKeepsHeaderAndQuery(t *testing.T) {
	r := httptest.NewRequest("GET", "/socket.io/?EIO=4&transport=websocket&token=a%20b&x=1&x=2", nil)
	r.RemoteAddr = "10.0.0.7:5000"
	r.Header.Add("Cookie", "token=abc; theme=dark")
	r.Header.Add("Cookie", "second=1")
	r.Header.Set("Authorization", "Bearer x:y:z") // a ':' inside a value
	r.Header.Set("X-Empty", "")
	now := time.Unix(1700000000, 0)

	hs := NewHandshake(r, "websocket", now)
	if hs.RequestURI != "/socket.io/?EIO=4&transport=websocket&token=a%20b&x=1&x=2" ||
		hs.RemoteAddr != "10.0.0.7:5000" || hs.Transport != "websocket" || !hs.Time.Equal(now) || hs.Secure {
		t.Fatalf("handshake = %+v", hs)
	}
	if got := hs.Header(); !reflect.DeepEqual(got, r.Header) {
		t.Fatalf("Header() = %v, want %v", got, r.Header)
	}
	for key, want := range map[string]string{
		"cookie":        "token=abc; theme=dark", // first value, key canonicalized
		"Authorization": "Bearer x:y:z",
		"X-Empty":       "",
		"Origin":        "",
	} {
		if got := hs.HeaderValue(key); got != want {
			t.Errorf("HeaderValue(%q) = %q, want %q", key, got, want)
		}
	}
	q := hs.Query()
	if q.Get("EIO") != "4" || q.Get("token") != "a b" || !reflect.DeepEqual(q["x"], []string{"1", "2"}) {
		t.Fatalf("Query() = %v", q)
	}
	// Each call returns a fresh map: callers may modify it.
	hs.Header().Set("Cookie", "changed")
	hs.Query().Set("EIO", "3")
	if hs.HeaderValue("Cookie") != "token=abc; theme=dark" || hs.Query().Get("EIO") != "4" {
		t.Fatal("Header()/Query() returned shared state")
	}
}

func TestHandshakeWithoutHeaderOrQuery(t *testing.T) {
	r := httptest.NewRequest("GET", "/socket.io/", nil)
	r.Header = http.Header{}
	hs := NewHandshake(r, "polling", time.Now())
	if len(hs.Header()) != 0 || len(hs.Query()) != 0 || hs.HeaderValue("Host") != "" {
		t.Fatalf("header %v query %v", hs.Header(), hs.Query())
	}
}
