package bench

import (
	"bytes"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
)

const testOpen = `0{"sid":"s1","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000}`

// tinyEIO is just enough of an Engine.IO server for transport tests: the
// open packet, a CONNECT answer, then silence (noop long-polls).
func tinyEIO(t *testing.T) http.Handler {
	var mu sync.Mutex
	next := 0
	connected := map[string]bool{} // polling sessions that got their CONNECT answer
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if q.Get("transport") == "websocket" {
			conn, _, _, err := ws.UpgradeHTTP(r, w)
			if err != nil {
				return
			}
			defer conn.Close()
			_ = wsutil.WriteServerText(conn, []byte(testOpen))
			for {
				msg, err := wsutil.ReadClientText(conn)
				if err != nil {
					return
				}
				if bytes.HasPrefix(msg, []byte("40")) {
					_ = wsutil.WriteServerText(conn, []byte(`40{"sid":"x"}`))
				}
			}
		}
		sid := q.Get("sid")
		switch {
		case r.Method == http.MethodPost:
			_, _ = w.Write([]byte("ok"))
		case sid == "":
			mu.Lock()
			next++
			id := fmt.Sprintf("s%d", next)
			mu.Unlock()
			_, _ = w.Write([]byte(strings.Replace(testOpen, `"s1"`, `"`+id+`"`, 1)))
		default:
			mu.Lock()
			first := !connected[sid]
			connected[sid] = true
			mu.Unlock()
			if first {
				_, _ = w.Write([]byte(`40{"sid":"x"}`))
				return
			}
			select {
			case <-r.Context().Done():
			case <-time.After(100 * time.Millisecond):
			}
			_, _ = w.Write([]byte("6"))
		}
	})
}

func TestTLSTargets(t *testing.T) {
	srv := httptest.NewUnstartedServer(tinyEIO(t))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // rejected handshakes are the point
	srv.StartTLS()
	defer srv.Close()
	for _, tt := range []struct {
		name  string
		extra []string
		code  int
	}{
		{"wss insecure", []string{"--insecure"}, ExitOK},
		{"https polling insecure", []string{"--insecure", "--polling-share", "1"}, ExitOK},
		{"wss verified", nil, ExitRunError},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "r.json")
			var out bytes.Buffer
			args := append([]string{"idle", "--url", srv.URL, "-n", "3", "--hold", "200ms", "--timeout", "5s", "--json", path}, tt.extra...)
			if code := Main(t.Context(), args, &out, &out); code != tt.code {
				t.Fatalf("exit %d, want %d\n%s", code, tt.code, out.String())
			}
			r, err := readReportFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if tt.code == ExitOK && (r.Sockets.Connected != 3 || r.Sockets.Dropped != 0) {
				t.Errorf("sockets %+v", r.Sockets)
			}
			if tt.code != ExitOK && !strings.Contains(out.String(), "certificate") {
				t.Errorf("failure reason does not name the certificate:\n%s", out.String())
			}
		})
	}
}
