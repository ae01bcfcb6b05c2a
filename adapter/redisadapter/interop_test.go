package redisadapter_test

import (
	"bufio"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ionbus/ionbus/adapter"
	"github.com/ionbus/ionbus/adapter/adaptertest"
	"github.com/ionbus/ionbus/adapter/redisadapter"
	"github.com/ionbus/ionbus/internal/golden"
	"github.com/ionbus/ionbus/internal/redistest"
)

// nodeServer is integration/adapter/interop.js: a Node socket.io server
// with the official Redis adapter and one connected client.
type nodeServer struct {
	t     *testing.T
	cmd   *exec.Cmd
	stdin io.WriteCloser
	lines chan map[string]any
	sid   string

	mu      sync.Mutex
	backlog []map[string]any
}

func startNode(t *testing.T, redisURL, mode string) *nodeServer {
	t.Helper()
	node := golden.NeedNode(t)
	n := &nodeServer{t: t, lines: make(chan map[string]any, 1024)}
	n.cmd = exec.Command(node, filepath.Join(golden.IntegrationDir(), "adapter", "interop.js"), redisURL, mode)
	n.stdin, _ = n.cmd.StdinPipe()
	stdout, _ := n.cmd.StdoutPipe()
	n.cmd.Stderr = &testWriter{t}
	if err := n.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var m map[string]any
			if json.Unmarshal(sc.Bytes(), &m) == nil {
				n.lines <- m
			}
		}
		close(n.lines)
	}()
	t.Cleanup(func() {
		n.send(map[string]any{"cmd": "exit"})
		timer := time.AfterFunc(5*time.Second, func() { _ = n.cmd.Process.Kill() })
		<-done
		_ = n.cmd.Wait()
		timer.Stop()
	})
	ready := n.expect("ready", func(m map[string]any) bool { return m["event"] == "ready" })
	n.sid, _ = ready["sid"].(string)
	return n
}

type testWriter struct{ t *testing.T }

func (w *testWriter) Write(p []byte) (int, error) {
	w.t.Logf("node: %s", strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func (n *nodeServer) send(cmd map[string]any) {
	b, _ := json.Marshal(cmd)
	_, _ = n.stdin.Write(append(b, '\n'))
}

// expect returns the first line (backlog first) satisfying pred.
func (n *nodeServer) expect(what string, pred func(map[string]any) bool) map[string]any {
	n.t.Helper()
	n.mu.Lock()
	for i, m := range n.backlog {
		if pred(m) {
			n.backlog = append(n.backlog[:i:i], n.backlog[i+1:]...)
			n.mu.Unlock()
			return m
		}
	}
	n.mu.Unlock()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case m, ok := <-n.lines:
			if !ok {
				n.t.Fatalf("node exited while waiting for %s", what)
			}
			if m["event"] == "fatal" || m["event"] == "error" {
				n.t.Fatalf("node: %v", m)
			}
			if pred(m) {
				return m
			}
			n.mu.Lock()
			n.backlog = append(n.backlog, m)
			n.mu.Unlock()
		case <-timeout:
			n.t.Fatalf("timed out waiting for %s; backlog %v", what, n.backlog)
		}
	}
}

func clientEvent(name string) func(map[string]any) bool {
	return func(m map[string]any) bool { return m["event"] == "client" && m["name"] == name }
}

// goNode is the fake broker behind the Go adapter: one socket
// "go-sock-1" in room "room-go".
type goNode struct{ adaptertest.Recorder }

func (g *goNode) HandleRequest(ctx context.Context, r adapter.Request, reply func(adapter.Reply)) {
	g.Recorder.HandleRequest(ctx, r, func(adapter.Reply) {}) // record only
	switch r.Kind {
	case adapter.RequestFetchSockets:
		reply(adapter.Reply{Sockets: []adapter.SocketInfo{{
			ID: "go-sock-1", Rooms: []string{"go-sock-1", "room-go"}, Data: json.RawMessage(`{"node":"go"}`),
			Handshake: adapter.Handshake{Headers: map[string]string{"host": "go"}, Time: "now", Address: "10.0.0.1", Issued: 1700000000000,
				URL: "/socket.io/?EIO=4", Query: map[string]string{"EIO": "4"}, Auth: json.RawMessage(`{"token":"abc"}`)},
		}}})
	case adapter.RequestAllRooms:
		reply(adapter.Reply{Rooms: []string{"go-sock-1", "room-go"}})
	case adapter.RequestServerSideEmit:
		reply(adapter.Reply{Data: json.RawMessage(`["go-ack"]`)})
	case adapter.RequestBroadcastAck:
		reply(adapter.Reply{ClientCount: 1})
		go reply(adapter.Reply{Data: json.RawMessage(`["go-client-ack",{"_placeholder":true,"num":0}]`), Attachments: [][]byte{{0xbe, 0xef}}})
	}
}

func (g *goNode) waitMessage(t *testing.T, what string, pred func(adapter.Message) bool) adapter.Message {
	t.Helper()
	var found adapter.Message
	ok := adaptertest.Eventually(10*time.Second, func() bool {
		for _, m := range g.Messages() {
			if pred(m) {
				found = m
				return true
			}
		}
		return false
	})
	if !ok {
		t.Fatalf("Go handler never got %s; got %+v", what, g.Messages())
	}
	return found
}

func dataIs(m adapter.Message, want string) bool {
	var a, b any
	return json.Unmarshal(m.Packet.Data, &a) == nil && json.Unmarshal([]byte(want), &b) == nil && reflect.DeepEqual(a, b)
}

func TestInteropClassic(t *testing.T)  { testInterop(t, redisadapter.ModeClassic) }
func TestInteropRoomMode(t *testing.T) { testInterop(t, redisadapter.ModeRoom) }
func TestInteropSharded(t *testing.T)  { testInterop(t, redisadapter.ModeSharded) }

func testInterop(t *testing.T, mode redisadapter.Mode) {
	golden.NeedNode(t)
	srv := redistest.Start(t)
	client := redis.NewClient(&redis.Options{Addr: srv.Addr})
	defer client.Close()
	a, err := redisadapter.New(redisadapter.Config{Mode: mode, RequestTimeout: 4 * time.Second}, client, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	g := &goNode{}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := a.Start(ctx, g); err != nil {
		t.Fatal(err)
	}
	defer a.Close(context.Background())
	for _, room := range []string{"go-sock-1", "room-go"} { // what the broker reports for its socket
		a.RoomCreated("/", room)
	}
	if err := a.Confirm(ctx); err != nil {
		t.Fatal(err)
	}
	nodeMode := "classic"
	if mode == redisadapter.ModeSharded {
		nodeMode = "sharded"
	}
	n := startNode(t, srv.URL(), nodeMode)

	if !adaptertest.Eventually(5*time.Second, func() bool { c, _ := a.ServerCount(ctx); return c == 2 }) {
		c, err := a.ServerCount(ctx)
		t.Fatalf("ServerCount = %d, %v; want 2", c, err)
	}
	n.send(map[string]any{"cmd": "serverCount"})
	if c := n.expect("serverCount", func(m map[string]any) bool { return m["event"] == "serverCount" }); c["count"] != float64(2) {
		t.Fatalf("Node serverCount = %v", c["count"])
	}

	t.Run("NodeBroadcastToGo", func(t *testing.T) {
		n.send(map[string]any{"cmd": "emit", "rooms": []string{"room-go"}, "name": "n2g", "args": []any{1, "x", map[string]any{"$bin": "0102"}}})
		m := g.waitMessage(t, "n2g", func(m adapter.Message) bool { return strings.Contains(string(m.Packet.Data), "n2g") })
		if m.Kind != adapter.KindBroadcast || !dataIs(m, `["n2g",1,"x",{"_placeholder":true,"num":0}]`) ||
			len(m.Packet.Attachments) != 1 || hex.EncodeToString(m.Packet.Attachments[0]) != "0102" || !reflect.DeepEqual(m.Opts.Rooms, []string{"room-go"}) {
			t.Fatalf("got %+v %s", m, m.Packet.Data)
		}
	})
	t.Run("GoBroadcastToNode", func(t *testing.T) {
		for i, rooms := range [][]string{nil, {"room-node"}, {n.sid}} {
			name := fmt.Sprintf("g2n-%d", i)
			if err := a.Publish(ctx, adapter.Message{Kind: adapter.KindBroadcast, Namespace: "/", Opts: adapter.BroadcastOptions{Rooms: rooms},
				Packet: adapter.Packet{Type: 5, Data: json.RawMessage(`["` + name + `",42,{"_placeholder":true,"num":0}]`), Attachments: [][]byte{{0xff}}, ID: -1}}); err != nil {
				t.Fatal(err)
			}
			ev := n.expect(name, clientEvent(name))
			args, _ := ev["args"].([]any)
			if len(args) != 2 || args[0] != float64(42) || !reflect.DeepEqual(args[1], map[string]any{"$bin": "ff"}) {
				t.Fatalf("client got %v", ev)
			}
		}
	})
	t.Run("GoJoinThenEmitInOrder", func(t *testing.T) {
		_ = a.Publish(ctx, adapter.Message{Kind: adapter.KindSocketsJoin, Namespace: "/", Opts: adapter.BroadcastOptions{Rooms: []string{n.sid}}, Rooms: []string{"joined-by-go"}})
		_ = a.Publish(ctx, adapter.Message{Kind: adapter.KindBroadcast, Namespace: "/", Opts: adapter.BroadcastOptions{Rooms: []string{"joined-by-go", "nobody"}},
			Packet: adapter.Packet{Type: 2, Data: json.RawMessage(`["after-join"]`), ID: -1}})
		n.expect("after-join", clientEvent("after-join"))
	})
	t.Run("NodeFetchSocketsAnsweredByGo", func(t *testing.T) {
		n.send(map[string]any{"cmd": "fetchSockets"})
		f := n.expect("fetched", func(m map[string]any) bool { return m["event"] == "fetched" })
		socks, _ := f["sockets"].([]any)
		var goSock map[string]any
		for _, s := range socks {
			if sm := s.(map[string]any); sm["id"] == "go-sock-1" {
				goSock = sm
			}
		}
		if len(socks) != 2 || goSock == nil {
			t.Fatalf("fetched %v", f)
		}
		hs, _ := goSock["handshake"].(map[string]any)
		if !reflect.DeepEqual(goSock["data"], map[string]any{"node": "go"}) || !reflect.DeepEqual(goSock["rooms"], []any{"go-sock-1", "room-go"}) ||
			hs["address"] != "10.0.0.1" || !reflect.DeepEqual(hs["auth"], map[string]any{"token": "abc"}) {
			t.Fatalf("go socket as seen by Node: %v", goSock)
		}
	})
	t.Run("GoFetchSocketsFromNode", func(t *testing.T) {
		var reps []adapter.Reply
		if err := a.Request(ctx, adapter.Request{Kind: adapter.RequestFetchSockets, Namespace: "/"}, func(r adapter.Reply) { reps = append(reps, r) }); err != nil {
			t.Fatal(err)
		}
		if len(reps) != 1 || len(reps[0].Sockets) != 1 {
			t.Fatalf("replies %+v", reps)
		}
		s := reps[0].Sockets[0]
		if s.ID != n.sid || string(s.Data) != `{"node":"js"}` || !contains(s.Rooms, "room-node") || s.Handshake.Address == "" || s.Handshake.Query["EIO"] != "4" {
			t.Fatalf("socket %+v", s)
		}
	})
	if mode != redisadapter.ModeSharded { // the sharded Node adapter has no cluster-wide allRooms
		t.Run("AllRoomsBothWays", func(t *testing.T) {
			var rooms []string
			if err := a.Request(ctx, adapter.Request{Kind: adapter.RequestAllRooms, Namespace: "/"}, func(r adapter.Reply) { rooms = append(rooms, r.Rooms...) }); err != nil {
				t.Fatal(err)
			}
			if !contains(rooms, "room-node") || !contains(rooms, n.sid) {
				t.Fatalf("rooms %v", rooms)
			}
			n.send(map[string]any{"cmd": "allRooms"})
			r := n.expect("allRooms", func(m map[string]any) bool { return m["event"] == "allRooms" })
			if !strings.Contains(fmt.Sprint(r["rooms"]), "room-go") {
				t.Fatalf("node allRooms %v", r)
			}
		})
	}
	t.Run("ServerSideEmitWithAckNodeToGo", func(t *testing.T) {
		n.send(map[string]any{"cmd": "sseAck", "args": []any{"from-node", 7}})
		r := n.expect("sseAcked", func(m map[string]any) bool { return m["event"] == "sseAcked" })
		if !reflect.DeepEqual(r["responses"], []any{"go-ack"}) {
			t.Fatalf("node got %v", r)
		}
		reqs := g.Requests()
		last := reqs[len(reqs)-1]
		var d []any
		_ = json.Unmarshal(last.Packet.Data, &d)
		if last.Kind != adapter.RequestServerSideEmit || !reflect.DeepEqual(d, []any{"hello-servers", "from-node", float64(7)}) {
			t.Fatalf("go got %+v", last)
		}
	})
	t.Run("ServerSideEmitWithAckGoToNode", func(t *testing.T) {
		var reps []adapter.Reply
		err := a.Request(ctx, adapter.Request{Kind: adapter.RequestServerSideEmit, Namespace: "/", Packet: adapter.Packet{Type: 2, Data: json.RawMessage(`["hello-servers","from-go"]`), ID: -1}},
			func(r adapter.Reply) { reps = append(reps, r) })
		if err != nil || len(reps) != 1 || string(reps[0].Data) != `["node-ack"]` {
			t.Fatalf("%v %+v", err, reps)
		}
		n.expect("sse from go", func(m map[string]any) bool { return m["event"] == "sse" && m["withAck"] == true })
	})
	t.Run("ServerSideEmitNoAck", func(t *testing.T) {
		_ = a.Publish(ctx, adapter.Message{Kind: adapter.KindServerSideEmit, Namespace: "/", Packet: adapter.Packet{Type: 2, Data: json.RawMessage(`["hello-servers","plain-go"]`), ID: -1}})
		n.expect("plain sse", func(m map[string]any) bool { return m["event"] == "sse" && fmt.Sprint(m["args"]) == "[plain-go]" })
		n.send(map[string]any{"cmd": "sse", "args": []any{"plain-node"}})
		g.waitMessage(t, "plain sse", func(m adapter.Message) bool {
			return m.Kind == adapter.KindServerSideEmit && dataIs(m, `["hello-servers","plain-node"]`)
		})
	})
	t.Run("BroadcastAckGoToNode", func(t *testing.T) {
		var count int
		var acks []string
		err := a.Request(ctx, adapter.Request{Kind: adapter.RequestBroadcastAck, Namespace: "/", Packet: adapter.Packet{Type: 2, Data: json.RawMessage(`["q",1]`), ID: -1}},
			func(r adapter.Reply) {
				if r.Data == nil {
					count += r.ClientCount
				} else {
					acks = append(acks, string(r.Data))
				}
			})
		if err != nil || count != 1 || !reflect.DeepEqual(acks, []string{`["client-ack"]`}) {
			t.Fatalf("%v count=%d acks=%v", err, count, acks)
		}
	})
	t.Run("BroadcastAckNodeToGo", func(t *testing.T) {
		n.send(map[string]any{"cmd": "broadcastAck", "args": []any{"x"}})
		r := n.expect("broadcastAcked", func(m map[string]any) bool { return m["event"] == "broadcastAcked" })
		got := fmt.Sprint(r["responses"])
		if !strings.Contains(got, "client-ack") || !strings.Contains(got, "go-client-ack") {
			t.Fatalf("node got %v", r)
		}
	})
	t.Run("NodeJoinAndDisconnectToGo", func(t *testing.T) {
		n.send(map[string]any{"cmd": "socketsJoin", "rooms": []string{"room-go"}, "join": []string{"extra"}})
		g.waitMessage(t, "join", func(m adapter.Message) bool {
			return m.Kind == adapter.KindSocketsJoin && reflect.DeepEqual(m.Rooms, []string{"extra"}) && reflect.DeepEqual(m.Opts.Rooms, []string{"room-go"})
		})
		n.send(map[string]any{"cmd": "disconnectSockets", "rooms": []string{"room-zzz"}, "close": true})
		g.waitMessage(t, "disconnect", func(m adapter.Message) bool { return m.Kind == adapter.KindDisconnectSockets && m.Close })
	})
	if mode != redisadapter.ModeSharded { // the emitter speaks the classic format only
		t.Run("EmitterToGo", func(t *testing.T) {
			n.send(map[string]any{"cmd": "emitter", "rooms": []string{"room-go"}, "join": []string{"from-emitter"}})
			n.send(map[string]any{"cmd": "emitter", "rooms": []string{"room-go"}, "name": "emitted", "args": []any{map[string]any{"$bin": "cafe"}}})
			m := g.waitMessage(t, "emitter broadcast", func(m adapter.Message) bool { return strings.Contains(string(m.Packet.Data), "emitted") })
			if len(m.Packet.Attachments) != 1 || hex.EncodeToString(m.Packet.Attachments[0]) != "cafe" || m.Origin != "emitter" {
				t.Fatalf("got %+v", m)
			}
			// The join published first is applied first.
			msgs := g.Messages()
			iJoin, iEmit := -1, -1
			for i, x := range msgs {
				if x.Kind == adapter.KindSocketsJoin && contains(x.Rooms, "from-emitter") {
					iJoin = i
				}
				if strings.Contains(string(x.Packet.Data), "emitted") {
					iEmit = i
				}
			}
			if iJoin < 0 || iJoin > iEmit {
				t.Fatalf("join at %d, emit at %d", iJoin, iEmit)
			}
		})
	}
	if st := a.Stats(); st.Malformed != 0 || st.Dropped != 0 {
		t.Errorf("stats %+v", st)
	}
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}
