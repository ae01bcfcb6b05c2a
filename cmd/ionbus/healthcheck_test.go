package main

import (
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestHealthcheck(t *testing.T) {
	var status int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" || r.Method != http.MethodGet {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(status)
		_, _ = w.Write([]byte(`{"status":"x"}` + "\n"))
	}))
	defer srv.Close()
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
	}))
	defer hang.Close()
	// A port nothing listens on: bind one, then close it.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := ln.Addr().String()
	closed := "http://" + closedAddr + "/healthz"
	ln.Close()

	tests := []struct {
		name   string
		status int
		args   []string
		env    map[string]string
		code   int
		want   string // substring of stdout+stderr
	}{
		{"200", 200, []string{"--url", srv.URL + "/healthz"}, nil, 0, `{"status":"x"}`},
		{"503", 503, []string{"--url", srv.URL + "/healthz"}, nil, 1, "503 Service Unavailable"},
		{"500", 500, []string{"--url", srv.URL + "/healthz"}, nil, 1, "500"},
		{"204 is not 200", 204, []string{"--url", srv.URL + "/healthz"}, nil, 1, "204"},
		{"404", 200, []string{"--url", srv.URL + "/nope"}, nil, 1, "404"},
		{"refused", 200, []string{"--url", closed}, nil, 1, "ionbus healthcheck:"},
		{"timeout", 200, []string{"--url", hang.URL + "/healthz", "--timeout", "100ms"}, nil, 1, "deadline exceeded"},
		{"url from IONBUS_API_LISTEN", 200, nil, map[string]string{envAPIListen: "0.0.0.0:" + portOf(t, srv.Listener.Addr().String())}, 0, `{"status":"x"}`},
		{"--url over IONBUS_API_LISTEN", 200, []string{"--url", srv.URL + "/healthz"}, map[string]string{envAPIListen: closedAddr}, 0, `"x"`},
		{"bad url", 200, []string{"--url", "127.0.0.1:4001/healthz"}, nil, 2, "absolute http"},
		{"bad timeout", 200, []string{"--url", srv.URL, "--timeout", "0s"}, nil, 2, "--timeout"},
		{"extra argument", 200, []string{"now"}, nil, 2, "unexpected"},
		{"unknown flag", 200, []string{"--uri", srv.URL}, nil, 2, "uri"},
		{"help", 200, []string{"-h"}, nil, 0, "-url"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status = tc.status
			start := time.Now()
			code, out, errs := runCmd(append([]string{"healthcheck"}, tc.args...), tc.env)
			if code != tc.code || !strings.Contains(out+errs, tc.want) {
				t.Fatalf("code %d, output %q%q; want %d and %q", code, out, errs, tc.code, tc.want)
			}
			if time.Since(start) > 5*time.Second {
				t.Fatalf("took %v", time.Since(start))
			}
		})
	}
}

func TestHealthURL(t *testing.T) {
	for listen, want := range map[string]string{
		"127.0.0.1:4001":   "http://127.0.0.1:4001/healthz",
		"0.0.0.0:4001":     "http://127.0.0.1:4001/healthz",
		":4001":            "http://127.0.0.1:4001/healthz",
		"[::]:5001":        "http://127.0.0.1:5001/healthz",
		"[fd00::1]:4001":   "http://[fd00::1]:4001/healthz",
		"api.internal:80":  "http://api.internal:80/healthz",
		"not an address":   "http://127.0.0.1:4001/healthz",
		"10.0.0.10:4001":   "http://10.0.0.10:4001/healthz",
		"localhost:4001":   "http://localhost:4001/healthz",
		"0.0.0.0:0":        "http://127.0.0.1:0/healthz",
		"":                 "http://127.0.0.1:4001/healthz",
		"[::1]:4001":       "http://[::1]:4001/healthz",
		"192.168.1.5:9999": "http://192.168.1.5:9999/healthz",
	} {
		if got := healthURL(listen); got != want {
			t.Errorf("healthURL(%q) = %q, want %q", listen, got, want)
		}
	}
}
