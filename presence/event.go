package presence

import (
	"encoding/json"
	"time"
)

// Event types, also the Socket.IO event names the broker emits.
const (
	EventJoin   = "presence:join"
	EventLeave  = "presence:leave"
	EventUpdate = "presence:update"
)

// User identifies a member in an Event.
type User struct {
	ID   string          `json:"id"`
	Name string          `json:"name"`
	Meta json.RawMessage `json:"meta"` // a JSON object, or null
}

// Event is a presence change produced by this node. Exactly one node in the
// cluster produces each join and each leave (the store decides first/last
// atomically), so the broker can broadcast it to the room without dedup.
type Event struct {
	Type        string // EventJoin, EventLeave or EventUpdate
	Namespace   string
	Room        string
	User        User
	Connections int // the user's connections in the room after the change
	Timestamp   time.Time
}

// MarshalJSON encodes the event payload sent to clients:
//
//	{"room":"chat:1","user":{"id":"u1","name":"Ann","meta":{...}},"connections":2,"timestamp":"2025-11-25T01:00:00.123Z"}
//
// timestamp is ISO 8601 UTC with milliseconds, like every timestamp the
// broker sends to clients. Type and Namespace are not in the payload: they are the Socket.IO
// event name and namespace.
func (e Event) MarshalJSON() ([]byte, error) {
	meta := e.User.Meta
	if len(meta) == 0 {
		meta = json.RawMessage("null")
	}
	return json.Marshal(struct {
		Room        string `json:"room"`
		User        User   `json:"user"`
		Connections int    `json:"connections"`
		Timestamp   string `json:"timestamp"`
	}{e.Room, User{e.User.ID, e.User.Name, meta}, e.Connections, e.Timestamp.UTC().Format("2006-01-02T15:04:05.000Z")})
}
