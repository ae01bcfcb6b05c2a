package node

import (
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/gobwas/ws"
)

// A browser Origin outside cors.origins gets the documented answer on
// every kind of Engine.IO request, and each refusal is counted under
// CORS_ORIGIN_NOT_ALLOWED in /api/v1/stats and /metrics.
func TestForeignOrigin(t *testing.T) {
	cfg := Default()
	cfg.Listen = "127.0.0.1:0"
	cfg.API = APIConfig{Listen: "127.0.0.1:0", Key: "k"}
	cfg.CORS.Origins = []string{"https://app.example"}
	cfg.ShutdownTimeout = Duration(5 * time.Second)
	n := startNode(t, cfg, nil)
	base := "http://" + n.Addr().String() + "/socket.io/?EIO=4&transport=polling"

	do := func(method, origin string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, base, nil)
		req.Header.Set("Origin", origin)
		resp, err := httpClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if status, body := do("GET", "https://app.example"); status != 200 {
		t.Fatalf("allowed origin: %d %s", status, body)
	}
	const want = `{"code":4,"context":{"code":"CORS_ORIGIN_NOT_ALLOWED","origin":"https://evil.example"},"message":"Forbidden"}`
	for _, m := range []string{"GET", "OPTIONS"} {
		if status, body := do(m, "https://evil.example"); status != 403 || body != want {
			t.Fatalf("%s foreign origin: %d %s; want 403 %s", m, status, body, want)
		}
	}
	d := ws.Dialer{Header: ws.HandshakeHeaderHTTP(http.Header{"Origin": {"https://evil.example"}}), Timeout: 5 * time.Second}
	if conn, _, _, err := d.Dial(t.Context(), "ws://"+n.Addr().String()+"/socket.io/?EIO=4&transport=websocket"); err == nil {
		conn.Close()
		t.Fatal("foreign origin upgraded to a websocket")
	} else if se, ok := err.(ws.StatusError); !ok || int(se) != 403 {
		t.Fatalf("websocket from a foreign origin: %v, want 403", err)
	}

	status, body := apiGet(t, n, "/api/v1/stats", "k")
	var st struct {
		Broker struct {
			Extra struct {
				Access struct {
					Refused map[string]int64 `json:"refused"`
				} `json:"access"`
			} `json:"extra"`
		} `json:"broker"`
	}
	if err := json.Unmarshal([]byte(body), &st); status != 200 || err != nil {
		t.Fatalf("stats: %d %v %s", status, err, body)
	}
	if got := st.Broker.Extra.Access.Refused["CORS_ORIGIN_NOT_ALLOWED"]; got != 3 {
		t.Fatalf("CORS_ORIGIN_NOT_ALLOWED counted %d times, want 3: %s", got, body)
	}
	if v, ok := sample(scrape(t, n, ""), "ionbus_access_refused_total", "code", "CORS_ORIGIN_NOT_ALLOWED"); !ok || v != 3 {
		t.Fatalf("ionbus_access_refused_total{code=CORS_ORIGIN_NOT_ALLOWED} = %v (%v), want 3", v, ok)
	}
}
