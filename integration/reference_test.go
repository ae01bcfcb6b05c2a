package integration

import (
	"strings"
	"testing"
)

// TestReferenceScenarios runs every js/client.js scenario against the
// real socket.io@4.8.1 server (js/reference-server.js) with the settings
// the ionbus tests use. It proves the scripts right: a scenario that
// fails here is a wrong script, not an ionbus bug.
func TestReferenceScenarios(t *testing.T) {
	for _, sc := range []struct {
		name string
		env  []string // for both the server and the script
	}{
		{name: "transport-websocket"},
		{name: "transport-polling"},
		{name: "transport-upgrade"},
		{name: "polling-compressed"},
		{name: "websocket-deflate", env: []string{"PER_MESSAGE_DEFLATE=1"}},
		{name: "upgrade-ordering"},
		{name: "shutdown"},
		{name: "acks"},
		{name: "binary", env: []string{"TRANSPORT=websocket"}},
		{name: "binary", env: []string{"TRANSPORT=polling"}},
		{name: "multiplex"},
		{name: "rooms"},
		{name: "disconnect", env: []string{"TRANSPORT=websocket"}},
		{name: "disconnect", env: []string{"TRANSPORT=polling"}},
		{name: "heartbeat", env: []string{"PING_INTERVAL_MS=300", "PING_TIMEOUT_MS=200", "TRANSPORT=websocket"}},
		{name: "heartbeat", env: []string{"PING_INTERVAL_MS=300", "PING_TIMEOUT_MS=200", "TRANSPORT=polling"}},
		{name: "recovery", env: []string{"RECOVERY_MS=60000", "TRANSPORT=websocket"}},
		{name: "recovery", env: []string{"RECOVERY_MS=60000", "TRANSPORT=polling"}},
		{name: "recovery", env: []string{"RECOVERY_MS=60000", "TRANSPORT=default"}},
		{name: "recovery-expired", env: []string{"RECOVERY_MS=300"}},
		{name: "middleware"},
		{name: "binary", env: []string{"PARSER=msgpack", "TRANSPORT=websocket"}},
		{name: "binary", env: []string{"PARSER=msgpack", "TRANSPORT=polling"}},
		{name: "acks", env: []string{"PARSER=msgpack"}},
		{name: "multiplex", env: []string{"PARSER=msgpack"}},
		// api-emit needs ionbus's HTTP API; the reference has none.
	} {
		name := sc.name
		for _, e := range sc.env {
			if v, ok := strings.CutPrefix(e, "TRANSPORT="); ok {
				name += "/" + v
			}
			if e == "PARSER=msgpack" {
				name += "/msgpack"
			}
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			url := startReference(t, sc.env...)
			r := startNode(t, "client.js", append([]string{"URL=" + url, "TIMEOUT_MS=20000"}, sc.env...), sc.name)
			r.wait()
		})
	}
}
