package online

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/ionbus/ionbus/broker"
	"github.com/ionbus/ionbus/presence"
)

// stateKey stores a socket's *socketState with Socket.Set.
type stateKey struct{}

// socketState is what Online remembers about a socket: the identity it is
// counted under (fixed at connection) and the metadata it last set for all
// its rooms, used for the rooms it joins afterwards.
type socketState struct {
	user string // "" = anonymous, counted by socket id
	name string
	meta atomic.Pointer[json.RawMessage]

	// roomMeta is metadata set for one room (presence:update with a room),
	// kept so Resync can re-register it; nil until such an update.
	mu       sync.Mutex
	roomMeta map[string]json.RawMessage
}

func (st *socketState) metaValue() json.RawMessage {
	if p := st.meta.Load(); p != nil {
		return *p
	}
	return nil
}

// setMeta records metadata set for room, or for every room (all).
func (st *socketState) setMeta(room string, all bool, meta json.RawMessage) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if all {
		st.roomMeta = nil
		return
	}
	if st.roomMeta == nil {
		st.roomMeta = make(map[string]json.RawMessage, 1)
	}
	st.roomMeta[room] = meta
}

// metaFor is the metadata the socket last set for room.
func (st *socketState) metaFor(room string) json.RawMessage {
	st.mu.Lock()
	m, ok := st.roomMeta[room]
	st.mu.Unlock()
	if ok {
		return m
	}
	return st.metaValue()
}

// forgetRoom drops room's metadata when the socket leaves it.
func (st *socketState) forgetRoom(room string) {
	st.mu.Lock()
	delete(st.roomMeta, room)
	st.mu.Unlock()
}

// effectiveUser is the id the socket is counted under, as presence does.
func (st *socketState) effectiveUser(s *broker.Socket) string {
	if st.user == "" {
		return s.ID()
	}
	return st.user
}

// state returns the socket's state, identifying it on first use. Hooks for
// one socket may run on different goroutines (a remote socketsJoin), so
// two may race here; both compute the same identity.
func (o *Online) state(s *broker.Socket) *socketState {
	if st, ok := s.Get(stateKey{}).(*socketState); ok {
		return st
	}
	user, name := o.cfg.Identify(s)
	st := &socketState{user: user, name: name}
	s.Set(stateKey{}, st)
	return st
}

// attach registers the hooks and client events on ns (a pattern parent
// passes them to its children).
func (o *Online) attach(ns *broker.Namespace, r NamespaceRules) {
	ns.OnConnection(func(s *broker.Socket) {
		st := o.state(s)
		if r.Track.Namespace {
			o.connect(s, st, presence.NamespaceRoom)
			s.OnDisconnect(func(s *broker.Socket, _ string) {
				o.disconnect(s, presence.NamespaceRoom)
			})
		}
		if s.Recovered() {
			// A recovered socket gets its rooms back without OnJoin.
			for _, room := range s.Rooms() {
				if room != s.ID() {
					o.connect(s, st, room)
				}
			}
		}
	})
	// OnLeave also runs for every room when the socket disconnects
	// (Socket.cleanup), before the disconnect handlers.
	ns.OnJoin(func(s *broker.Socket, room string) { o.connect(s, o.state(s), room) })
	ns.OnLeave(func(s *broker.Socket, room string) { o.disconnect(s, room) })
	ns.On(EventList, o.onList)
	ns.On(EventCount, o.onCount)
	ns.On(EventUpdate, o.onUpdate)
}

// connect records the socket in room. It blocks the socket's callback for
// at most CallTimeout (the store batches concurrent calls); failures are
// logged and counted, never fatal to the socket.
func (o *Online) connect(s *broker.Socket, st *socketState, room string) {
	if o.closed.Load() {
		return // Shutdown evicted this node's entries
	}
	ctx, cancel := context.WithTimeout(context.Background(), o.cfg.CallTimeout)
	defer cancel()
	_, err := o.tracker.Connect(ctx, presence.Entry{
		Namespace: s.Namespace().Name(),
		Room:      room,
		UserID:    st.user,
		Name:      st.name,
		ConnID:    s.ID(),
		Meta:      st.metaValue(),
	})
	o.storeError(err, "connect", s, room)
}

func (o *Online) disconnect(s *broker.Socket, room string) {
	if o.closed.Load() {
		return
	}
	st := o.state(s)
	st.forgetRoom(room)
	ctx, cancel := context.WithTimeout(context.Background(), o.cfg.CallTimeout)
	defer cancel()
	err := o.tracker.Disconnect(ctx, s.Namespace().Name(), room, st.user, s.ID())
	o.storeError(err, "disconnect", s, room)
}

func (o *Online) storeError(err error, op string, s *broker.Socket, room string) {
	if err == nil || errors.Is(err, presence.ErrClosed) {
		return
	}
	o.stats.storeErrors.Add(1)
	o.log.Warn().Err(err).Str("op", op).Str("nsp", s.Namespace().Name()).Str("sid", s.ID()).
		Str("room", room).Msg("presence store call failed")
}

// Resync re-registers every tracked room of this node's connected sockets
// with the tracker (presence.Tracker.Resync: no presence:join is
// announced). The tracker calls it (presence.Config.OnLapsed) when its
// heartbeat finds that this node's entries may be gone — Redis restarted
// empty, or the heartbeat expired and other nodes swept them; embedders may
// call it too. Re-registering an entry that is still present is a no-op.
//
// A socket that leaves a room or disconnects while the batch is in flight
// could be re-added after its leave was recorded; Resync checks the
// snapshot again afterwards and removes those entries.
func (o *Online) Resync(ctx context.Context) error {
	if o.closed.Load() {
		return nil
	}
	type ref struct {
		s    *broker.Socket
		user string
		room string
	}
	var refs []ref
	var es []presence.Entry
	for _, ns := range o.srv.Namespaces() { // static ones and dynamic children
		r, ok := o.rulesOf(ns)
		if !ok {
			continue
		}
		name := ns.Name()
		for _, s := range ns.Sockets() {
			if !s.Connected() {
				continue
			}
			st := o.state(s)
			add := func(room string) {
				if !o.tracker.Tracked(name, room, st.effectiveUser(s)) {
					return
				}
				refs = append(refs, ref{s, st.user, room})
				es = append(es, presence.Entry{Namespace: name, Room: room, UserID: st.user, Name: st.name, ConnID: s.ID(), Meta: st.metaFor(room)})
			}
			if r.Track.Namespace {
				add(presence.NamespaceRoom)
			}
			for _, room := range s.Rooms() {
				if room != s.ID() {
					add(room)
				}
			}
		}
	}
	o.stats.resyncs.Add(1)
	n, err := o.tracker.Resync(ctx, es)
	o.stats.resynced.Add(uint64(n))
	if err != nil {
		return fmt.Errorf("online: resync: %w", err)
	}
	// Undo entries whose socket left meanwhile (its leave may have run
	// before the re-registration reached the store).
	for _, f := range refs {
		if f.s.Connected() && (f.room == presence.NamespaceRoom || f.s.InRoom(f.room)) {
			continue
		}
		err := o.tracker.Disconnect(ctx, f.s.Namespace().Name(), f.room, f.user, f.s.ID())
		o.storeError(err, "resync undo", f.s, f.room)
	}
	o.log.Info().Int("entries", n).Msg("presence re-registered after the node's entries were lost")
	return nil
}
