package main

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ionbus/ionbus/internal/redistest"
)

// TestRedisRestartEmpty: Redis is killed and restarted without its data.
// Each node notices at its next heartbeat and registers its state again:
// a user connected on node A is listed by node B again, and a user holding
// max_connections_per_user sessions cannot open one more on node B.
func TestRedisRestartEmpty(t *testing.T) {
	rd := redistest.Start(t)
	const nodeTTL = 1500 * time.Millisecond // presence heartbeat every 250ms, limits every 500ms
	file := writeFile(t, `
namespaces:
  - name: /
    presence: {namespace: true}
presence: {grace: 0, node_ttl: 1500ms}
limits:
  enabled: true
  max_connections_per_user: 2
  node_ttl: 1500ms
`)
	env := map[string]string{"IONBUS_API_KEY": "k", "IONBUS_SHUTDOWN_TIMEOUT": "3s"}
	args := []string{"--config", file, "--jwt-secret", testSecret, "--redis-url", rd.URL()}
	_, publicA, _, _ := startApp(t, append(args, "--node-id", "restart-a"), env)
	_, publicB, apiB, _ := startApp(t, append(args, "--node-id", "restart-b"), env)

	listedOnB := func() bool {
		code, body := get(t, apiB+"/api/v1/presence?namespace=/", "Authorization", "Bearer k")
		return code == 200 && strings.Contains(body, `"id":"ann"`)
	}
	// connect opens a session for user on a node and returns the reply to
	// its CONNECT, and the client (to close it).
	connect := func(public, user string) (string, *pollClient) {
		c := dialPolling(t, public, `40{"token":"`+testToken(t, user)+`"}`)
		p := c.expect("4", nil)
		return p, c
	}
	// thirdRefused tries a 3rd bob session on B; an admitted one is closed.
	thirdRefused := func() bool {
		p, c := connect(publicB, "bob")
		if strings.HasPrefix(p, "44") {
			if !strings.Contains(p, "CONNECTION_LIMIT") {
				t.Fatalf("3rd session refused with %q", p)
			}
			return true
		}
		c.send("1") // close the session: its slot is released
		return false
	}
	waitFor := func(what string, within time.Duration, cond func() bool) time.Duration {
		t.Helper()
		start := time.Now()
		for !cond() {
			if time.Since(start) > within {
				t.Fatalf("%s: not within %v", what, within)
			}
			time.Sleep(50 * time.Millisecond)
		}
		return time.Since(start)
	}

	if p, _ := connect(publicA, "ann"); !strings.HasPrefix(p, "40{") {
		t.Fatalf("ann on A: %q", p)
	}
	for i := 0; i < 2; i++ {
		if p, _ := connect(publicA, "bob"); !strings.HasPrefix(p, "40{") {
			t.Fatalf("bob #%d on A: %q", i+1, p)
		}
	}
	waitFor("ann listed on B", 5*time.Second, listedOnB)
	if !thirdRefused() {
		t.Fatal("3rd bob session admitted before the restart")
	}

	rd.Stop()
	time.Sleep(300 * time.Millisecond) // the nodes see Redis gone
	rd.Restart()
	restarted := time.Now()
	bound := nodeTTL + nodeTTL/3 // node_ttl + the limits heartbeat interval (the longer one)
	healedList := waitFor("presence listing heals on B", bound+2*time.Second, listedOnB)
	healedLimit := waitFor("per-user limit holds again", bound+2*time.Second, thirdRefused)
	t.Logf("after the empty restart: listing healed in %v, limit held again %v after Redis answered (bound %v)",
		healedList, time.Since(restarted), bound)

	// The nodes report what happened.
	_, stats := get(t, apiB+"/api/v1/stats", "Authorization", "Bearer k")
	if !regexp.MustCompile(`"resyncs_total":[1-9]`).MatchString(stats) {
		t.Fatalf("presence resync not counted in stats: %s", stats)
	}
	_ = healedLimit
}
