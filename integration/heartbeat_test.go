package integration

import (
	"fmt"
	"testing"
	"time"
)

// TestHeartbeatRawClient: a gobwas websocket client that never answers a
// ping. The server must ping after pingInterval and close the session
// pingTimeout later. Run against ionbus and the reference.
func TestHeartbeatRawClient(t *testing.T) {
	const interval, timeout = 300 * time.Millisecond, 200 * time.Millisecond
	check := func(t *testing.T, url string) (ping, closed time.Duration) {
		start := time.Now()
		c := dialWS(t, url, "EIO=4&transport=websocket")
		if c.open["pingInterval"] != float64(interval.Milliseconds()) || c.open["pingTimeout"] != float64(timeout.Milliseconds()) {
			t.Errorf("open packet %v, want pingInterval %d, pingTimeout %d", c.open, interval.Milliseconds(), timeout.Milliseconds())
		}
		c.connect()
		if got := c.readText(2 * time.Second); got != "2" {
			t.Fatalf("got %q, want the ping packet 2", got)
		}
		ping = time.Since(start)
		c.expectClosed()
		closed = time.Since(start)
		if ping < interval-50*time.Millisecond || ping > interval+150*time.Millisecond {
			t.Errorf("first ping after %v, want about %v", ping, interval)
		}
		if want := interval + timeout; closed < want-50*time.Millisecond || closed > want+interval {
			t.Errorf("closed after %v, want about %v", closed, want)
		}
		return ping, closed
	}
	t.Run("ionbus", func(t *testing.T) {
		ts := startServer(t, serverOptions{pingInterval: interval, pingTimeout: timeout})
		ping, closed := check(t, ts.url)
		t.Logf("ping at %v, closed at %v", ping, closed)
		var reasons []string
		eventually(t, 2*time.Second, "the server-side disconnect", func() bool {
			reasons = reasons[:0]
			for _, r := range ts.log.all() {
				if r.Kind == "disconnect" {
					reasons = append(reasons, r.Reason)
				}
			}
			return len(reasons) > 0
		})
		if len(reasons) != 1 || reasons[0] != "ping timeout" {
			t.Errorf("disconnect reasons %q, want [ping timeout]", reasons)
		}
		ts.waitIdle(t)
	})
	t.Run("reference", func(t *testing.T) {
		url := startReference(t, fmt.Sprintf("PING_INTERVAL_MS=%d", interval.Milliseconds()), fmt.Sprintf("PING_TIMEOUT_MS=%d", timeout.Milliseconds()))
		ping, closed := check(t, url)
		t.Logf("ping at %v, closed at %v", ping, closed)
	})
}
