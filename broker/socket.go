package broker

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ionbus/ionbus/broker/protocol"
	"github.com/ionbus/ionbus/connection"
)

// Handshake is what a socket's client sent when it connected: the
// Engine.IO opening request and the CONNECT auth payload. Immutable.
type Handshake struct {
	// Address is the peer IP (no port) as seen by this node.
	Address string
	// RemoteAddr is the peer "ip:port".
	RemoteAddr string
	Time       time.Time
	Secure     bool
	// XDomain is true when the request carried an Origin header.
	XDomain bool
	// URL is the opening request's path and query, as sent.
	URL string
	// Auth is the CONNECT payload (socket.io-client's `auth` option).
	Auth map[string]any
	// RawAuth is the CONNECT payload as JSON (nil when absent).
	RawAuth json.RawMessage

	conn *connection.Handshake // the session's; shared by its namespace sockets
}

// Headers returns a new map of the opening request's headers. The request
// is kept compact and parsed on each call; use Header for one value.
func (h *Handshake) Headers() http.Header {
	if h.conn == nil {
		return http.Header{}
	}
	return h.conn.Header()
}

// Header returns the first value of the named request header, or "".
func (h *Handshake) Header(key string) string {
	if h.conn == nil {
		return ""
	}
	return h.conn.HeaderValue(key)
}

// Query returns a new map of the opening request's query parameters.
func (h *Handshake) Query() url.Values {
	if h.conn == nil {
		return url.Values{}
	}
	return h.conn.Query()
}

// Socket is one client connected to one namespace.
//
// Methods are safe for concurrent use. Event handlers for one socket run
// one at a time, in arrival order, on the socket's session callback; a
// handler that blocks delays that socket (and occupies a worker), so hand
// long work to a goroutine.
type Socket struct {
	id        string
	pid       string
	nsp       *Namespace
	client    *client
	handshake *Handshake
	recovered bool

	mu           sync.Mutex
	rooms        []string       // a slice: sockets are in few rooms, and a map costs far more per socket
	handlers     []handlerEntry // few per socket: a slice, not a map (see handlerEntry)
	anyHandlers  []EventHandler
	onDisconnect []DisconnectHandler
	acks         map[int64]chan ackResult
	data         any
	values       []valueEntry // few per socket: a slice, not a map

	connected atomic.Bool
	// holdsConnect: the socket's CONNECT still counts in its dynamic
	// namespace's pending connects (children.go).
	holdsConnect atomic.Bool
}

// EventHandler handles an event sent by the client.
type EventHandler func(e *Event)

// DisconnectHandler runs once when the socket leaves the namespace.
type DisconnectHandler func(s *Socket, reason string)

type ackResult struct {
	data        json.RawMessage
	attachments [][]byte
	err         error
}

// Event is one event received from a client. It is valid after the
// handler returns (handlers may keep it and Ack later from any goroutine).
type Event struct {
	Socket *Socket
	Name   string
	// Data is the packet's JSON array, event name first; binary values
	// are placeholders indexing Attachments.
	Data        json.RawMessage
	Attachments [][]byte

	ackID int64
	acked atomic.Bool
}

// Args decodes the event arguments (the event name excluded): numbers as
// json.Number, objects as map[string]any, binary as []byte.
func (e *Event) Args() ([]any, error) {
	all, err := protocol.DecodeArgs(e.Data, e.Attachments)
	if err != nil {
		return nil, err
	}
	return all[1:], nil
}

// WantsAck reports whether the client asked for an acknowledgement.
func (e *Event) WantsAck() bool { return e.ackID != protocol.NoID }

// Ack answers the client's acknowledgement callback with args. Only the
// first call sends; later calls and calls for an event without ack return
// ErrNoAck.
func (e *Event) Ack(args ...any) error {
	if e.ackID == protocol.NoID || !e.acked.CompareAndSwap(false, true) {
		return ErrNoAck
	}
	data, atts, err := protocol.EncodeArgs(args)
	if err != nil {
		return err
	}
	return e.Socket.client.send(&protocol.Packet{
		Type: protocol.PacketAck, Namespace: e.Socket.nsp.name, ID: e.ackID, Data: data, Attachments: atts,
	}, false)
}

func (n *Namespace) newSocket(cl *client, auth map[string]any, rawAuth json.RawMessage) (*Socket, []loggedPacket) {
	s := &Socket{
		nsp:    n,
		client: cl,
	}
	s.holdsConnect.Store(n.parent != nil)
	s.handshake = buildHandshake(cl.hs, auth, rawAuth)
	var missed []loggedPacket
	if rec := n.srv.recovery; rec != nil {
		pid, _ := auth["pid"].(string)
		offset, _ := auth["offset"].(string)
		if pid != "" && offset != "" {
			if sess, packets, ok := rec.restore(n.name, pid, offset); ok {
				s.id, s.pid, s.data, s.recovered = sess.sid, sess.pid, sess.data, true
				s.rooms = append(s.rooms, sess.rooms...)
				missed = packets
			}
		}
		if s.pid == "" {
			s.pid = randomID(15)
		}
	}
	if s.id == "" {
		s.id = randomID(15)
	}
	return s, missed
}

func buildHandshake(hs *connection.Handshake, auth map[string]any, rawAuth json.RawMessage) *Handshake {
	h := &Handshake{
		Address:    hs.RemoteAddr,
		RemoteAddr: hs.RemoteAddr,
		Time:       hs.Time,
		Secure:     hs.Secure,
		XDomain:    hs.HeaderValue("Origin") != "",
		URL:        hs.RequestURI,
		Auth:       auth,
		RawAuth:    rawAuth,
		conn:       hs,
	}
	if host, _, err := net.SplitHostPort(hs.RemoteAddr); err == nil {
		h.Address = host
	}
	return h
}

// ID is the socket id (also the name of the socket's own room).
func (s *Socket) ID() string { return s.id }

// PID is the private session id used for connection state recovery
// (empty when recovery is disabled).
func (s *Socket) PID() string { return s.pid }

// Namespace is the socket's namespace.
func (s *Socket) Namespace() *Namespace { return s.nsp }

// Handshake is what the client sent when connecting.
func (s *Socket) Handshake() *Handshake { return s.handshake }

// Recovered reports whether the socket resumed a previous session.
func (s *Socket) Recovered() bool { return s.recovered }

// Connected reports whether the socket is still in its namespace.
func (s *Socket) Connected() bool { return s.connected.Load() }

// Transport is the current transport ("polling" or "websocket").
func (s *Socket) Transport() string { return s.client.conn.Transport() }

// Conn is the Engine.IO session the socket rides on.
func (s *Socket) Conn() connection.Conn { return s.client.conn }

// SetData attaches application data, reported by FetchSockets on every
// node (it must marshal to JSON).
func (s *Socket) SetData(v any) {
	s.mu.Lock()
	s.data = v
	s.mu.Unlock()
}

// Data returns what SetData attached.
func (s *Socket) Data() any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.data
}

// Set stores a node-local value under key (for middlewares: identity,
// limits slots). Not shared with other nodes.
func (s *Socket) Set(key, value any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range s.values {
		if s.values[i].key == key {
			s.values[i].value = value
			return
		}
	}
	s.values = append(s.values, valueEntry{key, value})
}

// Get returns the value stored under key, or nil.
func (s *Socket) Get(key any) any {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range s.values {
		if e.key == key {
			return e.value
		}
	}
	return nil
}

// On registers the handler for event, replacing any previous one.
func (s *Socket) On(event string, h EventHandler) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range s.handlers {
		if s.handlers[i].event == event {
			s.handlers[i].h = h
			return
		}
	}
	s.handlers = append(s.handlers, handlerEntry{event, h})
}

// handlerEntry and valueEntry hold a socket's own event handlers and
// middleware values. A socket has a handful at most, so a linear search of
// a slice beats a map, and costs ~30 B per entry where a one-entry map
// costs ~250 B per socket (the 19,000-idle-socket heap profile in
// docs/benchmarks.md).
type handlerEntry struct {
	event string
	h     EventHandler
}

type valueEntry struct{ key, value any }

// handler returns the socket's own handler for event, or nil. s.mu held.
func (s *Socket) handlerLocked(event string) EventHandler {
	for _, e := range s.handlers {
		if e.event == event {
			return e.h
		}
	}
	return nil
}

// OnAny registers a handler called for every event, before the event's
// own handler.
func (s *Socket) OnAny(h EventHandler) {
	s.mu.Lock()
	s.anyHandlers = append(s.anyHandlers, h)
	s.mu.Unlock()
}

// OnDisconnect registers a handler called once when the socket leaves.
func (s *Socket) OnDisconnect(h DisconnectHandler) {
	s.mu.Lock()
	s.onDisconnect = append(s.onDisconnect, h)
	s.mu.Unlock()
}

// Join adds the socket to rooms.
func (s *Socket) Join(rooms ...string) {
	if !s.connected.Load() {
		return
	}
	s.mu.Lock()
	if !s.connected.Load() { // closed meanwhile: never index a gone socket
		s.mu.Unlock()
		return
	}
	fresh := rooms[:0:0]
	for _, r := range rooms {
		if !slices.Contains(s.rooms, r) && !slices.Contains(fresh, r) {
			fresh = append(fresh, r)
		}
	}
	s.rooms = append(s.rooms, fresh...)
	s.mu.Unlock()
	if len(fresh) > 0 {
		s.nsp.joinRooms(s, fresh)
		s.runRoomHooks(s.nsp.hooks().joins, fresh)
	}
}

func (s *Socket) runRoomHooks(hooks []RoomHook, rooms []string) {
	for _, h := range hooks {
		for _, r := range rooms {
			if r == s.id {
				continue
			}
			func() {
				defer func() {
					if p := recover(); p != nil {
						s.nsp.srv.log.Error().Interface("panic", p).Str("room", r).Msg("room hook panicked")
					}
				}()
				h(s, r)
			}()
		}
	}
}

// Leave removes the socket from rooms.
func (s *Socket) Leave(rooms ...string) {
	s.mu.Lock()
	gone := rooms[:0:0]
	for _, r := range rooms {
		if i := slices.Index(s.rooms, r); i >= 0 {
			s.rooms = slices.Delete(s.rooms, i, i+1)
			gone = append(gone, r)
		}
	}
	s.mu.Unlock()
	if len(gone) > 0 {
		s.nsp.leaveRooms(s, gone)
		s.runRoomHooks(s.nsp.hooks().leaves, gone)
	}
}

// Rooms returns the rooms the socket is in, its own id room included.
func (s *Socket) Rooms() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.rooms)
}

// InRoom reports whether the socket is in room.
func (s *Socket) InRoom(room string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Contains(s.rooms, room)
}

// Emit sends an event to this socket. It never blocks; an error means the
// socket is gone, its queue overflowed, or args could not be encoded.
func (s *Socket) Emit(event string, args ...any) error {
	return s.emit(event, args, false)
}

// EmitVolatile sends an event that is dropped rather than queued when the
// socket is congested.
func (s *Socket) EmitVolatile(event string, args ...any) error {
	return s.emit(event, args, true)
}

func (s *Socket) emit(event string, args []any, volatile bool) error {
	if reservedEvents[event] {
		return ErrReservedEvent
	}
	if !s.connected.Load() {
		return ErrNotConnected
	}
	p, err := eventPacket(s.nsp.name, event, args)
	if err != nil {
		return err
	}
	if h := s.nsp.srv.emitHook.Load(); h != nil {
		(*h)(s, event, args)
	}
	if s.nsp.srv.recovery != nil && !volatile {
		// Go through the local delivery path so the packet gets an
		// offset and is kept for recovery, as the reference does.
		s.nsp.deliver(p, deliveryOpts{rooms: []string{s.id}})
		return nil
	}
	return s.client.send(p, volatile)
}

// EmitWithAck sends an event and waits for the client's acknowledgement
// or the end of ctx (ErrAckTimeout). Do not call it from one of this
// socket's own event handlers without a goroutine: the ack arrives on the
// callback that handler occupies.
func (s *Socket) EmitWithAck(ctx context.Context, event string, args ...any) ([]any, error) {
	if reservedEvents[event] {
		return nil, ErrReservedEvent
	}
	p, err := eventPacket(s.nsp.name, event, args)
	if err != nil {
		return nil, err
	}
	p.ID = s.nsp.srv.ackIDs.Add(1)
	ch := s.expectAck(p.ID)
	if ch == nil {
		return nil, ErrNotConnected
	}
	if h := s.nsp.srv.emitHook.Load(); h != nil {
		(*h)(s, event, args)
	}
	if err := s.client.send(p, false); err != nil {
		s.dropAck(p.ID)
		return nil, err
	}
	select {
	case res := <-ch:
		if res.err != nil {
			return nil, res.err
		}
		return protocol.DecodeArgs(res.data, res.attachments)
	case <-ctx.Done():
		s.dropAck(p.ID)
		return nil, ErrAckTimeout
	}
}

func (s *Socket) expectAck(id int64) chan ackResult {
	ch := make(chan ackResult, 1)
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.connected.Load() {
		return nil
	}
	if s.acks == nil {
		s.acks = make(map[int64]chan ackResult, 1)
	}
	s.acks[id] = ch
	return ch
}

func (s *Socket) dropAck(id int64) {
	s.mu.Lock()
	delete(s.acks, id)
	s.mu.Unlock()
}

// EmitHook observes an event sent to one socket with Socket.Emit,
// EmitVolatile or EmitWithAck (broadcasts are not reported, as in the
// reference's onAnyOutgoing). args are the caller's: read them, do not
// keep or change them. It runs on the emitting goroutine and must not
// block.
type EmitHook func(s *Socket, event string, args []any)

// OnSocketEmit sets the hook called for every direct emit to a socket of
// any namespace (the Admin UI's event_sent); nil removes it. One hook per
// server: a later call replaces the previous one. Without a hook an emit
// costs one atomic load more.
func (s *Server) OnSocketEmit(h EmitHook) {
	if h == nil {
		s.emitHook.Store(nil)
		return
	}
	s.emitHook.Store(&h)
}

// To starts a broadcast to rooms that excludes this socket.
func (s *Socket) To(rooms ...string) *Broadcast {
	return newBroadcast(s.nsp).To(rooms...).Except(s.id)
}

// Broadcast starts a broadcast to every socket of the namespace but this one.
func (s *Socket) Broadcast() *Broadcast { return newBroadcast(s.nsp).Except(s.id) }

// Disconnect removes the socket from its namespace: the client receives a
// DISCONNECT packet ("io server disconnect"). With close, every namespace
// of the client is disconnected the same way and the transport is closed
// after the packets are flushed.
func (s *Socket) Disconnect(close bool) {
	if !close {
		s.disconnect()
		return
	}
	cl := s.client
	cl.mu.Lock()
	socks := append([]*Socket(nil), cl.sockets...)
	cl.mu.Unlock()
	for _, sock := range socks {
		sock.disconnect()
	}
	cl.conn.Close(connection.CloseServerClose)
}

func (s *Socket) disconnect() {
	if !s.connected.Load() {
		return
	}
	_ = s.client.send(&protocol.Packet{Type: protocol.PacketDisconnect, Namespace: s.nsp.name, ID: protocol.NoID}, false)
	s.onClose(ReasonServerNamespaceDisconnect)
}

// onConnect completes the connection: own room, previous rooms of a
// recovered session, the CONNECT answer, then missed packets.
func (s *Socket) onConnect(missed []loggedPacket) {
	s.connected.Store(true)
	s.mu.Lock()
	if !slices.Contains(s.rooms, s.id) {
		s.rooms = append(s.rooms, s.id)
	}
	rooms := slices.Clone(s.rooms)
	s.mu.Unlock()
	s.nsp.joinRooms(s, rooms)
	s.nsp.srv.stats.connects.Add(1)

	// Field order as the reference: {"sid":…,"pid":…}.
	data, _ := json.Marshal(struct {
		SID string `json:"sid"`
		PID string `json:"pid,omitempty"`
	}{s.id, s.pid})
	_ = s.client.send(&protocol.Packet{Type: protocol.PacketConnect, Namespace: s.nsp.name, ID: protocol.NoID, Data: data}, false)
	for _, lp := range missed {
		_ = s.client.send(&protocol.Packet{
			Type: protocol.PacketEvent, Namespace: s.nsp.name, ID: protocol.NoID, Data: lp.data, Attachments: lp.attachments,
		}, false)
	}
}

func (s *Socket) onEvent(p *protocol.Packet) {
	name, ok := eventName(p.Data)
	if !ok || reservedEvents[name] {
		s.nsp.srv.stats.parseErrors.Add(1)
		s.client.closeParseError()
		return
	}
	e := &Event{Socket: s, Name: name, Data: p.Data, Attachments: p.Attachments, ackID: p.ID}
	s.nsp.srv.stats.eventsIn.Add(1)
	for _, mw := range s.nsp.hooks().eventMWs {
		if err := mw(e); err != nil {
			s.nsp.srv.stats.eventsRefused.Add(1)
			return
		}
	}
	s.mu.Lock()
	h := s.handlerLocked(name)
	anys := s.anyHandlers
	s.mu.Unlock()
	if h == nil {
		h = s.nsp.eventHandler(name)
	}
	for _, a := range anys {
		s.runHandler(a, e)
	}
	if h == nil && len(anys) == 0 {
		h = s.nsp.unhandledHandler()
	}
	if h != nil {
		s.runHandler(h, e)
	}
}

func (s *Socket) runHandler(h EventHandler, e *Event) {
	defer func() {
		if r := recover(); r != nil {
			s.nsp.srv.log.Error().Interface("panic", r).Str("nsp", s.nsp.name).Str("event", e.Name).Msg("event handler panicked")
		}
	}()
	h(e)
}

func (s *Socket) onAck(p *protocol.Packet) {
	s.mu.Lock()
	ch := s.acks[p.ID]
	delete(s.acks, p.ID)
	s.mu.Unlock()
	if ch == nil {
		return // late or unknown ack: the reference ignores it too
	}
	ch <- ackResult{data: p.Data, attachments: p.Attachments}
}

// onClose removes the socket from its namespace, once.
func (s *Socket) onClose(reason string) {
	if !s.connected.CompareAndSwap(true, false) {
		return
	}
	if rec := s.nsp.srv.recovery; rec != nil && recoverable[reason] {
		rec.persist(s.nsp.name, session{sid: s.id, pid: s.pid, rooms: s.Rooms(), data: s.Data()})
	}
	s.cleanup()
	s.client.detach(s)
	s.nsp.srv.stats.disconnects.Add(1)
	s.mu.Lock()
	handlers := s.onDisconnect
	acks := s.acks
	s.acks = nil
	s.mu.Unlock()
	for _, ch := range acks {
		ch <- ackResult{err: ErrNotConnected}
	}
	for _, h := range handlers {
		func() {
			defer func() {
				if r := recover(); r != nil {
					s.nsp.srv.log.Error().Interface("panic", r).Msg("disconnect handler panicked")
				}
			}()
			h(s, reason)
		}()
	}
}

// abandon drops a socket that never connected: refused by a middleware
// (ce), or whose session closed before its CONNECT completed (ce nil).
// The disconnect handlers its middlewares registered run, so what they
// took (a connection slot) is given back.
func (s *Socket) abandon(ce *ConnectError) {
	s.cleanup()
	s.mu.Lock()
	handlers := s.onDisconnect
	s.onDisconnect = nil
	s.mu.Unlock()
	reason := ReasonServerNamespaceDisconnect
	if ce == nil {
		reason = ReasonTransportClose
	}
	for _, h := range handlers {
		func() {
			defer func() {
				if r := recover(); r != nil {
					s.nsp.srv.log.Error().Interface("panic", r).Msg("disconnect handler panicked")
				}
			}()
			h(s, reason)
		}()
	}
}

// cleanup leaves every room and the namespace.
func (s *Socket) cleanup() {
	s.mu.Lock()
	rooms := s.rooms
	s.rooms = nil
	s.mu.Unlock()
	s.nsp.leaveRooms(s, rooms)
	s.nsp.remove(s)
	if s.connected.Load() || len(rooms) == 0 {
		return
	}
	s.runRoomHooks(s.nsp.hooks().leaves, rooms)
}

// eventPacket encodes [event, ...args] into an EVENT packet.
func eventPacket(nsp, event string, args []any) (*protocol.Packet, error) {
	all := make([]any, 0, 1+len(args))
	all = append(all, event)
	all = append(all, args...)
	data, atts, err := protocol.EncodeArgs(all)
	if err != nil {
		return nil, err
	}
	return &protocol.Packet{Type: protocol.PacketEvent, Namespace: nsp, ID: protocol.NoID, Data: data, Attachments: atts}, nil
}

// eventName reads the first element of an event's JSON array, which the
// decoder guarantees to be a string.
func eventName(data json.RawMessage) (string, bool) {
	// The decoder validated the JSON and that the first element is a
	// string or a number, so a scan finds it without a JSON decoder (this
	// runs for every inbound event).
	i := skipJSONSpace(data, 0)
	if i >= len(data) || data[i] != '[' {
		return "", false
	}
	i = skipJSONSpace(data, i+1)
	if i >= len(data) {
		return "", false
	}
	if data[i] == '"' {
		escaped := false
		for j := i + 1; j < len(data); j++ {
			switch data[j] {
			case '\\':
				escaped = true
				j++
			case '"':
				if !escaped {
					return string(data[i+1 : j]), true
				}
				var name string
				if json.Unmarshal(data[i:j+1], &name) != nil {
					return "", false
				}
				return name, true
			}
		}
		return "", false
	}
	// A number (the reference accepts numeric event names): its text.
	j := i
	for j < len(data) && data[j] != ',' && data[j] != ']' && data[j] != ' ' && data[j] != '\t' && data[j] != '\n' && data[j] != '\r' {
		j++
	}
	if j == i {
		return "", false
	}
	return string(data[i:j]), true
}

func skipJSONSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}
