package node

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/ionbus/ionbus/broker"
)

// TestJoinRoomWithoutAllow: on a real node, join_room and leave_room in a
// namespace without rooms.allow are refused with ROOM_NOT_ALLOWED (the
// error event, and the error ack when one was asked) instead of being
// dropped; with rooms.allow a room outside it gets the same code; an
// application's own join_room handler still wins.
func TestJoinRoomWithoutAllow(t *testing.T) {
	cfg := Default()
	cfg.Listen, cfg.API.Listen = "127.0.0.1:0", ""
	cfg.Namespaces = []NamespaceConfig{{Name: "/"}, {Name: "/chat", Rooms: RoomsConfig{Allow: []string{"chat:*"}}}, {Name: "/app"}}
	n := startNode(t, cfg, func(n *Node) {
		n.Server().Of("/app").On("join_room", func(e *broker.Event) { _ = e.Ack("mine") })
	})

	type errorPayload struct {
		Code    string         `json:"error_code"`
		Message string         `json:"error_message"`
		Details map[string]any `json:"error_details"`
		Success *bool          `json:"success"`
		Error   struct{ Code string }
	}
	// decode reads `<prefix>[...]` and returns the first argument (after
	// the event name, for an event).
	decode := func(packet, prefix string, event bool) errorPayload {
		t.Helper()
		if !strings.HasPrefix(packet, prefix) {
			t.Fatalf("packet %q, want prefix %q", packet, prefix)
		}
		body := packet[len(prefix):]
		if event {
			body = "[" + body // prefix ends with `["error",`
		}
		var args []json.RawMessage
		if err := json.Unmarshal([]byte(body), &args); err != nil {
			t.Fatalf("%q: %v", packet, err)
		}
		var p errorPayload
		if len(args) == 0 || json.Unmarshal(args[0], &p) != nil {
			t.Fatalf("packet %q: no payload", packet)
		}
		return p
	}

	c := dialSocket(t, n, "")
	if p := c.next(); !strings.HasPrefix(p, "40{") {
		t.Fatalf("connect: %q", p)
	}
	for i, ev := range []string{"join_room", "leave_room"} {
		id := string(rune('1' + i))
		c.send(`42` + id + `["` + ev + `",{"room_name":"lobby"}]`)
		e := decode(c.next(), `42["error",`, true)
		if e.Code != "ROOM_NOT_ALLOWED" || !strings.Contains(e.Message, "rooms.allow") || e.Details["room_name"] != "lobby" || e.Details["original_event"] != ev {
			t.Fatalf("%s error event %+v", ev, e)
		}
		ack := decode(c.next(), `43`+id, false)
		if ack.Code != "ROOM_NOT_ALLOWED" || ack.Success == nil || *ack.Success || ack.Error.Code != "ROOM_NOT_ALLOWED" {
			t.Fatalf("%s ack %+v", ev, ack)
		}
	}
	// Without an ack: the error event alone.
	c.send(`42["join_room","lobby"]`)
	if e := decode(c.next(), `42["error",`, true); e.Code != "ROOM_NOT_ALLOWED" {
		t.Fatalf("error event %+v", e)
	}

	// rooms.allow set: a room outside it is refused the same way.
	c.send(`40/chat,`)
	if p := c.next(); !strings.HasPrefix(p, "40/chat,{") {
		t.Fatalf("connect /chat: %q", p)
	}
	c.send(`42/chat,7["join_room",{"room_name":"lobby"}]`)
	if e := decode(c.next(), `42/chat,["error",`, true); e.Code != "ROOM_NOT_ALLOWED" {
		t.Fatalf("/chat error event %+v", e)
	}
	if ack := decode(c.next(), `43/chat,7`, false); ack.Code != "ROOM_NOT_ALLOWED" {
		t.Fatalf("/chat ack %+v", ack)
	}
	c.send(`42/chat,8["join_room",{"room_name":"chat:1"}]`)
	if p := c.next(); !strings.HasPrefix(p, `42/chat,["room_joined"`) {
		t.Fatalf("/chat join: %q", p)
	}
	if p := c.next(); !strings.HasPrefix(p, `43/chat,8[{`) || !strings.Contains(p, `"success":true`) {
		t.Fatalf("/chat join ack: %q", p)
	}

	// The application's own handler is not overridden.
	c.send(`40/app,`)
	if p := c.next(); !strings.HasPrefix(p, "40/app,{") {
		t.Fatalf("connect /app: %q", p)
	}
	c.send(`42/app,9["join_room","x"]`)
	if p := c.next(); p != `43/app,9["mine"]` {
		t.Fatalf("/app ack %q", p)
	}
}
