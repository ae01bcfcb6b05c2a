package redisadapter

import (
	"bytes"
	"context"
	"encoding/json"
	"reflect"
	"sync"
	"testing"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/ionbus/ionbus/adapter"
	"github.com/ionbus/ionbus/internal/golden"
)

func raw(s string) json.RawMessage { return json.RawMessage(s) }

func ev(data string, att ...[]byte) adapter.Packet {
	return adapter.Packet{Type: 2, Data: raw(data), Attachments: att, ID: -1}
}

// goldenMessages are the Go messages equivalent to what golden.js makes
// the Node adapter publish, by case name.
var goldenMessages = map[string]adapter.Message{
	"emit": {Kind: adapter.KindBroadcast, Namespace: "/", Packet: ev(`["hello",1,"two",{"a":[1.5,null,true]}]`)},
	"emit one room binary": {Kind: adapter.KindBroadcast, Namespace: "/", Opts: adapter.BroadcastOptions{Rooms: []string{"room1"}},
		Packet: ev(`["ev",{"_placeholder":true,"num":0},{"k":{"_placeholder":true,"num":1}}]`, []byte{1, 2, 3}, []byte("second"))},
	"emit rooms except flags": {Kind: adapter.KindBroadcast, Namespace: "/", Opts: adapter.BroadcastOptions{Rooms: []string{"a", "b"}, Except: []string{"c"}, Volatile: true, Compress: true},
		Packet: ev(`["ev",42]`)},
	"emit admin":        {Kind: adapter.KindBroadcast, Namespace: "/admin", Packet: ev(`["x"]`)},
	"socketsJoin":       {Kind: adapter.KindSocketsJoin, Namespace: "/", Opts: adapter.BroadcastOptions{Rooms: []string{"r"}}, Rooms: []string{"j1", "j2"}},
	"socketsLeave":      {Kind: adapter.KindSocketsLeave, Namespace: "/", Opts: adapter.BroadcastOptions{Except: []string{"x"}}, Rooms: []string{"j1"}},
	"disconnectSockets": {Kind: adapter.KindDisconnectSockets, Namespace: "/", Opts: adapter.BroadcastOptions{Rooms: []string{"r"}}, Close: true},
	"serverSideEmit":    {Kind: adapter.KindServerSideEmit, Namespace: "/", Packet: ev(`["sse","x",3]`)},
}

var goldenRequests = map[string]adapter.Request{
	"fetchSockets":          {Kind: adapter.RequestFetchSockets, Namespace: "/", Opts: adapter.BroadcastOptions{Rooms: []string{"r"}}},
	"allRooms":              {Kind: adapter.RequestAllRooms, Namespace: "/"},
	"serverSideEmitWithAck": {Kind: adapter.RequestServerSideEmit, Namespace: "/", Packet: ev(`["q",1]`)},
}

var goldenSharded = map[string]adapter.Message{
	"emit":              goldenMessages["emit"],
	"emit one room":     {Kind: adapter.KindBroadcast, Namespace: "/", Opts: adapter.BroadcastOptions{Rooms: []string{"room1"}}, Packet: ev(`["ev",2]`)},
	"emit socket id":    {Kind: adapter.KindBroadcast, Namespace: "/", Opts: adapter.BroadcastOptions{Rooms: []string{"abcdefghijklmnopqrst"}}, Packet: ev(`["ev",3]`)},
	"emit binary":       {Kind: adapter.KindBroadcast, Namespace: "/", Opts: adapter.BroadcastOptions{Rooms: []string{"a", "b"}, Except: []string{"c"}}, Packet: ev(`["ev",{"_placeholder":true,"num":0}]`, []byte{1, 2, 3})},
	"socketsJoin":       goldenMessages["socketsJoin"],
	"disconnectSockets": {Kind: adapter.KindDisconnectSockets, Namespace: "/", Opts: adapter.BroadcastOptions{Rooms: []string{"r"}}},
	"serverSideEmit":    goldenMessages["serverSideEmit"],
}

func goldenAdapter(t *testing.T, cfg Config) *Adapter {
	t.Helper()
	s := miniredis.RunT(t)
	client := redis.NewClient(&redis.Options{Addr: s.Addr()})
	t.Cleanup(func() { client.Close() })
	a, err := New(cfg, client, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Close(context.Background()) })
	return a
}

// TestGoldenEncodeClassic: what Go publishes is byte-identical to what
// @socket.io/redis-adapter publishes for the same operation.
func TestGoldenEncodeClassic(t *testing.T) {
	d := golden.Load(t)
	a := goldenAdapter(t, Config{NodeID: "GOLDEN"})
	for name, m := range goldenMessages {
		items := golden.Find(d.Classic, name)
		if len(items) != 1 {
			t.Fatalf("%s: %d golden items", name, len(items))
		}
		ch, payload, err := a.EncodeMessage(m)
		if err != nil {
			t.Fatal(err)
		}
		if ch != items[0].Channel || !bytes.Equal(payload, items[0].Bytes()) {
			t.Errorf("%s:\n got %s %x\nwant %s %s", name, ch, payload, items[0].Channel, items[0].Hex)
		}
	}
	for name, r := range goldenRequests {
		it := golden.Find(d.Classic, name)[0]
		ch, payload, err := a.encodeRequest(r, "/", it.RequestID, &pending{})
		if err != nil {
			t.Fatal(err)
		}
		if ch != it.Channel || !bytes.Equal(payload, it.Bytes()) {
			t.Errorf("%s:\n got %s %s\nwant %s %s", name, ch, payload, it.Channel, it.Bytes())
		}
	}
}

func TestGoldenEncodeSharded(t *testing.T) {
	d := golden.Load(t)
	for _, mode := range []struct {
		prefix string
		sub    SubscriptionMode
	}{{"dynamic ", SubscriptionDynamic}, {"static ", SubscriptionStatic}} {
		a := goldenAdapter(t, Config{NodeID: "GOLDEN", Mode: ModeSharded, Subscription: mode.sub})
		for name, m := range goldenSharded {
			items := golden.Find(d.Sharded, mode.prefix+name)
			if len(items) != 1 {
				t.Fatalf("%s%s: %d golden items", mode.prefix, name, len(items))
			}
			ch, payload, err := a.EncodeMessage(m)
			if err != nil {
				t.Fatal(err)
			}
			if ch != items[0].Channel || !bytes.Equal(payload, items[0].Bytes()) {
				t.Errorf("%s%s:\n got %s %s\nwant %s %s", mode.prefix, name, ch, payload, items[0].Channel, items[0].Bytes())
			}
		}
		it := golden.Find(d.Sharded, mode.prefix+"fetchSockets")[0]
		ch, payload, err := a.encodeRequest(goldenRequests["fetchSockets"], "/", it.RequestID, &pending{})
		if err != nil || ch != it.Channel || !bytes.Equal(payload, it.Bytes()) {
			t.Errorf("fetchSockets: %v\n got %s %s\nwant %s %s", err, ch, payload, it.Channel, it.Bytes())
		}
	}
}

// recorder is a Handler collecting what the adapter decodes.
type recorder struct {
	mu       sync.Mutex
	messages []adapter.Message
	requests []adapter.Request
}

func (r *recorder) HandleMessage(_ context.Context, m adapter.Message) {
	r.mu.Lock()
	r.messages = append(r.messages, m)
	r.mu.Unlock()
}

func (r *recorder) HandleRequest(_ context.Context, q adapter.Request, _ func(adapter.Reply)) {
	r.mu.Lock()
	r.requests = append(r.requests, q)
	r.mu.Unlock()
}

func jsonEq(a, b []byte) bool {
	var x, y any
	return json.Unmarshal(a, &x) == nil && json.Unmarshal(b, &y) == nil && reflect.DeepEqual(x, y)
}

func sameMessage(got, want adapter.Message) bool {
	nz := func(s []string) []string {
		if len(s) == 0 {
			return nil
		}
		return s
	}
	g, w := got, want
	g.Origin, w.Origin = "", ""
	g.Packet, w.Packet = adapter.Packet{}, adapter.Packet{}
	g.Opts.Rooms, g.Opts.Except, g.Rooms = nz(g.Opts.Rooms), nz(g.Opts.Except), nz(g.Rooms)
	w.Opts.Rooms, w.Opts.Except, w.Rooms = nz(w.Opts.Rooms), nz(w.Opts.Except), nz(w.Rooms)
	if !reflect.DeepEqual(g, w) {
		return false
	}
	if want.Kind == adapter.KindBroadcast || want.Kind == adapter.KindServerSideEmit {
		return jsonEq(got.Packet.Data, want.Packet.Data) && reflect.DeepEqual(got.Packet.Attachments, want.Packet.Attachments) && got.Packet.Type == 2
	}
	return true
}

// TestGoldenDecode feeds the bytes the Node adapter, sharded adapter and
// emitter published into the Go inbound path.
func TestGoldenDecode(t *testing.T) {
	d := golden.Load(t)
	run := func(t *testing.T, cfg Config, items []golden.Item, prefix string, want map[string]adapter.Message, origin string) {
		a := goldenAdapter(t, cfg)
		rec := &recorder{}
		a.handler = rec
		a.namespaces["/"], a.namespaces["/admin"] = true, true
		for name := range want {
			its := golden.Find(items, prefix+name)
			if len(its) != 1 {
				t.Fatalf("%s%s: %d items", prefix, name, len(its))
			}
			rec.messages = nil
			before := a.Stats().Malformed
			a.dispatch(inbound{channel: its[0].Channel, payload: string(its[0].Bytes())})
			if a.Stats().Malformed != before || len(rec.messages) != 1 {
				t.Errorf("%s%s: %d messages, malformed %d", prefix, name, len(rec.messages), a.Stats().Malformed)
				continue
			}
			got := rec.messages[0]
			if !sameMessage(got, want[name]) || (origin != "*" && got.Origin != origin) {
				t.Errorf("%s%s:\n got %+v %s\nwant %+v %s", prefix, name, got, got.Packet.Data, want[name], want[name].Packet.Data)
			}
		}
	}
	t.Run("classic", func(t *testing.T) { run(t, Config{NodeID: "other"}, d.Classic, "", goldenMessages, "GOLDEN") })
	t.Run("sharded", func(t *testing.T) {
		run(t, Config{NodeID: "other", Mode: ModeSharded}, d.Sharded, "dynamic ", goldenSharded, "GOLDEN")
	})
	emitterWant := map[string]adapter.Message{
		"emit":                 goldenMessages["emit"],
		"emit one room binary": {Kind: adapter.KindBroadcast, Namespace: "/", Opts: adapter.BroadcastOptions{Rooms: []string{"room1"}}, Packet: ev(`["ev",{"_placeholder":true,"num":0}]`, []byte{1, 2, 3})},
		"emit admin rooms except": {Kind: adapter.KindBroadcast, Namespace: "/admin", Opts: adapter.BroadcastOptions{Rooms: []string{"a", "b"}, Except: []string{"c"}},
			Packet: ev(`["ev",42]`)},
		"emit volatile compress": {Kind: adapter.KindBroadcast, Namespace: "/", Opts: adapter.BroadcastOptions{Volatile: true}, Packet: ev(`["ev"]`)},
		"socketsJoin":            goldenMessages["socketsJoin"],
		"socketsLeave":           {Kind: adapter.KindSocketsLeave, Namespace: "/", Rooms: []string{"j1"}},
		"disconnectSockets":      goldenMessages["disconnectSockets"],
		"serverSideEmit":         goldenMessages["serverSideEmit"],
	}
	t.Run("emitter", func(t *testing.T) { run(t, Config{NodeID: "other"}, d.Emitter, "", emitterWant, "*") })

	t.Run("requests", func(t *testing.T) {
		a := goldenAdapter(t, Config{NodeID: "other"})
		rec := &recorder{}
		a.handler = rec
		a.namespaces["/"] = true
		for name, want := range goldenRequests {
			it := golden.Find(d.Classic, name)[0]
			rec.requests = nil
			a.dispatch(inbound{channel: it.Channel, payload: string(it.Bytes())})
			if len(rec.requests) != 1 {
				t.Fatalf("%s: %d requests", name, len(rec.requests))
			}
			got := rec.requests[0]
			if got.Kind != want.Kind || got.Origin != "GOLDEN" || !reflect.DeepEqual(got.Opts.Rooms, want.Opts.Rooms) ||
				(want.Packet.Data != nil && !jsonEq(got.Packet.Data, want.Packet.Data)) {
				t.Errorf("%s: got %+v", name, got)
			}
		}
	})
}
