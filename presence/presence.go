package presence

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"time"
)

// Sentinel errors. Callers branch on them with errors.Is.
var (
	// ErrInvalidMeta: metadata is not a JSON object or is larger than
	// Config.MaxMetaBytes. Nothing was stored.
	ErrInvalidMeta = errors.New("presence: invalid meta")
	// ErrInvalidEntry: a required id is empty, too long, or contains a NUL byte.
	// Nothing was stored.
	ErrInvalidEntry = errors.New("presence: invalid entry")
	// ErrNotMember: the user has no connection in the room.
	ErrNotMember = errors.New("presence: not a member")
	// ErrClosed: the Tracker was shut down.
	ErrClosed = errors.New("presence: closed")
	// ErrLapsed: this node's heartbeat had expired before it was refreshed, so
	// other nodes may already have swept its entries. The caller should
	// re-register its live connections.
	ErrLapsed = errors.New("presence: node heartbeat lapsed")
)

// MaxIDBytes bounds every id (namespace, room, user, connection, node, name).
const MaxIDBytes = 1024

// NamespaceRoom is the room name under which namespace-wide presence is kept
// (Rules.Namespace).
const NamespaceRoom = ""

// Entry is one connection of one member in one room.
type Entry struct {
	Namespace string
	Room      string
	// UserID identifies the member. Empty means anonymous: the member is
	// counted by its connection (UserID becomes ConnID).
	UserID string
	// Name is a display name, stored with the member's first connection.
	Name string
	// ConnID is the Socket.IO socket id; unique per connection cluster-wide.
	ConnID string
	// Node owns the connection; empty means Config.NodeID. Entries of a node
	// whose heartbeat lapses are swept.
	Node string
	// Meta is a JSON object (or empty) stored with the member's first
	// connection. Use SetMeta to change it later.
	Meta json.RawMessage
}

// Ref names one connection to remove.
type Ref struct {
	Namespace string
	Room      string
	UserID    string // empty: anonymous, counted by ConnID
	ConnID    string
	// KeepLast leaves the connection in place when it is the user's last one
	// in the room, and reports Kept. The Tracker uses it to hold a member
	// during the grace period without hiding other members' counts.
	KeepLast bool
}

// JoinResult reports the effect of adding one connection.
type JoinResult struct {
	// First is true when this was the user's first connection in the room,
	// cluster-wide. Exactly one Join observes First for a given arrival.
	First bool
	// Connections is the user's connection count in the room after the call.
	Connections int
}

// LeaveResult reports the effect of removing one connection.
type LeaveResult struct {
	// Removed is false when the connection was unknown (already gone, swept,
	// or kept by KeepLast).
	Removed bool
	// Last is true when the user has no other connection in the room: the
	// member is gone (Removed) or is held by KeepLast (Kept).
	Last bool
	// Kept is true when KeepLast held the last connection in place.
	Kept bool
	// Connections is the user's count after the call (0 once gone).
	Connections int
	// Name and Meta describe the departed member; set only when Last.
	Name string
	Meta json.RawMessage
}

// Member is one user present in a room.
type Member struct {
	UserID      string
	Name        string
	Connections int
	FirstSeen   time.Time // when the member's first live connection joined (ms precision)
	Meta        json.RawMessage
}

// Departure is a member that lost its last connection in a sweep of a dead
// node (or an eviction of this node). Each departure is reported exactly once
// cluster-wide.
type Departure struct {
	Namespace string
	Room      string
	UserID    string
	Name      string
	Meta      json.RawMessage
	Node      string // the node whose entries were removed
}

// Store records presence. Implementations: Memory (one process) and Redis
// (cluster). All methods are goroutine-safe; each blocks for at most one
// round trip to the backend (plus queueing behind an in-flight batch).
type Store interface {
	// Join adds a connection. Joining a connection that is already present
	// is a no-op reporting First=false and the current count.
	Join(ctx context.Context, e Entry) (JoinResult, error)
	// JoinBatch adds many connections in one round trip. Entries are validated
	// first; on a validation error nothing is stored. Results are in order.
	JoinBatch(ctx context.Context, es []Entry) ([]JoinResult, error)
	// Leave removes a connection.
	Leave(ctx context.Context, r Ref) (LeaveResult, error)
	// LeaveBatch removes many connections in one round trip.
	LeaveBatch(ctx context.Context, rs []Ref) ([]LeaveResult, error)
	// SetMeta replaces the member's metadata (a JSON object, at most
	// Config.MaxMetaBytes; empty clears it) and returns the updated member.
	SetMeta(ctx context.Context, namespace, room, userID string, meta json.RawMessage) (Member, error)
	// List returns up to limit members ordered by user id, starting after
	// cursor ("" = from the start). next is "" on the last page. limit <= 0
	// means Config.PageSize; it is capped at Config.MaxPageSize.
	List(ctx context.Context, namespace, room, cursor string, limit int) (members []Member, next string, err error)
	// Count returns the number of members (users, not connections).
	Count(ctx context.Context, namespace, room string) (int, error)
	// Heartbeat marks Config.NodeID alive for Config.NodeTTL-SweepInterval.
	// It returns ErrLapsed when an earlier Heartbeat succeeded but its key
	// is gone: it expired (other nodes may have swept this node's entries)
	// or the backend lost its data (Redis restarted empty, failover to an
	// empty replica). The heartbeat is refreshed either way.
	Heartbeat(ctx context.Context) error
	// Sweep removes every connection owned by a node whose heartbeat has
	// expired and returns the members that lost their last connection.
	Sweep(ctx context.Context) ([]Departure, error)
	// Evict removes every connection owned by Config.NodeID (graceful
	// shutdown) and returns the members that lost their last connection.
	Evict(ctx context.Context) ([]Departure, error)
}

// normalize fills defaults and validates an entry.
func (e *Entry) normalize(cfg *Config) error {
	if e.Node == "" {
		e.Node = cfg.NodeID
	}
	if e.UserID == "" {
		e.UserID = e.ConnID
	}
	if e.ConnID == "" || e.Node == "" {
		return ErrInvalidEntry
	}
	for _, s := range [...]string{e.Namespace, e.Room, e.UserID, e.Name, e.ConnID, e.Node} {
		if !validID(s) {
			return ErrInvalidEntry
		}
	}
	m, err := checkMeta(e.Meta, cfg.MaxMetaBytes)
	if err != nil {
		return err
	}
	e.Meta = m
	return nil
}

func (r *Ref) normalize() error {
	if r.UserID == "" {
		r.UserID = r.ConnID
	}
	if r.ConnID == "" {
		return ErrInvalidEntry
	}
	for _, s := range [...]string{r.Namespace, r.Room, r.UserID, r.ConnID} {
		if !validID(s) {
			return ErrInvalidEntry
		}
	}
	return nil
}

func validID(s string) bool {
	return len(s) <= MaxIDBytes && strings.IndexByte(s, 0) < 0
}

// checkMeta validates metadata and returns its compact form. Empty input is
// valid and means "no metadata".
func checkMeta(m json.RawMessage, maxBytes int) (json.RawMessage, error) {
	if len(m) == 0 {
		return nil, nil
	}
	if len(m) > maxBytes {
		return nil, ErrInvalidMeta
	}
	if !json.Valid(m) {
		return nil, ErrInvalidMeta
	}
	// First non-space byte decides the JSON type.
	for _, c := range m {
		if c == ' ' || c == '\t' || c == '\n' || c == '\r' {
			continue
		}
		if c != '{' {
			return nil, ErrInvalidMeta
		}
		break
	}
	var buf bytes.Buffer
	buf.Grow(len(m))
	if err := json.Compact(&buf, m); err != nil {
		return nil, ErrInvalidMeta
	}
	return json.RawMessage(buf.Bytes()), nil
}
