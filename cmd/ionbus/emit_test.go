package main

import (
	"context"
	"encoding/json"
	"net"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	"github.com/vmihailenco/msgpack/v5"
)

// published subscribes to every channel of mr and returns a function
// that runs `ionbus emit args` and returns the message it published.
func published(t *testing.T, mr *miniredis.Miniredis) func(args ...string) *redis.Message {
	t.Helper()
	client := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	t.Cleanup(func() { client.Close() })
	ps := client.PSubscribe(context.Background(), "*")
	t.Cleanup(func() { ps.Close() })
	if _, err := ps.Receive(context.Background()); err != nil {
		t.Fatal(err)
	}
	ch := ps.Channel()
	return func(args ...string) *redis.Message {
		t.Helper()
		code, out, errs := runCmd(append([]string{"emit", "--redis", "redis://" + mr.Addr()}, args...), nil)
		if code != 0 {
			t.Fatalf("emit %q: code %d %s%s", args, code, out, errs)
		}
		select {
		case m := <-ch:
			return m
		case <-time.After(5 * time.Second):
			t.Fatalf("emit %q published nothing", args)
			return nil
		}
	}
}

// broadcast is the @socket.io/redis-adapter broadcast message
// [uid, packet, opts] (msgpack).
type broadcast struct {
	UID    string
	Packet struct {
		Type int    `msgpack:"type"`
		Data []any  `msgpack:"data"`
		Nsp  string `msgpack:"nsp"`
	}
	Opts struct {
		Rooms  []string       `msgpack:"rooms"`
		Except []string       `msgpack:"except"`
		Flags  map[string]any `msgpack:"flags"`
	}
}

func decodeBroadcast(t *testing.T, payload string) broadcast {
	t.Helper()
	var raw []msgpack.RawMessage
	if err := msgpack.Unmarshal([]byte(payload), &raw); err != nil || len(raw) != 3 {
		t.Fatalf("not [uid, packet, opts]: %v %q", err, payload)
	}
	var b broadcast
	for i, dst := range []any{&b.UID, &b.Packet, &b.Opts} {
		if err := msgpack.Unmarshal(raw[i], dst); err != nil {
			t.Fatalf("element %d: %v", i, err)
		}
	}
	return b
}

func TestEmitPublishes(t *testing.T) {
	mr := miniredis.RunT(t)
	pub := published(t, mr)

	m := pub("--event", "news", "--data", `[{"title":"hi"}, 42, "x"]`)
	if m.Channel != "socket.io#/#" {
		t.Fatalf("channel %q", m.Channel)
	}
	b := decodeBroadcast(t, m.Payload)
	if b.UID != "emitter" || b.Packet.Type != 2 || b.Packet.Nsp != "/" || len(b.Opts.Rooms) != 0 {
		t.Fatalf("broadcast %+v", b)
	}
	want := []any{"news", map[string]any{"title": "hi"}, int8(42), "x"}
	if !reflect.DeepEqual(normalize(b.Packet.Data), normalize(want)) {
		t.Fatalf("data %#v", b.Packet.Data)
	}

	// One room: the room's own channel; a single JSON value is one argument.
	m = pub("--key", "app", "--namespace", "/chat", "--room", "r1", "--except", "muted,banned", "--event", "msg", "--data", `"hello"`)
	if m.Channel != "app#/chat#r1#" {
		t.Fatalf("channel %q", m.Channel)
	}
	b = decodeBroadcast(t, m.Payload)
	if b.Packet.Nsp != "/chat" || !reflect.DeepEqual(b.Packet.Data, []any{"msg", "hello"}) ||
		!reflect.DeepEqual(b.Opts.Rooms, []string{"r1"}) || !reflect.DeepEqual(b.Opts.Except, []string{"muted", "banned"}) {
		t.Fatalf("broadcast %+v", b)
	}
	// Several rooms travel on the namespace channel.
	if m = pub("--room", "a", "--room", "b", "--event", "e"); m.Channel != "socket.io#/#" {
		t.Fatalf("channel %q", m.Channel)
	}

	// Server operations are requests (JSON) on the request channel.
	for _, tc := range []struct {
		args []string
		typ  float64
		want map[string]any
	}{
		{[]string{"--room", "r1", "--sockets-join", "news"}, 2, map[string]any{"rooms": []any{"news"}}},
		{[]string{"--sockets-leave", "news"}, 3, map[string]any{"rooms": []any{"news"}}},
		{[]string{"--room", "r1", "--disconnect", "--close"}, 4, map[string]any{"close": true}},
	} {
		m := pub(tc.args...)
		if m.Channel != "socket.io-request#/#" {
			t.Fatalf("%v: channel %q", tc.args, m.Channel)
		}
		var req map[string]any
		if err := json.Unmarshal([]byte(m.Payload), &req); err != nil {
			t.Fatalf("%v: %v %q", tc.args, err, m.Payload)
		}
		if req["type"] != tc.typ {
			t.Fatalf("%v: request %s", tc.args, m.Payload)
		}
		for k, v := range tc.want {
			if !reflect.DeepEqual(req[k], v) {
				t.Fatalf("%v: %s = %v in %s", tc.args, k, req[k], m.Payload)
			}
		}
	}
}

// normalize turns msgpack integers into int64 for comparison.
func normalize(v any) any {
	switch x := v.(type) {
	case []any:
		out := make([]any, len(x))
		for i := range x {
			out[i] = normalize(x[i])
		}
		return out
	case map[string]any:
		out := map[string]any{}
		for k, e := range x {
			out[k] = normalize(e)
		}
		return out
	case int8:
		return int64(x)
	case int16:
		return int64(x)
	case int32:
		return int64(x)
	case uint8:
		return int64(x)
	case uint16:
		return int64(x)
	case uint32:
		return int64(x)
	}
	return v
}

func TestEmitExitCodes(t *testing.T) {
	mr := miniredis.RunT(t)
	url := "redis://" + mr.Addr()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "redis://" + l.Addr().String()
	l.Close()
	tests := []struct {
		name string
		args []string
		env  map[string]string
		code int
		want string
	}{
		{"ok", []string{"--redis", url, "--event", "e"}, nil, 0, ""},
		{"url from env", []string{"--event", "e"}, map[string]string{"IONBUS_REDIS_URL": url}, 0, ""},
		{"no redis", []string{"--event", "e"}, nil, 2, "--redis"},
		{"no operation", []string{"--redis", url}, nil, 2, "exactly one"},
		{"two operations", []string{"--redis", url, "--event", "e", "--disconnect"}, nil, 2, "exactly one"},
		{"bad data", []string{"--redis", url, "--event", "e", "--data", "[1,"}, nil, 2, "--data"},
		{"data without event", []string{"--redis", url, "--disconnect", "--data", "1"}, nil, 2, "--data"},
		{"close without disconnect", []string{"--redis", url, "--event", "e", "--close"}, nil, 2, "--close"},
		{"reserved event", []string{"--redis", url, "--event", "connect"}, nil, 2, "reserved"},
		{"bad url", []string{"--redis", "http://user:hunter2@x", "--event", "e"}, nil, 2, "--redis"},
		{"unknown flag", []string{"--redis", url, "--evnt", "e"}, nil, 2, "evnt"},
		{"redis down", []string{"--redis", dead, "--event", "e"}, nil, 1, "cannot publish through Redis at " + strings.TrimPrefix(dead, "redis://")},
		{"bare address", []string{"--redis", mr.Addr(), "--event", "e"}, nil, 2, "did you mean redis://" + mr.Addr()},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errs := runCmd(append([]string{"emit"}, tc.args...), tc.env)
			if code != tc.code || !strings.Contains(out+errs, tc.want) || strings.Contains(errs, "hunter2") {
				t.Fatalf("code %d, output %q%q; want %d and %q", code, out, errs, tc.code, tc.want)
			}
			if code == 1 && strings.Count(errs, "\n") != 1 {
				t.Fatalf("a failure is one line, got %q", errs)
			}
		})
	}
}
