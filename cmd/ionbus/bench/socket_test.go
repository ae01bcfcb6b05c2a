package bench

import (
	"bytes"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
)

// Failures are grouped by a stable reason, whatever the server does wrong.
func TestFailureReasons(t *testing.T) {
	// Accepts TCP but never answers: the dial times out.
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	accepted := make(chan net.Conn, 16)
	go func() {
		for {
			c, err := silent.Accept()
			if err != nil {
				close(accepted)
				return
			}
			accepted <- c
		}
	}()
	defer func() {
		silent.Close()
		for c := range accepted {
			c.Close()
		}
	}()
	// Refuses the upgrade and the polling handshake with 403.
	forbidden := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "go away", http.StatusForbidden)
	}))
	defer forbidden.Close()
	// Answers the Engine.IO open, then refuses the namespace.
	refusing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			_, _ = w.Write([]byte("ok"))
			return
		}
		if r.URL.Query().Get("sid") == "" {
			_, _ = w.Write([]byte(`0{"sid":"s1","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000}`))
			return
		}
		_, _ = w.Write([]byte(`44{"message":"Invalid namespace"}`))
	}))
	defer refusing.Close()

	tests := []struct {
		name, url, want string
		extra           []string
	}{
		{"timeout", "http://" + silent.Addr().String(), "timeout", []string{"--timeout", "300ms"}},
		{"ws 403", forbidden.URL, "ws handshake status 403", nil},
		{"polling 403", forbidden.URL, "polling GET status 403: go away", []string{"--polling-share", "1"}},
		{"connect_error", refusing.URL, "connect_error: Invalid namespace", []string{"--polling-share", "1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "r.json")
			var out bytes.Buffer
			args := append([]string{"idle", "--url", tt.url, "-n", "2", "--hold", "0s", "--timeout", "5s",
				"--json", path}, tt.extra...) // a later --timeout wins
			if code := Main(t.Context(), args, &out, &out); code != ExitRunError {
				t.Fatalf("exit %d\n%s", code, out.String())
			}
			r, err := readReportFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if r.Sockets.Failures[tt.want] != 2 {
				t.Errorf("failures %v, want 2 × %q", r.Sockets.Failures, tt.want)
			}
			if !strings.Contains(out.String(), tt.want) {
				t.Errorf("summary lacks the reason:\n%s", out.String())
			}
		})
	}
}
