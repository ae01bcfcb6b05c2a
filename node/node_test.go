package node

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
	"github.com/golang-jwt/jwt/v5"
	"github.com/rs/zerolog"

	"github.com/ionbus/ionbus/broker"
	"github.com/ionbus/ionbus/broker/access"
	"github.com/ionbus/ionbus/internal/redistest"
)

var httpClient = &http.Client{Timeout: 10 * time.Second}

const testSecret = "node-test-secret-node-test-secret-32"

// clusterConfig is a node of a test cluster: loopback ports, the API with
// a key, JWT authentication, one connection per user cluster-wide.
func clusterConfig(redisURL, nodeID string) Config {
	c := Default()
	c.NodeID = nodeID
	c.Listen = "127.0.0.1:0"
	c.API = APIConfig{Listen: "127.0.0.1:0", Key: "k"}
	c.Redis.URL = redisURL
	c.Redis.Key = "node-test"
	c.Auth.JWT.Secret = testSecret
	c.Limits.MaxConnectionsPerUser = 1
	c.Namespaces = []NamespaceConfig{{Name: "/", Access: "authenticated", AutoJoin: []string{"user:{user}"}}}
	c.ShutdownTimeout = Duration(5 * time.Second)
	return c
}

// startNode builds a node from cfg and starts it; it is shut down at
// cleanup and must stop cleanly.
func startNode(t *testing.T, cfg Config, setup func(*Node)) *Node {
	t.Helper()
	n, err := New(cfg, zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel))
	if err != nil {
		t.Fatal(err)
	}
	if setup != nil {
		setup(n)
	}
	if err := n.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := n.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return n
}

// wsClient is a Socket.IO client on a raw websocket: it speaks the
// protocol as socket.io-client does (open, CONNECT with auth, pong).
type wsClient struct {
	t    *testing.T
	conn net.Conn
	r    io.Reader // conn, after what ws.Dial buffered
}

func dialSocket(t *testing.T, n *Node, authPayload string) *wsClient {
	t.Helper()
	return dialSocketHeader(t, n, authPayload, nil)
}

// dialSocketHeader is dialSocket with extra handshake headers.
func dialSocketHeader(t *testing.T, n *Node, authPayload string, h http.Header) *wsClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, br, _, err := ws.Dialer{Header: ws.HandshakeHeaderHTTP(h)}.Dial(ctx, "ws://"+n.Addr().String()+"/socket.io/?EIO=4&transport=websocket")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	c := &wsClient{t: t, conn: conn, r: conn}
	if br != nil { // frames that came with the 101 response
		c.r = io.MultiReader(br, conn)
	}
	if p := c.next(); !strings.HasPrefix(p, "0{") {
		t.Fatalf("open packet %q", p)
	}
	c.send("40" + authPayload)
	return c
}

func (c *wsClient) rw() io.ReadWriter {
	return struct {
		io.Reader
		io.Writer
	}{c.r, c.conn}
}

func (c *wsClient) send(p string) {
	c.t.Helper()
	if err := wsutil.WriteClientText(c.conn, []byte(p)); err != nil {
		c.t.Fatal(err)
	}
}

// next returns the next packet other than a ping (answered).
func (c *wsClient) next() string {
	c.t.Helper()
	for {
		_ = c.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		msg, err := wsutil.ReadServerText(c.rw())
		if err != nil {
			c.t.Fatalf("read: %v", err)
		}
		if string(msg) == "2" {
			c.send("3")
			continue
		}
		return string(msg)
	}
}

func token(t *testing.T, sub string) string {
	t.Helper()
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"sub": sub, "exp": time.Now().Add(time.Hour).Unix(),
	}).SignedString([]byte(testSecret))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestNodeCluster builds two nodes from Configs on one real Redis: a
// client of node A is authenticated by its JWT, answered by an
// embedder's own handler next to the configured rules, reached by an
// emit to its user room through node B's HTTP API, and the per-user
// connection limit holds across the nodes.
func TestNodeCluster(t *testing.T) {
	url := redistest.Start(t).URL()
	a := startNode(t, clusterConfig(url, "node-a"), func(n *Node) {
		n.Server().Of("/").OnConnection(func(s *broker.Socket) {
			s.On("whoami", func(e *broker.Event) { _ = e.Ack(access.Identity(s).UserID, n.NodeID()) })
		})
	})
	b := startNode(t, clusterConfig(url, "node-b"), nil)

	c := dialSocket(t, a, `{"token":"`+token(t, "u1")+`"}`)
	if p := c.next(); !strings.HasPrefix(p, `40{"sid":`) {
		t.Fatalf("connect answer %q", p)
	}
	c.send(`421["whoami"]`)
	if p := c.next(); p != `431["u1","node-a"]` {
		t.Fatalf("whoami ack %q", p)
	}

	// The emit reaches node A through Redis once B's subscription and
	// A's are both up; the first tries may be lost while they settle.
	deadline := time.Now().Add(10 * time.Second)
	for {
		body := `{"event":"note","rooms":["user:u1"],"data":["from-b"]}`
		req, _ := http.NewRequest("POST", "http://"+b.APIAddr().String()+"/api/v1/emit", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer k")
		req.Header.Set("Content-Type", "application/json")
		resp, err := httpClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted {
			t.Fatalf("emit: %d", resp.StatusCode)
		}
		_ = c.conn.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		msg, err := wsutil.ReadServerText(c.rw())
		if err == nil && string(msg) == `42["note","from-b"]` {
			break
		}
		if err == nil && string(msg) == "2" {
			c.send("3")
		}
		if time.Now().After(deadline) {
			t.Fatalf("the emit through node B never reached node A's client (last %q, %v)", msg, err)
		}
	}

	// u1 already holds its one connection (on A): B refuses a second.
	c2 := dialSocket(t, b, `{"token":"`+token(t, "u1")+`"}`)
	if p := c2.next(); !strings.HasPrefix(p, `44{"message":"Connection limit exceeded"`) || !strings.Contains(p, "CONNECTION_LIMIT_EXCEEDED") {
		t.Fatalf("second connection of u1 on node B: %q", p)
	}
	// Without a token the authenticated namespace refuses.
	c3 := dialSocket(t, b, "")
	if p := c3.next(); !strings.Contains(p, "AUTH_REQUIRED") {
		t.Fatalf("anonymous connect: %q", p)
	}
}

// TestNewReportsEveryProblem: New validates, and one error lists every
// invalid key.
func TestNewReportsEveryProblem(t *testing.T) {
	c := Default()
	c.Listen = ""
	c.Engine.Transports = []string{"carrier-pigeon"}
	c.Redis.Mode = "bogus"
	_, err := New(c, zerolog.Nop())
	if err == nil {
		t.Fatal("invalid config accepted")
	}
	for _, want := range []string{"listen: required", "engine.transports", "redis.mode"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
}
