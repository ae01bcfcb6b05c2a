// Package adaptertest is the conformance suite every adapter.Adapter
// implementation passes: memory, Redis (miniredis and a real server).
package adaptertest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/ionbus/ionbus/adapter"
)

// Factory returns n unstarted adapters that form one cluster. Run starts
// and closes them; the factory registers t.Cleanup for its own resources.
type Factory func(t *testing.T, nodes int) []adapter.Adapter

// Namespaces used by the suite; adapters implementing NamespaceWatcher
// are told about them after Start.
var Namespaces = []string{"/", "/admin"}

// Wait bounds how long the suite waits for a delivery.
var Wait = 5 * time.Second

type cluster struct {
	adapters  []adapter.Adapter
	recorders []*Recorder
}

func start(t *testing.T, factory Factory, n int) *cluster {
	t.Helper()
	as := factory(t, n)
	if len(as) != n {
		t.Fatalf("factory returned %d adapters, want %d", len(as), n)
	}
	c := &cluster{adapters: as}
	for i, a := range as {
		r := &Recorder{Name: "n" + strconv.Itoa(i), Acks: 2}
		c.recorders = append(c.recorders, r)
		ctx, cancel := context.WithTimeout(context.Background(), Wait)
		if err := a.Start(ctx, r); err != nil {
			cancel()
			t.Fatalf("Start node %d: %v", i, err)
		}
		if w, ok := a.(adapter.NamespaceWatcher); ok {
			for _, ns := range Namespaces {
				if err := w.WatchNamespace(ctx, ns); err != nil {
					cancel()
					t.Fatalf("WatchNamespace %q node %d: %v", ns, i, err)
				}
			}
		}
		cancel()
	}
	t.Cleanup(func() {
		for _, r := range c.recorders {
			r.Wait()
		}
		for _, a := range as {
			ctx, cancel := context.WithTimeout(context.Background(), Wait)
			_ = a.Close(ctx)
			cancel()
		}
	})
	if n > 1 {
		// Nodes may need a moment to see each other (heartbeats).
		if sc, ok := as[0].(adapter.ServerCounter); ok {
			Eventually(Wait, func() bool {
				got, err := sc.ServerCount(context.Background())
				return err == nil && got >= n
			})
		}
	}
	return c
}

// Options relaxes the suite for test doubles with known limitations.
type Options struct {
	// SameChannelOrderOnly checks publish order only for messages that
	// travel on one channel. miniredis delivers pattern and plain
	// subscriptions from separate queues, so it may reorder a join (request
	// channel) and a broadcast (pattern); real Redis does not.
	SameChannelOrderOnly bool
}

// Run runs the conformance suite.
func Run(t *testing.T, factory Factory) { RunWith(t, factory, Options{}) }

// RunWith runs the conformance suite with opts.
func RunWith(t *testing.T, factory Factory, opts Options) {
	t.Run("FanOutNotSelf", func(t *testing.T) { testFanOut(t, factory) })
	t.Run("Kinds", func(t *testing.T) { testKinds(t, factory) })
	t.Run("PublishOrder", func(t *testing.T) { testOrder(t, factory, opts.SameChannelOrderOnly) })
	t.Run("LocalNotPublished", func(t *testing.T) { testLocal(t, factory) })
	t.Run("RequestKinds", func(t *testing.T) { testRequests(t, factory) })
	t.Run("RequestNoPeers", func(t *testing.T) { testNoPeers(t, factory) })
	t.Run("RequestTimeout", func(t *testing.T) { testTimeout(t, factory) })
	t.Run("RequestNodeGone", func(t *testing.T) { testNodeGone(t, factory) })
	t.Run("ServerCount", func(t *testing.T) { testServerCount(t, factory) })
	t.Run("CloseIdempotent", func(t *testing.T) { testClose(t, factory) })
}

func jsonEqual(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	return reflect.DeepEqual(x, y)
}

func emptyAsNil(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return s
}

func sameSet(a, b []string) bool {
	a, b = append([]string(nil), a...), append([]string(nil), b...)
	sort.Strings(a)
	sort.Strings(b)
	return reflect.DeepEqual(emptyAsNil(a), emptyAsNil(b))
}

// checkMessage compares what the suite sent with what arrived.
func checkMessage(t *testing.T, want, got adapter.Message, origin adapter.Adapter) {
	t.Helper()
	if got.Kind != want.Kind || got.Namespace != want.Namespace {
		t.Errorf("kind/namespace = %d %q, want %d %q", got.Kind, got.Namespace, want.Kind, want.Namespace)
	}
	if !sameSet(got.Opts.Rooms, want.Opts.Rooms) || !sameSet(got.Opts.Except, want.Opts.Except) {
		t.Errorf("rooms/except = %v %v, want %v %v", got.Opts.Rooms, got.Opts.Except, want.Opts.Rooms, want.Opts.Except)
	}
	if got.Opts.Volatile != want.Opts.Volatile || got.Opts.Compress != want.Opts.Compress {
		t.Errorf("flags = %+v, want %+v", got.Opts, want.Opts)
	}
	switch want.Kind {
	case adapter.KindBroadcast, adapter.KindServerSideEmit:
		if !jsonEqual(got.Packet.Data, want.Packet.Data) {
			t.Errorf("data = %s, want %s", got.Packet.Data, want.Packet.Data)
		}
		if len(got.Packet.Attachments) != len(want.Packet.Attachments) {
			t.Errorf("attachments = %d, want %d", len(got.Packet.Attachments), len(want.Packet.Attachments))
		} else {
			for i := range want.Packet.Attachments {
				if string(got.Packet.Attachments[i]) != string(want.Packet.Attachments[i]) {
					t.Errorf("attachment %d = %x, want %x", i, got.Packet.Attachments[i], want.Packet.Attachments[i])
				}
			}
		}
	case adapter.KindSocketsJoin, adapter.KindSocketsLeave:
		if !sameSet(got.Rooms, want.Rooms) {
			t.Errorf("rooms = %v, want %v", got.Rooms, want.Rooms)
		}
	case adapter.KindDisconnectSockets:
		if got.Close != want.Close {
			t.Errorf("close = %v, want %v", got.Close, want.Close)
		}
	}
	if got.Origin == "" {
		t.Errorf("origin not set")
	}
	_ = origin
}

func publish(t *testing.T, a adapter.Adapter, m adapter.Message) {
	t.Helper()
	if err := a.Publish(context.Background(), m); err != nil {
		t.Fatalf("Publish: %v", err)
	}
}

func waitMessages(t *testing.T, r *Recorder, n int) []adapter.Message {
	t.Helper()
	if !Eventually(Wait, func() bool { return len(r.Messages()) >= n }) {
		t.Fatalf("node %s: got %d messages, want %d", r.Name, len(r.Messages()), n)
	}
	return r.Messages()
}

func broadcastMsg(ns, data string) adapter.Message {
	return adapter.Message{Kind: adapter.KindBroadcast, Namespace: ns,
		Packet: adapter.Packet{Type: 2, Data: json.RawMessage(data), ID: -1}}
}

func testFanOut(t *testing.T, factory Factory) {
	c := start(t, factory, 3)
	m := broadcastMsg("/", `["hello",1]`)
	publish(t, c.adapters[0], m)
	for _, r := range c.recorders[1:] {
		got := waitMessages(t, r, 1)
		checkMessage(t, m, got[0], c.adapters[0])
	}
	// A marker from node 1 reaches node 0 after anything node 0 could
	// have wrongly received from itself would have been delivered.
	publish(t, c.adapters[1], broadcastMsg("/", `["marker"]`))
	got := waitMessages(t, c.recorders[0], 1)
	time.Sleep(50 * time.Millisecond)
	got = c.recorders[0].Messages()
	if len(got) != 1 || !jsonEqual(got[0].Packet.Data, []byte(`["marker"]`)) {
		t.Fatalf("node 0 received %d messages (%v), want only the marker: own messages must not come back", len(got), got)
	}
	if len(c.recorders[1].Messages()) != 1 {
		t.Fatalf("node 1 received its own marker")
	}
	if o0, o1 := c.recorders[1].Messages()[0].Origin, got[0].Origin; o0 == o1 {
		t.Fatalf("origins of different nodes are equal: %q", o0)
	}
}

func testKinds(t *testing.T, factory Factory) {
	c := start(t, factory, 2)
	msgs := []adapter.Message{
		{Kind: adapter.KindBroadcast, Namespace: "/", Opts: adapter.BroadcastOptions{Rooms: []string{"r1", "r2"}, Except: []string{"x"}, Volatile: true, Compress: true},
			Packet: adapter.Packet{Type: 2, Data: json.RawMessage(`["ev",{"a":[1,2.5,"s",null,true]}]`), ID: -1}},
		{Kind: adapter.KindBroadcast, Namespace: "/admin", Opts: adapter.BroadcastOptions{Rooms: []string{"only"}},
			Packet: adapter.Packet{Type: 2, Data: json.RawMessage(`["bin",{"_placeholder":true,"num":0},{"k":{"_placeholder":true,"num":1}}]`),
				Attachments: [][]byte{{0, 1, 2, 255}, []byte("second")}, ID: -1}},
		{Kind: adapter.KindSocketsJoin, Namespace: "/", Opts: adapter.BroadcastOptions{Rooms: []string{"a"}}, Rooms: []string{"j1", "j2"}},
		{Kind: adapter.KindSocketsLeave, Namespace: "/", Opts: adapter.BroadcastOptions{Except: []string{"b"}}, Rooms: []string{"j1"}},
		{Kind: adapter.KindDisconnectSockets, Namespace: "/", Opts: adapter.BroadcastOptions{Rooms: []string{"c"}}, Close: true},
		{Kind: adapter.KindServerSideEmit, Namespace: "/", Packet: adapter.Packet{Type: 2, Data: json.RawMessage(`["sse","x",3]`), ID: -1}},
	}
	for _, m := range msgs {
		publish(t, c.adapters[0], m)
	}
	got := waitMessages(t, c.recorders[1], len(msgs))
	// Matched by kind and namespace: order is PublishOrder's business
	// (on a Redis Cluster the namespaces may live on different shards).
	for i, m := range msgs {
		t.Run(fmt.Sprintf("kind%d_%d", m.Kind, i), func(t *testing.T) {
			for _, g := range got {
				if g.Kind == m.Kind && g.Namespace == m.Namespace {
					checkMessage(t, m, g, c.adapters[0])
					return
				}
			}
			t.Fatalf("no message of kind %d in %q", m.Kind, m.Namespace)
		})
	}
}

func testOrder(t *testing.T, factory Factory, sameChannel bool) {
	c := start(t, factory, 2)
	const n = 200
	for i := 0; i < n; i++ {
		m := broadcastMsg("/", `["seq",`+strconv.Itoa(i)+`]`)
		if i%3 == 1 && !sameChannel { // mix room channels and kinds: order holds across them
			m.Opts.Rooms = []string{"room" + strconv.Itoa(i%7)}
		}
		if i%5 == 2 {
			m = adapter.Message{Kind: adapter.KindSocketsJoin, Namespace: "/", Rooms: []string{"seq" + strconv.Itoa(i)}}
		}
		publish(t, c.adapters[0], m)
	}
	got := waitMessages(t, c.recorders[1], n)
	if sameChannel {
		// Broadcasts among themselves, joins among themselves.
		var b, j []adapter.Message
		for _, m := range got {
			if m.Kind == adapter.KindSocketsJoin {
				j = append(j, m)
			} else {
				b = append(b, m)
			}
		}
		bi, ji := 0, 0
		for i := 0; i < n; i++ {
			if i%5 == 2 {
				if ji >= len(j) || j[ji].Rooms[0] != "seq"+strconv.Itoa(i) {
					t.Fatalf("join %d out of order", i)
				}
				ji++
				continue
			}
			var d []any
			if bi >= len(b) || json.Unmarshal(b[bi].Packet.Data, &d) != nil || len(d) != 2 || d[1] != float64(i) {
				t.Fatalf("broadcast %d out of order", i)
			}
			bi++
		}
		return
	}
	for i, m := range got {
		if i%5 == 2 {
			if m.Kind != adapter.KindSocketsJoin || len(m.Rooms) != 1 || m.Rooms[0] != "seq"+strconv.Itoa(i) {
				t.Fatalf("message %d out of order: %+v", i, m)
			}
			continue
		}
		var d []any
		if err := json.Unmarshal(m.Packet.Data, &d); err != nil || len(d) != 2 || d[1] != float64(i) {
			t.Fatalf("message %d out of order: %s", i, m.Packet.Data)
		}
	}
}

func testLocal(t *testing.T, factory Factory) {
	c := start(t, factory, 2)
	m := broadcastMsg("/", `["local"]`)
	m.Opts.Local = true
	publish(t, c.adapters[0], m)
	publish(t, c.adapters[0], broadcastMsg("/", `["after"]`))
	got := waitMessages(t, c.recorders[1], 1)
	time.Sleep(50 * time.Millisecond)
	got = c.recorders[1].Messages()
	if len(got) != 1 || !jsonEqual(got[0].Packet.Data, []byte(`["after"]`)) {
		t.Fatalf("got %v, want only the non-local message", got)
	}
}

type collected struct {
	mu      sync.Mutex
	replies []adapter.Reply
}

func (c *collected) add(r adapter.Reply) {
	c.mu.Lock()
	c.replies = append(c.replies, r)
	c.mu.Unlock()
}

func testRequests(t *testing.T, factory Factory) {
	c := start(t, factory, 3)
	run := func(q adapter.Request) []adapter.Reply {
		t.Helper()
		var col collected
		ctx, cancel := context.WithTimeout(context.Background(), Wait)
		defer cancel()
		start := time.Now()
		if err := c.adapters[0].Request(ctx, q, col.add); err != nil {
			t.Fatalf("Request kind %d: %v", q.Kind, err)
		}
		if d := time.Since(start); d > Wait/2 {
			t.Errorf("Request kind %d took %v: it must complete when every node answered", q.Kind, d)
		}
		return col.replies
	}
	t.Run("FetchSockets", func(t *testing.T) {
		reps := run(adapter.Request{Kind: adapter.RequestFetchSockets, Namespace: "/", Opts: adapter.BroadcastOptions{Rooms: []string{"r"}}})
		var ids []string
		for _, r := range reps {
			for _, s := range r.Sockets {
				ids = append(ids, s.ID)
				name := s.ID[len("sock-"):]
				if !sameSet(s.Rooms, []string{s.ID, "room-" + name, "shared"}) || !jsonEqual(s.Data, []byte(`{"node":"`+name+`"}`)) {
					t.Errorf("socket %+v", s)
				}
				h := s.Handshake
				if h.Address != "127.0.0.1" || h.Issued != 1700000000000 || h.Query["EIO"] != "4" || h.Headers["host"] != "example" || !jsonEqual(h.Auth, []byte(`{"token":"t"}`)) {
					t.Errorf("handshake %+v", h)
				}
			}
		}
		if !sameSet(ids, []string{"sock-n1", "sock-n2"}) {
			t.Fatalf("sockets %v", ids)
		}
		for _, r := range c.recorders[1:] {
			q := r.Requests()
			if len(q) != 1 || q[0].Kind != adapter.RequestFetchSockets || q[0].Namespace != "/" || !sameSet(q[0].Opts.Rooms, []string{"r"}) {
				t.Errorf("node %s got requests %+v", r.Name, q)
			}
		}
		if len(c.recorders[0].Requests()) != 0 {
			t.Errorf("requester answered its own request")
		}
	})
	t.Run("AllRooms", func(t *testing.T) {
		reps := run(adapter.Request{Kind: adapter.RequestAllRooms, Namespace: "/"})
		var rooms []string
		for _, r := range reps {
			rooms = append(rooms, r.Rooms...)
		}
		if !sameSet(rooms, []string{"sock-n1", "room-n1", "shared", "sock-n2", "room-n2", "shared"}) {
			t.Fatalf("rooms %v", rooms)
		}
	})
	t.Run("ServerSideEmit", func(t *testing.T) {
		reps := run(adapter.Request{Kind: adapter.RequestServerSideEmit, Namespace: "/",
			Packet: adapter.Packet{Type: 2, Data: json.RawMessage(`["q",1]`), ID: -1}})
		var acks []string
		for _, r := range reps {
			var d []string
			_ = json.Unmarshal(r.Data, &d)
			acks = append(acks, d...)
		}
		if !sameSet(acks, []string{"ack-n1", "ack-n2"}) {
			t.Fatalf("acks %v (%d replies)", acks, len(reps))
		}
		for _, r := range c.recorders[1:] {
			q := r.Requests()
			if len(q) == 0 || !jsonEqual(q[len(q)-1].Packet.Data, []byte(`["q",1]`)) {
				t.Errorf("node %s got %+v", r.Name, q)
			}
		}
	})
	t.Run("BroadcastAck", func(t *testing.T) {
		reps := run(adapter.Request{Kind: adapter.RequestBroadcastAck, Namespace: "/", Opts: adapter.BroadcastOptions{Rooms: []string{"r"}},
			Packet: adapter.Packet{Type: 2, Data: json.RawMessage(`["ping"]`), ID: -1}})
		counts, acks := 0, []string{}
		for _, r := range reps {
			if r.Data == nil {
				counts += r.ClientCount
				continue
			}
			var d []string
			_ = json.Unmarshal(r.Data, &d)
			acks = append(acks, d...)
		}
		if counts != 4 || !sameSet(acks, []string{"ack-n1", "ack-n1", "ack-n2", "ack-n2"}) {
			t.Fatalf("counts %d acks %v", counts, acks)
		}
	})
}

func testNoPeers(t *testing.T, factory Factory) {
	c := start(t, factory, 1)
	ctx, cancel := context.WithTimeout(context.Background(), Wait)
	defer cancel()
	begin := time.Now()
	called := false
	if err := c.adapters[0].Request(ctx, adapter.Request{Kind: adapter.RequestAllRooms, Namespace: "/"}, func(adapter.Reply) { called = true }); err != nil {
		t.Fatalf("Request: %v", err)
	}
	if d := time.Since(begin); d > time.Second || called {
		t.Fatalf("single node request took %v, called=%v", d, called)
	}
}

func testTimeout(t *testing.T, factory Factory) {
	c := start(t, factory, 2)
	c.recorders[1].SetSilent(true)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	begin := time.Now()
	err := c.adapters[0].Request(ctx, adapter.Request{Kind: adapter.RequestAllRooms, Namespace: "/"}, nil)
	if !errors.Is(err, adapter.ErrTimeout) {
		t.Fatalf("err = %v, want ErrTimeout", err)
	}
	if d := time.Since(begin); d > 2*time.Second {
		t.Fatalf("timeout took %v", d)
	}
}

func testNodeGone(t *testing.T, factory Factory) {
	c := start(t, factory, 3)
	ctx, cancel := context.WithTimeout(context.Background(), Wait)
	if err := c.adapters[2].Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	cancel()
	ctx, cancel = context.WithTimeout(context.Background(), Wait)
	defer cancel()
	var col collected
	begin := time.Now()
	if err := c.adapters[0].Request(ctx, adapter.Request{Kind: adapter.RequestAllRooms, Namespace: "/"}, col.add); err != nil {
		t.Fatalf("Request after a node closed: %v", err)
	}
	if d := time.Since(begin); d > Wait/2 {
		t.Fatalf("request waited %v for a closed node", d)
	}
	if len(col.replies) != 1 {
		t.Fatalf("replies %+v, want node 1's only", col.replies)
	}
}

func testServerCount(t *testing.T, factory Factory) {
	c := start(t, factory, 3)
	sc, ok := c.adapters[0].(adapter.ServerCounter)
	if !ok {
		t.Skip("adapter does not implement ServerCounter")
	}
	if !Eventually(Wait, func() bool { n, err := sc.ServerCount(context.Background()); return err == nil && n == 3 }) {
		n, err := sc.ServerCount(context.Background())
		t.Fatalf("ServerCount = %d, %v; want 3", n, err)
	}
	_ = c.adapters[1].Close(context.Background())
	if !Eventually(Wait, func() bool { n, err := sc.ServerCount(context.Background()); return err == nil && n == 2 }) {
		n, err := sc.ServerCount(context.Background())
		t.Fatalf("ServerCount after close = %d, %v; want 2", n, err)
	}
}

func testClose(t *testing.T, factory Factory) {
	c := start(t, factory, 2)
	a := c.adapters[0]
	for i := 0; i < 2; i++ {
		if err := a.Close(context.Background()); err != nil {
			t.Fatalf("Close #%d: %v", i+1, err)
		}
	}
	if err := a.Publish(context.Background(), broadcastMsg("/", `["x"]`)); !errors.Is(err, adapter.ErrClosed) {
		t.Fatalf("Publish after Close = %v, want ErrClosed", err)
	}
	if err := a.Request(context.Background(), adapter.Request{Kind: adapter.RequestAllRooms, Namespace: "/"}, nil); !errors.Is(err, adapter.ErrClosed) {
		t.Fatalf("Request after Close = %v, want ErrClosed", err)
	}
	// The surviving node keeps working and sees no traffic from the closed one.
	publish(t, c.adapters[1], broadcastMsg("/", `["still"]`))
	time.Sleep(50 * time.Millisecond)
	if n := len(c.recorders[0].Messages()); n != 0 {
		t.Fatalf("closed node received %d messages", n)
	}
}
