package access

import (
	"strings"

	"github.com/ionbus/ionbus/broker"
	"github.com/ionbus/ionbus/broker/auth"
)

// The built-in room events (Rules.RoomsAllow).
const (
	EventJoinRoom  = "join_room"
	EventLeaveRoom = "leave_room"
)

// RefuseRoomEvent answers a join_room or leave_room that nothing handled
// (the namespace has no rooms.allow, and neither the application nor a
// backend rule takes the event) with ROOM_NOT_ALLOWED: the standard error
// event and, when the client asked, the error ack, instead of silence.
// It reports whether e was such an event; package node calls it from
// the namespaces' OnUnhandled.
func (g *Guard) RefuseRoomEvent(e *broker.Event) bool {
	if e.Name != EventJoinRoom && e.Name != EventLeaveRoom {
		return false
	}
	room := ""
	if args, err := e.Args(); err == nil && len(args) > 0 {
		switch v := args[0].(type) {
		case map[string]any:
			room, _ = v["room_name"].(string)
		case string:
			room = v
		}
		if !validRoomName(room) {
			room = ""
		}
	}
	g.roomError(e, room, CodeRoomNotAllowed, "room events are off in this namespace (its rooms.allow is empty)", false)
	return true
}

// onJoinRoom handles join_room {room_name, room_type}.
func (g *Guard) onJoinRoom(e *broker.Event, r Rules) {
	s := e.Socket
	room, ok := g.roomRequest(e)
	if !ok {
		return
	}
	id := Identity(s)
	if !roomAllowed(r.RoomsAllow, room, id) {
		g.roomError(e, room, CodeRoomNotAllowed, "room not allowed", false)
		return
	}
	if g.cfg.Limiter != nil && !s.InRoom(room) {
		if d := g.cfg.Limiter.AllowJoin(len(s.Rooms()) - 1); !d.Allowed { // own id room excluded
			g.roomError(e, room, CodeRoomLimit, "too many rooms", false)
			return
		}
	}
	s.Join(room)
	payload := map[string]any{"room_name": room, "success": true, "message": "Joined room " + room}
	_ = s.Emit("room_joined", payload)
	_ = e.Ack(payload)
}

// onLeaveRoom handles leave_room {room_name}.
func (g *Guard) onLeaveRoom(e *broker.Event, r Rules) {
	s := e.Socket
	room, ok := g.roomRequest(e)
	if !ok {
		return
	}
	if room == s.ID() {
		g.roomError(e, room, CodeRoomNotAllowed, "cannot leave the socket's own room", false)
		return
	}
	was := s.InRoom(room)
	s.Leave(room)
	msg := "Left room " + room
	if !was {
		msg = "Not in room " + room
	}
	payload := map[string]any{"room_name": room, "success": was, "message": msg}
	_ = s.Emit("room_left", payload)
	_ = e.Ack(payload)
}

// roomRequest reads {room_name} (or a bare string) from the event.
func (g *Guard) roomRequest(e *broker.Event) (string, bool) {
	args, err := e.Args()
	if err != nil || len(args) == 0 {
		g.roomError(e, "", CodeInvalidPayload, "expected {room_name, room_type}", false)
		return "", false
	}
	var raw any
	switch v := args[0].(type) {
	case map[string]any:
		raw = v["room_name"]
	case string:
		raw = v
	default:
		g.roomError(e, "", CodeInvalidPayload, "expected {room_name, room_type}", false)
		return "", false
	}
	name, ok := raw.(string)
	if !ok || !validRoomName(name) {
		g.roomError(e, "", CodeInvalidRoomName, "room_name must be a string of 1 to 1000 characters of valid UTF-8", false)
		return "", false
	}
	return name, true
}

func (g *Guard) roomError(e *broker.Event, room, code, msg string, retry bool) {
	g.count(code)
	var details map[string]any
	if room != "" {
		details = map[string]any{"room_name": room}
	}
	p := EventErrorPayload(e, code, msg, details, retry, g.cfg.Now()).ForSocket(e.Socket)
	_ = e.Socket.Emit("error", p)
	// The ErrorAck, with room_name as the room events' own acks have it.
	_ = e.Ack(struct {
		ErrorAck
		RoomName string `json:"room_name"`
	}{ErrorAck{ErrorEvent: p, Error: ErrorBody{Code: p.Code, Message: p.Message}}, room})
}

// roomAllowed matches room against the patterns expanded for id.
func roomAllowed(patterns []string, room string, id *auth.Identity) bool {
	for _, p := range expandTemplates(patterns, id) {
		if glob(p, room) {
			return true
		}
	}
	return false
}

// expandTemplates replaces {user} and {role} (one result per role).
// Templates with a placeholder the identity cannot fill are dropped.
func expandTemplates(templates []string, id *auth.Identity) []string {
	var out []string
	for _, t := range templates {
		hasUser := strings.Contains(t, "{user}")
		hasRole := strings.Contains(t, "{role}")
		if (hasUser || hasRole) && id == nil {
			continue
		}
		if hasUser {
			t = strings.ReplaceAll(t, "{user}", id.UserID)
		}
		if !hasRole {
			out = append(out, t)
			continue
		}
		for _, role := range id.Roles {
			out = append(out, strings.ReplaceAll(t, "{role}", role))
		}
	}
	return out
}

// Glob reports whether s matches the pattern p, where '*' matches any run
// of characters (including none) and every other character matches
// itself. It runs in O(len(p)*len(s)) time at worst, so a pattern from
// configuration is safe against names chosen by clients.
func Glob(p, s string) bool { return glob(p, s) }

// glob is the classic star-backtracking matcher: on a mismatch it resumes
// after the last '*', which consumes one more character of s. Only the
// last star needs remembering, so there is no recursion.
func glob(p, s string) bool {
	pi, si := 0, 0
	star, mark := -1, 0 // index of the last '*' in p, and where in s it started matching
	for si < len(s) {
		switch {
		case pi < len(p) && p[pi] == '*':
			star, mark = pi, si
			pi++
		case pi < len(p) && p[pi] == s[si]:
			pi++
			si++
		case star >= 0:
			mark++
			pi, si = star+1, mark
		default:
			return false
		}
	}
	for pi < len(p) && p[pi] == '*' {
		pi++
	}
	return pi == len(p)
}
