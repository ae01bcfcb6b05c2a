package main

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/ionbus/ionbus/adapter/redisadapter"
	"github.com/ionbus/ionbus/internal/redistest"
)

// pollClient is a raw Engine.IO polling client connected to "/" (or ns).
type pollClient struct {
	t       *testing.T
	url     string
	pending []string
}

func dialPolling(t *testing.T, public string, connect string) *pollClient {
	t.Helper()
	code, body := get(t, public+"/socket.io/?EIO=4&transport=polling")
	if code != 200 {
		t.Fatalf("handshake: %d %s", code, body)
	}
	sid, _, _, _, _ := openPacket(t, body)
	c := &pollClient{t: t, url: public + "/socket.io/?EIO=4&transport=polling&sid=" + sid}
	if connect != "" {
		c.send(connect)
	}
	return c
}

func (c *pollClient) send(packets ...string) {
	c.t.Helper()
	if code, body := post(c.t, c.url, strings.Join(packets, "\x1e")); code != 200 {
		c.t.Fatalf("POST: %d %s", code, body)
	}
}

// next returns the next packet other than a ping (answered), or "" when
// one poll came back with only pings.
func (c *pollClient) next() string {
	c.t.Helper()
	for {
		for len(c.pending) > 0 {
			p := c.pending[0]
			c.pending = c.pending[1:]
			if p == "2" {
				c.send("3")
				return ""
			}
			return p
		}
		code, body := get(c.t, c.url)
		if code != 200 {
			c.t.Fatalf("poll: %d %s", code, body)
		}
		c.pending = strings.Split(body, "\x1e")
	}
}

// expect reads packets until one starts with prefix, calling retry
// whenever a poll ended without it (to re-publish while subscriptions
// settle), for at most 10 s.
func (c *pollClient) expect(prefix string, retry func()) string {
	c.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		p := c.next()
		if strings.HasPrefix(p, prefix) {
			return p
		}
		if p == "" && retry != nil {
			retry()
		}
	}
	c.t.Fatalf("no packet starting with %q within 10s", prefix)
	return ""
}

// TestClusterEmitAcrossNodes: a client on node A receives an event
// published through node B's HTTP API, for each Redis mode (sharded
// needs Redis 7), and through `ionbus emit` (classic and room modes).
func TestClusterEmitAcrossNodes(t *testing.T) {
	url := redistest.Start(t).URL()
	for _, mode := range []string{"classic", "room", "sharded"} {
		t.Run(mode, func(t *testing.T) {
			key := "t-" + mode
			env := map[string]string{"IONBUS_API_KEY": "k", "IONBUS_REDIS_KEY": key, "IONBUS_NAMESPACES": "/,/chat"}
			args := []string{"--redis-url", url, "--redis-mode", mode, "--ping-interval", "300ms", "--ping-timeout", "2s"}
			a, publicA, _, _ := startApp(t, append(args, "--node-id", "node-a-"+mode), env)
			b, _, apiB, _ := startApp(t, append(args, "--node-id", "node-b-"+mode), env)
			if a.Server().NodeID() != "node-a-"+mode || b.Server().Adapter().(*redisadapter.Adapter).ID() != "node-b-"+mode {
				t.Fatalf("node ids %q %q", a.Server().NodeID(), b.Server().Adapter().(*redisadapter.Adapter).ID())
			}

			c := dialPolling(t, publicA, "40/chat,")
			c.expect("40/chat,{", nil)
			emit := func() {
				if code, body := post(t, apiB+"/api/v1/emit", `{"namespace":"/chat","event":"hi","data":["from-b"]}`,
					"Authorization", "Bearer k"); code != 202 {
					t.Fatalf("emit on B: %d %s", code, body)
				}
			}
			emit()
			if p := c.expect(`42/chat,["hi"`, emit); p != `42/chat,["hi","from-b"]` {
				t.Fatalf("client on A got %q", p)
			}

			if mode == "sharded" {
				return // emitters PUBLISH; sharded nodes only read SPUBLISH (as in Node)
			}
			cmdEmit := func() {
				code, out, errs := runCmd([]string{"emit", "--redis", url, "--key", key, "--namespace", "/chat",
					"--event", "news", "--data", `[{"n":1},"x"]`}, nil)
				if code != 0 {
					t.Fatalf("ionbus emit: %d %s %s", code, out, errs)
				}
			}
			cmdEmit()
			if p := c.expect(`42/chat,["news"`, cmdEmit); p != `42/chat,["news",{"n":1},"x"]` {
				t.Fatalf("client got %q", p)
			}
			// Stats expose the adapter and the access guard.
			_, stats := get(t, apiB+"/api/v1/stats", "Authorization", "Bearer k")
			if !strings.Contains(stats, `"adapter"`) || !strings.Contains(stats, `"access"`) {
				t.Fatalf("stats %s", stats)
			}
			if code, body := get(t, apiB+"/healthz"); code != 200 || !strings.Contains(body, `"ok"`) {
				t.Fatalf("healthz %d %s", code, body)
			}
		})
	}
}

// TestServeRedisDown: a node whose Redis is unreachable still starts,
// serves its own sockets and reports degraded.
func TestServeRedisDown(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "redis://" + l.Addr().String()
	l.Close()
	_, public, apiURL, logs := startApp(t, []string{"--redis-url", dead}, map[string]string{"IONBUS_SHUTDOWN_TIMEOUT": "3s"})
	if code, _ := get(t, public+"/socket.io/?EIO=4&transport=polling"); code != 200 {
		t.Fatalf("handshake: %d", code)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, body := get(t, apiURL+"/healthz")
		if strings.Contains(body, "degraded") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("healthz never degraded: %s", body)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !strings.Contains(logs.String(), "redis unreachable") {
		t.Fatalf("no warning logged: %s", logs.String())
	}
}
