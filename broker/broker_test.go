package broker

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/ionbus/ionbus/adapter"
	"github.com/ionbus/ionbus/connection"
)

func TestConnectAnswersSidAndJoinsOwnRoom(t *testing.T) {
	h := newHarness(t, Config{})
	_, s := h.connect("/", "")
	if !reflect.DeepEqual(s.Rooms(), []string{s.ID()}) {
		t.Fatalf("rooms = %v, want own id room", s.Rooms())
	}
	if len(s.ID()) != 20 {
		t.Fatalf("socket id %q: want 20 base64url chars like the reference", s.ID())
	}
}

func TestConnectErrors(t *testing.T) {
	h := newHarness(t, Config{})
	h.srv.Of("/guarded").Use(func(s *Socket) error {
		if s.Handshake().Auth["token"] != "good" {
			return &ConnectError{Message: "Authentication failed", Data: map[string]any{"code": "AUTH_REQUIRED"}}
		}
		return nil
	})
	h.srv.Of("/plain").Use(func(s *Socket) error { return errors.New("nope") })
	h.srv.Of("/panics").Use(func(s *Socket) error { panic("boom") })

	cases := []struct {
		name, packet, want string
	}{
		{"unknown namespace", "0/nope,", `4/nope,{"message":"Invalid namespace"}`},
		{"refused with data", `0/guarded,{"token":"bad"}`, `4/guarded,{"message":"Authentication failed","data":{"code":"AUTH_REQUIRED"}}`},
		{"plain error", "0/plain,", `4/plain,{"message":"nope"}`},
		{"middleware panic", "0/panics,", `4/panics,{"message":"Internal server error"}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := h.open()
			h.text(c, tc.packet)
			if got := c.take(); len(got) != 1 || got[0] != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
			if c.closeReason() != connection.CloseNone {
				t.Fatalf("session closed (%v); the reference keeps it open", c.closeReason())
			}
		})
	}
	// The accepted case.
	c := h.open()
	h.text(c, `0/guarded,{"token":"good"}`)
	if got := c.take(); len(got) != 1 || !strings.HasPrefix(got[0], `0/guarded,{"sid":`) {
		t.Fatalf("good token: got %q", got)
	}
}

func TestPatternNamespace(t *testing.T) {
	h := newHarness(t, Config{})
	parent := h.srv.OfPattern(regexp.MustCompile(`^/tenant-\d+$`))
	var got []string
	parent.OnConnection(func(s *Socket) { got = append(got, s.Namespace().Name()) })
	h.connect("/tenant-1", "")
	h.connect("/tenant-22", "")
	c := h.open()
	h.text(c, "0/tenant-x,")
	if out := c.take(); len(out) != 1 || out[0] != `4/tenant-x,{"message":"Invalid namespace"}` {
		t.Fatalf("non-matching: %q", out)
	}
	if !reflect.DeepEqual(got, []string{"/tenant-1", "/tenant-22"}) {
		t.Fatalf("parent handlers saw %v", got)
	}
	if n := len(parent.Sockets()); n != 2 {
		t.Fatalf("parent sees %d sockets, want 2", n)
	}
}

func TestEventAndAck(t *testing.T) {
	h := newHarness(t, Config{})
	h.srv.Of("/").OnConnection(func(s *Socket) {
		s.On("echo", func(e *Event) {
			args, err := e.Args()
			if err != nil {
				t.Error(err)
			}
			_ = e.Ack(args...)
		})
	})
	c, _ := h.connect("/", "")
	h.text(c, `212["echo",1.50,{"a":[true,null]},"é"]`)
	want := `312[1.50,{"a":[true,null]},"é"]`
	if got := c.take(); len(got) != 1 || got[0] != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestBinaryEventAndAck(t *testing.T) {
	h := newHarness(t, Config{})
	h.srv.Of("/").OnConnection(func(s *Socket) {
		s.On("bin", func(e *Event) {
			args, _ := e.Args()
			b, ok := args[0].([]byte)
			if !ok {
				t.Errorf("arg 0 is %T, want []byte", args[0])
			}
			_ = e.Ack(map[string]any{"back": b})
		})
	})
	c, _ := h.connect("/", "")
	h.text(c, `51-7["bin",{"_placeholder":true,"num":0}]`)
	if got := c.take(); len(got) != 0 {
		t.Fatalf("answered before the attachment: %q", got)
	}
	h.binary(c, []byte{1, 2, 3})
	want := []string{`61-7[{"back":{"_placeholder":true,"num":0}}]`, "<bin:\x01\x02\x03>"}
	if got := c.take(); !reflect.DeepEqual(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestServerEmitWithAck(t *testing.T) {
	h := newHarness(t, Config{})
	c, s := h.connect("/", "")
	done := make(chan []any, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		args, err := s.EmitWithAck(ctx, "question", "x")
		if err != nil {
			t.Error(err)
		}
		done <- args
	}()
	var sent string
	waitFor(t, func() bool {
		out := c.take()
		if len(out) > 0 {
			sent = out[0]
			return true
		}
		return false
	})
	m := regexp.MustCompile(`^2(\d+)\["question","x"\]$`).FindStringSubmatch(sent)
	if m == nil {
		t.Fatalf("sent %q", sent)
	}
	h.text(c, "3"+m[1]+`[42]`)
	if got := <-done; len(got) != 1 || got[0] != json.Number("42") {
		t.Fatalf("ack args %v", got)
	}

	// Timeout.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := s.EmitWithAck(ctx, "question"); !errors.Is(err, ErrAckTimeout) {
		t.Fatalf("err = %v, want ErrAckTimeout", err)
	}
}

func TestRoomsBroadcast(t *testing.T) {
	h := newHarness(t, Config{})
	conns := map[string]*fakeConn{}
	socks := map[string]*Socket{}
	for _, name := range []string{"a", "b", "c", "d"} {
		conns[name], socks[name] = h.connect("/", "")
	}
	socks["a"].Join("r1")
	socks["b"].Join("r1", "r2")
	socks["c"].Join("r2")

	if err := h.srv.To("r1").Except("r2").Emit("hi", 1); err != nil {
		t.Fatal(err)
	}
	assertGot(t, conns, map[string]bool{"a": true}, `2["hi",1]`)

	if err := h.srv.To("r1", "r2").Emit("hi", 2); err != nil {
		t.Fatal(err)
	}
	assertGot(t, conns, map[string]bool{"a": true, "b": true, "c": true}, `2["hi",2]`)

	if err := socks["b"].To("r1").Emit("hi", 3); err != nil { // excludes the sender
		t.Fatal(err)
	}
	assertGot(t, conns, map[string]bool{"a": true}, `2["hi",3]`)

	if err := h.srv.Except("r1").Emit("hi", 4); err != nil {
		t.Fatal(err)
	}
	assertGot(t, conns, map[string]bool{"c": true, "d": true}, `2["hi",4]`)

	if err := h.srv.To(socks["d"].ID()).Emit("hi", 5); err != nil { // id room
		t.Fatal(err)
	}
	assertGot(t, conns, map[string]bool{"d": true}, `2["hi",5]`)

	socks["a"].Leave("r1")
	if err := h.srv.To("r1").Emit("hi", 6); err != nil {
		t.Fatal(err)
	}
	assertGot(t, conns, map[string]bool{"b": true}, `2["hi",6]`)

	rooms := h.srv.Of("/").Rooms()
	sort.Strings(rooms)
	if !contains(rooms, "r1") || !contains(rooms, "r2") {
		t.Fatalf("rooms %v", rooms)
	}
}

func TestVolatileBroadcastDropsForCongestedSocket(t *testing.T) {
	h := newHarness(t, Config{})
	c, _ := h.connect("/", "")
	c.full = true
	_ = h.srv.Of("/").Volatile().Emit("tick")
	if st := h.srv.Stats(); st.SlowConsumers != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestLocalBroadcastIsNotPublished(t *testing.T) {
	bus := adapter.NewMemoryBus()
	h1 := newHarness(t, Config{Adapter: bus.Node("n1"), NodeID: "n1"})
	h2 := newHarness(t, Config{Adapter: bus.Node("n2"), NodeID: "n2"})
	c1, _ := h1.connect("/", "")
	c2, _ := h2.connect("/", "")

	_ = h1.srv.Of("/").Local().Emit("local")
	_ = h1.srv.Emit("global")
	if got := c1.take(); !reflect.DeepEqual(got, []string{`2["local"]`, `2["global"]`}) {
		t.Fatalf("node 1 got %q", got)
	}
	waitFor(t, func() bool { return c2.count() > 0 })
	if got := c2.take(); !reflect.DeepEqual(got, []string{`2["global"]`}) {
		t.Fatalf("node 2 got %q", got)
	}
}

func TestClusterOperations(t *testing.T) {
	bus := adapter.NewMemoryBus()
	h1 := newHarness(t, Config{Adapter: bus.Node("n1"), NodeID: "n1"})
	h2 := newHarness(t, Config{Adapter: bus.Node("n2"), NodeID: "n2"})
	_, s1 := h1.connect("/", "")
	c2, s2 := h2.connect("/", "")
	s2.SetData(map[string]any{"user": "u2"})
	ctx := context.Background()

	// fetchSockets sees both nodes.
	all, err := h1.srv.Of("/").FetchSockets(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ids := []string{}
	for _, rs := range all {
		ids = append(ids, rs.ID)
		if rs.ID == s2.ID() && string(rs.Data) != `{"user":"u2"}` {
			t.Fatalf("remote data %s", rs.Data)
		}
	}
	sort.Strings(ids)
	want := []string{s1.ID(), s2.ID()}
	sort.Strings(want)
	if !reflect.DeepEqual(ids, want) {
		t.Fatalf("fetched %v, want %v", ids, want)
	}

	// Remote join, then a broadcast to the room reaches the remote socket.
	if err := h1.srv.Of("/").To(s2.ID()).SocketsJoin(ctx, "vip"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return s2.InRoom("vip") })
	rooms, err := h1.srv.Of("/").AllRooms(ctx)
	if err != nil || !contains(rooms, "vip") {
		t.Fatalf("all rooms %v, %v", rooms, err)
	}

	// Broadcast with acks across nodes.
	go func() {
		waitFor(t, func() bool {
			for _, m := range c2.take() {
				if id := regexp.MustCompile(`^2(\d+)\["ask"\]$`).FindStringSubmatch(m); id != nil {
					h2.text(c2, "3"+id[1]+`["yes"]`)
					return true
				}
			}
			return false
		})
	}()
	actx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	res, err := h1.srv.Of("/").To("vip").EmitWithAck(actx, "ask")
	if err != nil || len(res) != 1 || res[0][0] != "yes" {
		t.Fatalf("acks %v, %v", res, err)
	}

	// Server-side emit with ack.
	h2.srv.Of("/").OnServerEvent("ping", func(args []any, ack func(...any)) { ack("pong", args[0]) })
	replies, err := h1.srv.Of("/").ServerSideEmitWithAck(actx, "ping", 7)
	if err != nil || len(replies) != 1 || replies[0][0] != "pong" {
		t.Fatalf("server side emit: %v, %v", replies, err)
	}

	// Remote disconnect with close sends DISCONNECT before closing.
	c2.take()
	if err := h1.srv.Of("/").To(s2.ID()).DisconnectSockets(ctx, true); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return c2.closeReason() != connection.CloseNone })
	if got := c2.take(); len(got) != 1 || got[0] != "1" {
		t.Fatalf("remote disconnect sent %q, want DISCONNECT first", got)
	}
}

func TestDisconnectReasons(t *testing.T) {
	h := newHarness(t, Config{})
	reasons := make(chan string, 4)
	h.srv.Of("/").OnConnection(func(s *Socket) {
		s.OnDisconnect(func(_ *Socket, r string) { reasons <- r })
	})
	cases := []struct {
		name string
		act  func(c *fakeConn, s *Socket)
		want string
		sent []string
	}{
		{"client namespace disconnect", func(c *fakeConn, _ *Socket) { h.text(c, "1") }, ReasonClientNamespaceDisconnect, nil},
		{"server namespace disconnect", func(_ *fakeConn, s *Socket) { s.Disconnect(false) }, ReasonServerNamespaceDisconnect, []string{"1"}},
		{"ping timeout", func(c *fakeConn, _ *Socket) { c.Close(connection.ClosePingTimeout) }, ReasonPingTimeout, nil},
		{"transport close", func(c *fakeConn, _ *Socket) { c.Close(connection.CloseTransportClose) }, ReasonTransportClose, nil},
		{"parse error", func(c *fakeConn, _ *Socket) { h.text(c, "9") }, ReasonParseError, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, s := h.connect("/", "")
			tc.act(c, s)
			if r := <-reasons; r != tc.want {
				t.Fatalf("reason %q, want %q", r, tc.want)
			}
			if got := c.take(); !reflect.DeepEqual(got, tc.sent) {
				t.Fatalf("sent %q, want %q", got, tc.sent)
			}
			if s.Connected() || h.srv.Of("/").Socket(s.ID()) != nil {
				t.Fatal("socket still registered")
			}
		})
	}
}

func TestMultiplexedNamespaces(t *testing.T) {
	h := newHarness(t, Config{})
	h.srv.Of("/a")
	h.srv.Of("/b")
	c := h.open()
	h.text(c, "0")
	h.text(c, "0/a,")
	h.text(c, "0/b,")
	if out := c.take(); len(out) != 3 {
		t.Fatalf("got %q", out)
	}
	_ = h.srv.Of("/b").Emit("x")
	if got := c.take(); !reflect.DeepEqual(got, []string{`2/b,["x"]`}) {
		t.Fatalf("got %q", got)
	}
	h.text(c, "1/a,")
	if h.srv.Of("/a").Len() != 0 || h.srv.Of("/b").Len() != 1 {
		t.Fatal("leaving /a touched other namespaces")
	}
}

func TestRecoveryRestoresSessionAndMissedPackets(t *testing.T) {
	h := newHarness(t, Config{Recovery: RecoveryConfig{MaxDisconnection: time.Minute}})
	c, s := h.connect("/", "")
	if s.PID() == "" {
		t.Fatal("no pid with recovery enabled")
	}
	s.Join("room")
	_ = h.srv.To("room").Emit("m", 1)
	first := c.take()
	var args []any
	if err := json.Unmarshal([]byte(strings.TrimPrefix(first[0], "2")), &args); err != nil || len(args) != 3 {
		t.Fatalf("packet %q: want offset appended", first)
	}
	offset := args[2].(string)
	c.Close(connection.CloseTransportError)

	_ = h.srv.To("room").Emit("m", 2)
	_ = h.srv.To("other").Emit("m", 3)
	_ = h.srv.Emit("m", 4)

	c2 := h.open()
	auth, _ := json.Marshal(map[string]string{"pid": s.PID(), "offset": offset})
	h.text(c2, "0"+string(auth))
	out := c2.take()
	if len(out) != 3 {
		t.Fatalf("got %q", out)
	}
	if want := `0{"sid":"` + s.ID() + `","pid":"` + s.PID() + `"}`; out[0] != want {
		t.Fatalf("connect answer %q, want %q", out[0], want)
	}
	if !strings.HasPrefix(out[1], `2["m",2,`) || !strings.HasPrefix(out[2], `2["m",4,`) {
		t.Fatalf("missed packets %q", out[1:])
	}
	s2 := h.srv.Of("/").Socket(s.ID())
	if s2 == nil || !s2.Recovered() || !s2.InRoom("room") {
		t.Fatal("session not restored with its rooms")
	}

	// An unknown offset gives a fresh session.
	c3 := h.open()
	h.text(c3, `0{"pid":"nope","offset":"nope"}`)
	if out := c3.take(); strings.Contains(out[0], s.ID()) {
		t.Fatalf("unknown pid restored a session: %q", out)
	}
}

func TestConnectTimeoutClosesIdleSession(t *testing.T) {
	h := newHarness(t, Config{ConnectTimeout: 20 * time.Millisecond})
	c := h.open()
	waitFor(t, func() bool { return c.closeReason() == connection.CloseServerClose })
}

func TestReservedEventsRefused(t *testing.T) {
	h := newHarness(t, Config{})
	_, s := h.connect("/", "")
	if err := s.Emit("connect"); !errors.Is(err, ErrReservedEvent) {
		t.Fatalf("err %v", err)
	}
	c, _ := h.connect("/", "")
	h.text(c, `2["disconnect"]`)
	if c.closeReason() != connection.CloseParseError {
		t.Fatalf("client emitting a reserved event: close %v", c.closeReason())
	}
}

func assertGot(t *testing.T, conns map[string]*fakeConn, want map[string]bool, packet string) {
	t.Helper()
	for name, c := range conns {
		got := c.take()
		if want[name] {
			if len(got) != 1 || got[0] != packet {
				t.Fatalf("%s got %q, want %q", name, got, packet)
			}
		} else if len(got) != 0 {
			t.Fatalf("%s got %q, want nothing", name, got)
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestInvalidStateClosesClient(t *testing.T) {
	h := newHarness(t, Config{})
	h.srv.Of("/a")
	for name, packets := range map[string][]string{
		"event before connect": {`2["x"]`},
		"event for unjoined":   {"0", `2/a,["x"]`},
		"duplicate connect":    {"0", "0"},
	} {
		t.Run(name, func(t *testing.T) {
			c := h.open()
			for _, p := range packets {
				h.text(c, p)
			}
			if c.closeReason() != connection.CloseServerClose {
				t.Fatalf("close reason %v", c.closeReason())
			}
		})
	}
}

func TestEventName(t *testing.T) {
	cases := map[string]string{
		`["chat",1]`:           "chat",
		`[ "sp ace" ]`:         "sp ace",
		`["q\"uote\u00e9",{}]`: "q\"uoteé",
		`["back\\slash"]`:      `back\slash`,
		`[12,"x"]`:             "12",
		`[-1.5e3]`:             "-1.5e3",
		"[\n\t\"nl\"\n]":       "nl",
	}
	for in, want := range cases {
		if got, ok := eventName(json.RawMessage(in)); !ok || got != want {
			t.Errorf("eventName(%s) = %q, %v; want %q", in, got, ok, want)
		}
	}
}
