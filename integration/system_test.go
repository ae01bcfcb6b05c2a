package integration

// Built-in system events (system_events) on two `ionbus serve` nodes
// sharing a real redis-server, read by the real socket.io-client
// (js/system.js): one emitter per event and interval for the whole
// cluster, the documented payloads, system:metrics to the admins room
// of /system only, and services posted through the HTTP API merged into
// system:health.

import (
	"fmt"
	"net/http"
	"slices"
	"testing"

	"github.com/ionbus/ionbus/internal/redistest"
)

// systemConfig is renderConfig's node plus /system and three events
// every 300 ms.
func systemConfig(s nodeSpec) func(port, apiPort int) string {
	return func(port, apiPort int) string {
		return renderConfig(s, port, apiPort) +
			"  - name: /system\n    rooms: {allow: [\"admins\"]}\n" +
			"system_events:\n" +
			"  - {namespace: /, event: \"system:health\", kind: health, interval: 300ms}\n" +
			"  - {namespace: /system, event: \"system:metrics\", kind: metrics, interval: 300ms, room: admins}\n" +
			"  - {event: system_status_update, kind: status, interval: 300ms, component: websocket_server}\n"
	}
}

func TestClusterSystemEvents(t *testing.T) {
	requireClusterTools(t)
	rs := redistest.Start(t)
	spec := nodeSpec{RedisURL: rs.URL(), Key: keyFor(t)}
	var nodes []*ionbusNode
	for _, id := range []string{"a", "b"} {
		s := spec
		s.ID = id
		nodes = append(nodes, launchIonbus(t, id, systemConfig(s)))
	}
	nodes = waitIonbus(t, nodes)

	r := startNode(t, "system.js", []string{
		"URL=" + nodes[0].url(), "URLS=" + nodes[0].url() + "," + nodes[1].url(),
		"API=" + nodes[1].apiURL(), "KEY=" + clusterAPIKey,
		"INTERVAL_MS=300", "WATCH_MS=3000", "TIMEOUT_MS=30000",
	}, "events")
	lines := r.wait()
	var res map[string]any
	for _, m := range lines {
		if o, ok := m["ok"]; ok {
			t.Logf("ok: %v", o)
		}
		if v, ok := m["result"].(map[string]any); ok {
			res = v
		}
	}
	if res == nil {
		t.Fatalf("no result\n%s", r.transcript())
	}
	// One emitter: the clients of both nodes got the same emissions (the
	// same timestamps), not one series per node.
	seq, _ := res["sequences"].(map[string]any)
	a, _ := seq["a"].(map[string]any)
	b, _ := seq["b"].(map[string]any)
	for _, kind := range []string{"health", "metrics"} {
		sa, sb := fmt.Sprint(a[kind]), fmt.Sprint(b[kind])
		la, _ := a[kind].([]any)
		lb, _ := b[kind].([]any)
		// The watch window may cut one emission at either end on one node.
		common := 0
		for _, x := range la {
			if slices.Contains(lb, x) {
				common++
			}
		}
		if common < len(la)-2 || common < len(lb)-2 || common < 6 {
			t.Errorf("%s: nodes saw different emissions:\n a %s\n b %s", kind, sa, sb)
		}
	}

	// The services route: listed, and behind the key.
	var list struct {
		Services []struct {
			Name, Status string
		} `json:"services"`
	}
	if code := nodes[0].do(t, http.MethodGet, "/api/v1/services", nil, &list); code != http.StatusOK ||
		len(list.Services) != 1 || list.Services[0].Name != "database" || list.Services[0].Status != "offline" {
		t.Fatalf("GET /api/v1/services on the other node: %d %+v", code, list)
	}
	req, _ := http.NewRequest(http.MethodGet, nodes[0].apiURL()+"/api/v1/services", nil)
	resp, err := nodes[0].http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("without the key: %d", resp.StatusCode)
	}
}
