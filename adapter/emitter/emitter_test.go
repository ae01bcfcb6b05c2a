package emitter_test

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"
	"go.uber.org/goleak"

	"github.com/ionbus/ionbus/adapter"
	"github.com/ionbus/ionbus/adapter/adaptertest"
	"github.com/ionbus/ionbus/adapter/emitter"
	"github.com/ionbus/ionbus/adapter/redisadapter"
	"github.com/ionbus/ionbus/internal/golden"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// capture records what the emitter publishes, through a real client on
// miniredis.
func capture(t *testing.T) (*emitter.Emitter, func() []miniMsg) {
	s := miniredis.RunT(t)
	client := redis.NewClient(&redis.Options{Addr: s.Addr()})
	t.Cleanup(func() { client.Close() })
	sub := client.PSubscribe(context.Background(), "*")
	t.Cleanup(func() { sub.Close() })
	if _, err := sub.Receive(context.Background()); err != nil {
		t.Fatal(err)
	}
	var got []miniMsg
	return emitter.New(client, emitter.Options{}), func() []miniMsg {
		for {
			m, err := sub.ReceiveTimeout(context.Background(), 200*time.Millisecond)
			if err != nil {
				out := got
				got = nil
				return out
			}
			if mm, ok := m.(*redis.Message); ok {
				got = append(got, miniMsg{mm.Channel, []byte(mm.Payload)})
			}
		}
	}
}

type miniMsg struct {
	channel string
	payload []byte
}

// TestGoldenEmitter: byte-identical to @socket.io/redis-emitter@5.
func TestGoldenEmitter(t *testing.T) {
	d := golden.Load(t)
	e, drain := capture(t)
	ctx := context.Background()
	cases := map[string]func() error{
		"emit": func() error {
			return e.Emit(ctx, "hello", 1, "two", map[string]any{"a": []any{1.5, nil, true}})
		},
		"emit one room binary":    func() error { return e.To("room1").Emit(ctx, "ev", []byte{1, 2, 3}) },
		"emit admin rooms except": func() error { return e.Of("admin").To("a", "b").Except("c").Emit(ctx, "ev", 42) },
		"emit volatile compress":  func() error { return e.Volatile().Compress(false).Emit(ctx, "ev") },
		"socketsJoin":             func() error { return e.In("r").SocketsJoin(ctx, "j1", "j2") },
		"socketsLeave":            func() error { return e.SocketsLeave(ctx, "j1") },
		"disconnectSockets":       func() error { return e.In("r").DisconnectSockets(ctx, true) },
		"serverSideEmit":          func() error { return e.ServerSideEmit(ctx, "sse", "x", 3) },
	}
	for name, f := range cases {
		want := golden.Find(d.Emitter, name)
		if err := f(); err != nil {
			t.Fatal(err)
		}
		got := drain()
		if len(got) != 1 || len(want) != 1 {
			t.Fatalf("%s: got %d publishes, golden %d", name, len(got), len(want))
		}
		if got[0].channel != want[0].Channel || !bytes.Equal(got[0].payload, want[0].Bytes()) {
			t.Errorf("%s:\n got %s %x\nwant %s %s", name, got[0].channel, got[0].payload, want[0].Channel, want[0].Hex)
		}
	}
}

func TestReservedEvent(t *testing.T) {
	e, _ := capture(t)
	if err := e.Emit(context.Background(), "disconnect"); !errors.Is(err, emitter.ErrReservedEvent) {
		t.Fatalf("err = %v", err)
	}
}

func TestOperatorsAreImmutable(t *testing.T) {
	e, drain := capture(t)
	ctx := context.Background()
	base := e.To("a")
	_ = base.To("b")
	_ = base.Volatile()
	if err := base.Emit(ctx, "x"); err != nil {
		t.Fatal(err)
	}
	got := drain()
	if len(got) != 1 || got[0].channel != "socket.io#/#a#" {
		t.Fatalf("%+v", got)
	}
}

// TestEmitterToGoAdapter: the Go adapter receives what the Go emitter
// sends, join before emit.
func TestEmitterToGoAdapter(t *testing.T) {
	s := miniredis.RunT(t)
	client := redis.NewClient(&redis.Options{Addr: s.Addr()})
	defer client.Close()
	a, err := redisadapter.New(redisadapter.Config{}, client, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	rec := &adaptertest.Recorder{Name: "go"}
	ctx := context.Background()
	if err := a.Start(ctx, rec); err != nil {
		t.Fatal(err)
	}
	defer a.Close(ctx)
	e := emitter.New(client, emitter.Options{})
	if err := e.In("sid1").SocketsJoin(ctx, "news"); err != nil {
		t.Fatal(err)
	}
	if err := e.To("news").Emit(ctx, "headline", []byte("bin"), map[string]any{"n": 1}); err != nil {
		t.Fatal(err)
	}
	if !adaptertest.Eventually(5*time.Second, func() bool { return len(rec.Messages()) == 2 }) {
		t.Fatalf("got %+v", rec.Messages())
	}
	ms := rec.Messages()
	if ms[0].Kind != adapter.KindSocketsJoin || ms[1].Kind != adapter.KindBroadcast || ms[1].Origin != emitter.UID ||
		string(ms[1].Packet.Data) != `["headline",{"_placeholder":true,"num":0},{"n":1}]` || string(ms[1].Packet.Attachments[0]) != "bin" {
		t.Fatalf("got %+v / %s", ms, ms[1].Packet.Data)
	}
}
