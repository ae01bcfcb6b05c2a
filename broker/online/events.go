package online

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ionbus/ionbus/broker"
	"github.com/ionbus/ionbus/broker/access"
	"github.com/ionbus/ionbus/presence"
)

// requestError is a refused client request.
type requestError struct {
	code    string
	message string
	details map[string]any
	retry   bool
}

func (e *requestError) Error() string { return e.code + ": " + e.message }

func invalid(format string, args ...any) *requestError {
	return &requestError{code: CodeInvalidPayload, message: fmt.Sprintf(format, args...)}
}

// MemberJSON is one member in presence:list acks and the HTTP API.
type MemberJSON struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Connections int    `json:"connections"`
	// FirstSeen is an ISO 8601 UTC timestamp with milliseconds.
	FirstSeen string          `json:"first_seen"`
	Meta      json.RawMessage `json:"meta"` // object or null
}

// ListResponse answers presence:list (ack) and GET /api/v1/presence.
// NextCursor is "" on the last page.
type ListResponse struct {
	Success    bool         `json:"success"`
	Namespace  string       `json:"namespace"`
	Room       string       `json:"room"`
	Members    []MemberJSON `json:"members"`
	NextCursor string       `json:"next_cursor"`
}

// CountResponse answers presence:count (ack) and GET /api/v1/presence/count.
type CountResponse struct {
	Success   bool   `json:"success"`
	Namespace string `json:"namespace"`
	Room      string `json:"room"`
	Count     int    `json:"count"`
}

func membersJSON(ms []presence.Member) []MemberJSON {
	out := make([]MemberJSON, len(ms))
	for i, m := range ms {
		meta := m.Meta
		if len(meta) == 0 {
			meta = nil // null
		}
		out[i] = MemberJSON{ID: m.UserID, Name: m.Name, Connections: m.Connections, FirstSeen: access.Timestamp(m.FirstSeen), Meta: meta}
	}
	return out
}

// payload decodes the event's first argument into v. It must be a JSON
// object; unknown fields are ignored, wrong types refused.
func payload(e *broker.Event, v any) *requestError {
	var args []json.RawMessage
	if err := json.Unmarshal(e.Data, &args); err != nil || len(args) < 2 {
		return invalid("%s expects one object argument", e.Name)
	}
	if len(e.Attachments) > 0 {
		return invalid("%s does not accept binary data", e.Name)
	}
	arg := bytes.TrimSpace(args[1])
	if len(arg) == 0 || arg[0] != '{' {
		return invalid("%s expects one object argument", e.Name)
	}
	if err := json.Unmarshal(arg, v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return invalid("field %q has the wrong type (%s, want %s)", te.Field, te.Value, te.Type)
		}
		return invalid("%s: %v", e.Name, err)
	}
	return nil
}

// fail answers a refused request: an `error` event, and the ack when the
// client asked for one.
func (o *Online) fail(e *broker.Event, rerr *requestError) {
	o.stats.clientErrors.Add(1)
	access.RefuseEvent(e, access.EventErrorPayload(e, rerr.code, rerr.message, rerr.details, rerr.retry, time.Now()))
}

func (o *Online) unavailable(err error) *requestError {
	if errors.Is(err, presence.ErrInvalidEntry) {
		return invalid("invalid room or cursor")
	}
	o.log.Warn().Err(err).Msg("presence query failed")
	return &requestError{code: CodeUnavailable, message: "presence is temporarily unavailable", retry: true}
}

// readable checks that the socket may list or count room.
func (o *Online) readable(s *broker.Socket, room string) *requestError {
	r, _ := o.rulesOf(s.Namespace())
	if room == presence.NamespaceRoom {
		if !r.Track.Namespace {
			return &requestError{code: CodeNotTracked, message: "namespace presence is not tracked here", details: map[string]any{"room": room}}
		}
		return nil
	}
	if s.InRoom(room) && room != s.ID() {
		return nil
	}
	user := o.state(s).effectiveUser(s)
	if (presence.Rules{Rooms: r.Visible}).Match(room, user) {
		return nil
	}
	return &requestError{code: CodeForbidden, message: "not allowed to see this room", details: map[string]any{"room": room}}
}

func (o *Online) callCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), o.cfg.CallTimeout)
}

func (o *Online) onList(e *broker.Event) {
	var req struct {
		Room   *string `json:"room"`
		Cursor *string `json:"cursor"`
		Limit  *int    `json:"limit"`
	}
	if rerr := payload(e, &req); rerr != nil {
		o.fail(e, rerr)
		return
	}
	if req.Room == nil {
		o.fail(e, invalid(`room is required ("" for the namespace)`))
		return
	}
	limit := 0
	if req.Limit != nil {
		limit = *req.Limit
		if limit < 1 || limit > o.cfg.Presence.MaxPageSize {
			o.fail(e, invalid("limit must be between 1 and %d", o.cfg.Presence.MaxPageSize))
			return
		}
	}
	cursor := ""
	if req.Cursor != nil {
		cursor = *req.Cursor
	}
	if rerr := o.readable(e.Socket, *req.Room); rerr != nil {
		o.fail(e, rerr)
		return
	}
	ctx, cancel := o.callCtx()
	defer cancel()
	nsp := e.Socket.Namespace().Name()
	ms, next, err := o.tracker.List(ctx, nsp, *req.Room, cursor, limit)
	if err != nil {
		o.fail(e, o.unavailable(err))
		return
	}
	_ = e.Ack(ListResponse{Success: true, Namespace: nsp, Room: *req.Room, Members: membersJSON(ms), NextCursor: next})
}

func (o *Online) onCount(e *broker.Event) {
	var req struct {
		Room *string `json:"room"`
	}
	if rerr := payload(e, &req); rerr != nil {
		o.fail(e, rerr)
		return
	}
	if req.Room == nil {
		o.fail(e, invalid(`room is required ("" for the namespace)`))
		return
	}
	if rerr := o.readable(e.Socket, *req.Room); rerr != nil {
		o.fail(e, rerr)
		return
	}
	ctx, cancel := o.callCtx()
	defer cancel()
	nsp := e.Socket.Namespace().Name()
	n, err := o.tracker.Count(ctx, nsp, *req.Room)
	if err != nil {
		o.fail(e, o.unavailable(err))
		return
	}
	_ = e.Ack(CountResponse{Success: true, Namespace: nsp, Room: *req.Room, Count: n})
}

// checkMeta returns meta compacted, or why it is refused.
func (o *Online) checkMeta(raw json.RawMessage) (json.RawMessage, *requestError) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '{' {
		return nil, invalid("meta must be a JSON object")
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return nil, invalid("meta must be a JSON object")
	}
	if max := o.cfg.Presence.MaxMetaBytes; buf.Len() > max {
		return nil, &requestError{code: CodeMetaTooLarge, message: fmt.Sprintf("meta is %d bytes, the limit is %d", buf.Len(), max),
			details: map[string]any{"bytes": buf.Len(), "max_bytes": max}}
	}
	return buf.Bytes(), nil
}

func (o *Online) onUpdate(e *broker.Event) {
	var req struct {
		Room *string         `json:"room"`
		Meta json.RawMessage `json:"meta"`
	}
	if rerr := payload(e, &req); rerr != nil {
		o.fail(e, rerr)
		return
	}
	meta, rerr := o.checkMeta(req.Meta)
	if rerr != nil {
		o.fail(e, rerr)
		return
	}
	s := e.Socket
	nsp := s.Namespace().Name()
	st := o.state(s)
	user := st.effectiveUser(s)
	var rooms []string
	if req.Room != nil {
		room := *req.Room
		switch {
		case room != presence.NamespaceRoom && (!s.InRoom(room) || room == s.ID()):
			o.fail(e, &requestError{code: CodeForbidden, message: "not in this room", details: map[string]any{"room": room}})
			return
		case !o.tracker.Tracked(nsp, room, user):
			o.fail(e, &requestError{code: CodeNotTracked, message: "presence is not tracked for this room", details: map[string]any{"room": room}})
			return
		}
		rooms = []string{room}
	} else {
		// Every tracked room the socket is in; later joins carry it too.
		st.meta.Store(&meta)
		st.setMeta("", true, nil)
		if o.tracker.Tracked(nsp, presence.NamespaceRoom, user) {
			rooms = append(rooms, presence.NamespaceRoom)
		}
		for _, room := range s.Rooms() {
			if room != s.ID() && o.tracker.Tracked(nsp, room, user) {
				rooms = append(rooms, room)
			}
		}
	}
	ctx, cancel := o.callCtx()
	defer cancel()
	for _, room := range rooms {
		_, err := o.tracker.Update(ctx, nsp, room, user, meta)
		switch {
		case err == nil:
			if req.Room != nil {
				st.setMeta(room, false, meta) // for Resync
			}
		case errors.Is(err, presence.ErrNotMember) && req.Room == nil:
			// Left or not yet recorded: nothing to update there.
		case errors.Is(err, presence.ErrNotMember):
			o.fail(e, &requestError{code: CodeNotMember, message: "not a member of this room", details: map[string]any{"room": room}})
			return
		case errors.Is(err, presence.ErrInvalidMeta):
			o.fail(e, invalid("meta refused by the store"))
			return
		default:
			o.fail(e, o.unavailable(err))
			return
		}
	}
	_ = e.Ack(map[string]bool{"success": true})
}

// normalizeNamespace adds the leading "/" Socket.IO namespaces have.
func normalizeNamespace(name string) string {
	if !strings.HasPrefix(name, "/") {
		return "/" + name
	}
	return name
}
