package broker

import (
	"context"
	"encoding/json"
	"errors"
	"regexp"
	"slices"
	"sync"
	"time"

	"github.com/ionbus/ionbus/adapter"
)

// Middleware runs for every socket connecting to a namespace, before the
// socket is connected. Returning an error refuses it: a *ConnectError
// chooses the CONNECT_ERROR payload, any other error sends its text as
// the message. Middlewares run in the order they were added, on the
// session's callback goroutine.
type Middleware func(s *Socket) error

// ConnectionHandler runs once for each socket that joined a namespace.
// Register the socket's event handlers (s.On) here.
type ConnectionHandler func(s *Socket)

// Namespace is a Socket.IO namespace: its sockets, their rooms, its
// middlewares and handlers. A namespace made by OfPattern is a parent: it
// holds no sockets itself and passes its middlewares and handlers to the
// children created on demand.
//
// All methods are safe for concurrent use.
type Namespace struct {
	srv     *Server
	name    string
	pattern *regexp.Regexp // set on a pattern parent
	parent  *Namespace     // set on a child of a pattern

	hmu          sync.RWMutex
	middlewares  []mwEntry
	onConnection []ConnectionHandler
	serverEvents map[string]ServerEventHandler
	children     []*Namespace
	eventMWs     []EventMiddleware
	events       map[string]EventHandler
	matchers     []matchEntry
	unhandled    EventHandler
	joinHooks    []RoomHook
	leaveHooks   []RoomHook

	mu      sync.RWMutex
	sockets map[string]*Socket
	rooms   map[string]map[*Socket]struct{}

	// Of a dynamic child, guarded by srv.mu (children.go): CONNECTs
	// between lookup and admission, whether the adapter watches it,
	// whether it was removed, the timer that removes it once empty.
	pending    int
	watched    bool
	removed    bool
	emptyTimer *time.Timer
}

func newNamespace(s *Server, name string, pattern *regexp.Regexp) *Namespace {
	return &Namespace{
		srv:     s,
		name:    name,
		pattern: pattern,
		sockets: make(map[string]*Socket),
		rooms:   make(map[string]map[*Socket]struct{}),
	}
}

// Name is the namespace name, e.g. "/admin" (the pattern for a parent).
func (n *Namespace) Name() string { return n.name }

// Pattern is the regexp of a pattern parent (OfPattern), nil otherwise.
func (n *Namespace) Pattern() *regexp.Regexp { return n.pattern }

// Parent is the pattern parent a dynamic namespace was created from, nil
// for a static namespace or a parent.
func (n *Namespace) Parent() *Namespace { return n.parent }

// Use adds a middleware. It runs on the session's callback: keep it
// free of network calls (see UseBlocking).
func (n *Namespace) Use(m Middleware) *Namespace {
	n.hmu.Lock()
	n.middlewares = append(n.middlewares, mwEntry{m, false})
	n.hmu.Unlock()
	return n
}

// UseBlocking adds a middleware that may block, e.g. on a network call.
// A CONNECT whose chain holds one runs the whole chain on a goroutine of
// its own, so the Engine.IO worker that read it serves other sessions
// meanwhile; the answer and the connection handlers then run back on the
// session's callback (connection.Conn.Do). Until then the namespace is
// pending for that session: a second CONNECT to it, or a packet for it,
// closes the session as for a joined one. When the session closes
// first, the socket never connects and the disconnect handlers the
// middlewares registered run with ReasonTransportClose.
func (n *Namespace) UseBlocking(m Middleware) *Namespace {
	n.hmu.Lock()
	n.middlewares = append(n.middlewares, mwEntry{m, true})
	n.hmu.Unlock()
	return n
}

type mwEntry struct {
	m        Middleware
	blocking bool
}

// OnConnection adds a handler called for every connected socket.
func (n *Namespace) OnConnection(h ConnectionHandler) *Namespace {
	n.hmu.Lock()
	n.onConnection = append(n.onConnection, h)
	n.hmu.Unlock()
	return n
}

// EventMiddleware runs for every event a client sends on the namespace,
// before the event's handlers. Returning an error drops the event; the
// middleware itself tells the client when it should know (for instance
// with an "error" event).
type EventMiddleware func(e *Event) error

// RoomHook observes room membership. It runs after the change, with no
// lock held, on the goroutine that made the change. Sockets' own id rooms
// are not reported.
type RoomHook func(s *Socket, room string)

// UseEvent adds an event middleware.
func (n *Namespace) UseEvent(m EventMiddleware) *Namespace {
	n.hmu.Lock()
	n.eventMWs = append(n.eventMWs, m)
	n.hmu.Unlock()
	return n
}

// On registers a handler for event for every socket of the namespace. A
// handler registered on the socket itself with Socket.On takes precedence.
func (n *Namespace) On(event string, h EventHandler) *Namespace {
	n.hmu.Lock()
	if n.events == nil {
		n.events = make(map[string]EventHandler)
	}
	n.events[event] = h
	n.hmu.Unlock()
	return n
}

// OnMatch registers h for every event whose name satisfies match and that
// has no handler of its own (Socket.On, or Namespace.On here or on the
// pattern parent). Matchers are tried in registration order, the
// namespace's before its pattern parent's, and the first that matches
// handles the event. match runs on the socket's callback for every such
// event: keep it cheap and free of side effects.
func (n *Namespace) OnMatch(match func(event string) bool, h EventHandler) *Namespace {
	n.hmu.Lock()
	n.matchers = append(n.matchers, matchEntry{match, h})
	n.hmu.Unlock()
	return n
}

// OnUnhandled sets the handler called for an event that nothing else
// handles: no socket or namespace handler (OnMatch included) and no
// OnAny handler of the socket. It replaces any previous one; a pattern
// parent's applies to its children unless they set their own. Use it to
// answer acks of unknown events, which the client would otherwise wait
// for until its timeout.
func (n *Namespace) OnUnhandled(h EventHandler) *Namespace {
	n.hmu.Lock()
	n.unhandled = h
	n.hmu.Unlock()
	return n
}

type matchEntry struct {
	match func(string) bool
	h     EventHandler
}

// OnJoin adds a hook called when a socket joins a room.
func (n *Namespace) OnJoin(h RoomHook) *Namespace {
	n.hmu.Lock()
	n.joinHooks = append(n.joinHooks, h)
	n.hmu.Unlock()
	return n
}

// OnLeave adds a hook called when a socket leaves a room, including when
// it disconnects.
func (n *Namespace) OnLeave(h RoomHook) *Namespace {
	n.hmu.Lock()
	n.leaveHooks = append(n.leaveHooks, h)
	n.hmu.Unlock()
	return n
}

// hooks collects the event middlewares, room hooks and the namespace-level
// handler for event, the pattern parent's first.
type nsHooks struct {
	eventMWs      []EventMiddleware
	joins, leaves []RoomHook
}

// Without a parent it returns the namespace's own slices, capped so no
// caller can append into them: this runs per event and per join, and
// must not allocate.
func (n *Namespace) hooks() nsHooks {
	n.hmu.RLock()
	own := nsHooks{
		eventMWs: n.eventMWs[:len(n.eventMWs):len(n.eventMWs)],
		joins:    n.joinHooks[:len(n.joinHooks):len(n.joinHooks)],
		leaves:   n.leaveHooks[:len(n.leaveHooks):len(n.leaveHooks)],
	}
	n.hmu.RUnlock()
	if n.parent == nil {
		return own
	}
	h := n.parent.hooks()
	h.eventMWs = append(h.eventMWs, own.eventMWs...)
	h.joins = append(h.joins, own.joins...)
	h.leaves = append(h.leaves, own.leaves...)
	return h
}

// eventHandler returns the namespace-level handler of name: an exact one
// (this namespace's, then the parent's), else the first matcher that
// accepts name (this namespace's, then the parent's); nil when none.
func (n *Namespace) eventHandler(name string) EventHandler {
	if h := n.exactHandler(name); h != nil {
		return h
	}
	return n.matchHandler(name)
}

func (n *Namespace) exactHandler(name string) EventHandler {
	n.hmu.RLock()
	h := n.events[name]
	n.hmu.RUnlock()
	if h == nil && n.parent != nil {
		return n.parent.exactHandler(name)
	}
	return h
}

func (n *Namespace) matchHandler(name string) EventHandler {
	n.hmu.RLock()
	ms := n.matchers[:len(n.matchers):len(n.matchers)]
	n.hmu.RUnlock()
	for _, m := range ms {
		if m.match(name) {
			return m.h
		}
	}
	if n.parent != nil {
		return n.parent.matchHandler(name)
	}
	return nil
}

// unhandledHandler is the OnUnhandled handler, the parent's when unset.
func (n *Namespace) unhandledHandler() EventHandler {
	n.hmu.RLock()
	h := n.unhandled
	n.hmu.RUnlock()
	if h == nil && n.parent != nil {
		return n.parent.unhandledHandler()
	}
	return h
}

func (n *Namespace) addChild(c *Namespace) {
	n.hmu.Lock()
	n.children = append(n.children, c)
	n.hmu.Unlock()
}

func (n *Namespace) chain() ([]mwEntry, []ConnectionHandler) {
	var mws []mwEntry
	var hs []ConnectionHandler
	if n.parent != nil {
		mws, hs = n.parent.chain()
	}
	n.hmu.RLock()
	mws = append(mws, n.middlewares...)
	hs = append(hs, n.onConnection...)
	n.hmu.RUnlock()
	return mws, hs
}

// add connects a client to the namespace: session recovery, middlewares,
// then the CONNECT answer and the connection handlers. It runs on the
// session's callback; a chain with a blocking middleware continues on a
// goroutine and comes back through Conn.Do.
func (n *Namespace) add(cl *client, auth map[string]any, rawAuth json.RawMessage) {
	var start time.Time
	if n.srv.cfg.ObserveConnect != nil {
		start = time.Now()
	}
	sock, missed := n.newSocket(cl, auth, rawAuth)
	mws, handlers := n.chain()
	if sock.recovered && n.srv.cfg.Recovery.SkipMiddlewares {
		mws = nil
	}
	if !slices.ContainsFunc(mws, func(e mwEntry) bool { return e.blocking }) {
		n.finishAdd(cl, sock, runChain(mws, sock), missed, handlers, start)
		return
	}
	if !cl.setPending(n.name) {
		sock.cleanup()
		return
	}
	n.srv.pendingConnects.Add(1)
	go func() {
		defer n.srv.pendingConnects.Done()
		err := runChain(mws, sock)
		if !cl.conn.Do(func() {
			cl.clearPending(n.name)
			n.finishAdd(cl, sock, err, missed, handlers, start)
		}) {
			cl.clearPending(n.name)
			sock.abandon(err)
		}
	}()
}

// runChain runs the middlewares in order up to the first refusal, as a
// *ConnectError.
func runChain(mws []mwEntry, sock *Socket) *ConnectError {
	for _, e := range mws {
		if err := runMiddleware(e.m, sock); err != nil {
			var ce *ConnectError
			if !errors.As(err, &ce) {
				ce = &ConnectError{Message: err.Error()}
			}
			return ce
		}
	}
	return nil
}

// finishAdd answers the CONNECT (refused by ce, or accepted) and runs the
// connection handlers, on the session's callback.
// start is when the CONNECT arrived (zero without Config.ObserveConnect).
func (n *Namespace) finishAdd(cl *client, sock *Socket, ce *ConnectError, missed []loggedPacket, handlers []ConnectionHandler, start time.Time) {
	observe := n.srv.cfg.ObserveConnect
	if ce != nil {
		sock.abandon(ce)
		cl.sendConnectError(n.name, ce)
		if observe != nil {
			observe(time.Since(start), false)
		}
		return
	}
	if n.parent != nil {
		n.srv.watchChild(n) // the first admitted socket subscribes the child
	}
	if !cl.attach(sock) {
		sock.abandon(nil)
		return
	}
	n.mu.Lock()
	n.sockets[sock.id] = sock
	n.mu.Unlock()
	if sock.holdsConnect.Swap(false) {
		n.connectDone()
	}
	sock.onConnect(missed)
	if observe != nil {
		observe(time.Since(start), true)
	}
	for _, h := range handlers {
		h(sock)
	}
}

// runMiddleware turns a middleware panic into a refusal so a bad
// middleware cannot take the worker down.
func runMiddleware(mw Middleware, s *Socket) (err error) {
	defer func() {
		if r := recover(); r != nil {
			s.nsp.srv.log.Error().Interface("panic", r).Str("nsp", s.nsp.name).Msg("middleware panicked")
			err = &ConnectError{Message: "Internal server error"}
		}
	}()
	return mw(s)
}

func (n *Namespace) remove(s *Socket) {
	n.mu.Lock()
	if n.sockets[s.id] == s {
		delete(n.sockets, s.id)
	}
	n.mu.Unlock()
	if n.parent == nil {
		return
	}
	if s.holdsConnect.Swap(false) {
		n.connectDone() // refused or abandoned before admission
	} else {
		n.srv.childIdle(n)
	}
}

// joinRooms adds s to rooms in the index.
func (n *Namespace) joinRooms(s *Socket, rooms []string) {
	w, _ := n.srv.adapter.(adapter.RoomWatcher)
	n.mu.Lock()
	for _, r := range rooms {
		if r == s.id {
			// The own room is not stored: n.sockets answers for it,
			// which saves a map per socket.
			if w != nil && n.rooms[r] == nil {
				w.RoomCreated(n.name, r)
			}
			continue
		}
		set := n.rooms[r]
		if set == nil {
			set = make(map[*Socket]struct{}, 1)
			n.rooms[r] = set
			if w != nil && n.sockets[r] == nil {
				w.RoomCreated(n.name, r)
			}
		}
		set[s] = struct{}{}
	}
	n.mu.Unlock()
}

// leaveRooms removes s from rooms in the index.
func (n *Namespace) leaveRooms(s *Socket, rooms []string) {
	w, _ := n.srv.adapter.(adapter.RoomWatcher)
	n.mu.Lock()
	for _, r := range rooms {
		if r == s.id {
			if w != nil && n.rooms[r] == nil {
				w.RoomDeleted(n.name, r)
			}
			continue
		}
		set := n.rooms[r]
		if set == nil {
			continue
		}
		delete(set, s)
		if len(set) == 0 {
			delete(n.rooms, r)
			if w != nil && n.sockets[r] == nil {
				w.RoomDeleted(n.name, r)
			}
		}
	}
	n.mu.Unlock()
}

// members calls fn for every local socket in room r: the sockets that
// joined it, and the socket whose own room it is. n.mu must be held.
func (n *Namespace) members(r string, fn func(*Socket)) {
	for s := range n.rooms[r] {
		fn(s)
	}
	if s := n.sockets[r]; s != nil && s.connected.Load() {
		if _, joined := n.rooms[r][s]; !joined {
			fn(s)
		}
	}
}

// match returns the local sockets selected by rooms and except, copied
// so the caller can send without holding the lock.
func (n *Namespace) match(rooms, except []string) []*Socket {
	n.mu.RLock()
	defer n.mu.RUnlock()
	var excluded map[*Socket]struct{}
	if len(except) > 0 {
		excluded = make(map[*Socket]struct{})
		for _, r := range except {
			n.members(r, func(s *Socket) { excluded[s] = struct{}{} })
		}
	}
	if len(rooms) == 0 {
		out := make([]*Socket, 0, len(n.sockets))
		for _, s := range n.sockets {
			if _, ex := excluded[s]; !ex {
				out = append(out, s)
			}
		}
		return out
	}
	if len(rooms) == 1 {
		out := make([]*Socket, 0, len(n.rooms[rooms[0]])+1)
		n.members(rooms[0], func(s *Socket) {
			if _, ex := excluded[s]; !ex {
				out = append(out, s)
			}
		})
		return out
	}
	seen := make(map[*Socket]struct{})
	var out []*Socket
	for _, r := range rooms {
		n.members(r, func(s *Socket) {
			if _, ex := excluded[s]; ex {
				return
			}
			if _, dup := seen[s]; dup {
				return
			}
			seen[s] = struct{}{}
			out = append(out, s)
		})
	}
	return out
}

// Sockets returns this node's connected sockets of the namespace.
func (n *Namespace) Sockets() []*Socket {
	if n.pattern != nil {
		var out []*Socket
		for _, c := range n.childList() {
			out = append(out, c.Sockets()...)
		}
		return out
	}
	return n.match(nil, nil)
}

// Socket returns the local socket with the given id, or nil.
func (n *Namespace) Socket(id string) *Socket {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return n.sockets[id]
}

// Len is the number of local sockets.
func (n *Namespace) Len() int {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return len(n.sockets)
}

// Rooms returns the names of the rooms that have local sockets, socket id
// rooms included.
func (n *Namespace) Rooms() []string {
	n.mu.RLock()
	defer n.mu.RUnlock()
	out := make([]string, 0, len(n.rooms)+len(n.sockets))
	for r := range n.rooms {
		out = append(out, r)
	}
	for id := range n.sockets {
		if n.rooms[id] == nil {
			out = append(out, id)
		}
	}
	return out
}

func (n *Namespace) childList() []*Namespace {
	n.hmu.RLock()
	defer n.hmu.RUnlock()
	return append([]*Namespace(nil), n.children...)
}

// To starts a broadcast to the sockets in any of rooms.
func (n *Namespace) To(rooms ...string) *Broadcast { return newBroadcast(n).To(rooms...) }

// In is To.
func (n *Namespace) In(rooms ...string) *Broadcast { return n.To(rooms...) }

// Except starts a broadcast to every socket not in any of rooms.
func (n *Namespace) Except(rooms ...string) *Broadcast { return newBroadcast(n).Except(rooms...) }

// Volatile starts a broadcast whose packets may be dropped for congested
// sockets.
func (n *Namespace) Volatile() *Broadcast { return newBroadcast(n).Volatile() }

// Local starts a broadcast that stays on this node.
func (n *Namespace) Local() *Broadcast { return newBroadcast(n).Local() }

// Emit sends an event to every socket of the namespace, on every node.
func (n *Namespace) Emit(event string, args ...any) error {
	return newBroadcast(n).Emit(event, args...)
}

// FetchSockets returns the sockets of the namespace on every node.
func (n *Namespace) FetchSockets(ctx context.Context) ([]RemoteSocket, error) {
	return newBroadcast(n).FetchSockets(ctx)
}

// SocketsJoin makes every socket of the namespace, on every node, join rooms.
func (n *Namespace) SocketsJoin(ctx context.Context, rooms ...string) error {
	return newBroadcast(n).SocketsJoin(ctx, rooms...)
}

// DisconnectSockets disconnects every socket of the namespace on every node.
func (n *Namespace) DisconnectSockets(ctx context.Context, close bool) error {
	return newBroadcast(n).DisconnectSockets(ctx, close)
}
