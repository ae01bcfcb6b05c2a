package presence

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"sync/atomic"
	"time"
)

// Tracker applies the presence rules, the grace period and event emission on
// top of a Store. The broker calls it; it never calls the broker (events go
// out through Config.OnEvent). All methods are goroutine-safe.
//
// Grace: when a user's last connection in a room disconnects, the connection
// is kept in the store (Ref.KeepLast) and removed Grace later. A reconnect in
// the meantime, on any node, sees the kept connection, so it is not "first"
// and no join is announced; the delayed removal then finds another connection
// and no leave is announced either. Only the removal of a truly last
// connection produces presence:leave.
type Tracker struct {
	store Store
	cfg   Config

	mu      sync.Mutex
	pending map[memberKey]*linger

	closed atomic.Bool
	timers sync.WaitGroup // scheduled or running grace timers
	ctx    context.Context
	cancel context.CancelFunc
}

type memberKey struct{ ns, room, user string }

// linger is a last connection held for the grace period.
type linger struct {
	conn  string
	timer Timer
}

// NewTracker returns a Tracker on store. cfg should be the Config the store
// was built with (same NodeID).
func NewTracker(store Store, cfg Config) (*Tracker, error) {
	if store == nil {
		return nil, errors.New("presence: nil store")
	}
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Tracker{store: store, cfg: cfg, pending: make(map[memberKey]*linger), ctx: ctx, cancel: cancel}, nil
}

// Tracked reports whether the rules record (namespace, room) for userID.
func (t *Tracker) Tracked(namespace, room, userID string) bool {
	if t.cfg.Rules == nil && t.cfg.Patterns == nil {
		return room != NamespaceRoom
	}
	if r, ok := t.cfg.Rules[namespace]; ok {
		return r.Match(room, userID)
	}
	for _, p := range t.cfg.Patterns {
		if p.Namespace.MatchString(namespace) {
			return p.Rules.Match(room, userID)
		}
	}
	return false
}

// Connect records that connection e.ConnID of e.UserID (empty: anonymous,
// counted by ConnID) is in e.Room (NamespaceRoom for namespace presence).
// Call it after the socket joined the room locally. It announces
// presence:join when this is the user's first connection cluster-wide and
// the user was not within its grace period. Untracked rooms are ignored
// (zero result, no I/O). Concurrent calls share round trips.
func (t *Tracker) Connect(ctx context.Context, e Entry) (JoinResult, error) {
	if t.closed.Load() {
		return JoinResult{}, ErrClosed
	}
	if e.UserID == "" {
		e.UserID = e.ConnID
	}
	if !t.Tracked(e.Namespace, e.Room, e.UserID) {
		return JoinResult{}, nil
	}
	res, err := t.store.Join(ctx, e)
	if err != nil {
		return res, err
	}
	if res.First {
		t.emit(EventJoin, e.Namespace, e.Room, User{ID: e.UserID, Name: e.Name, Meta: e.Meta}, res.Connections)
	}
	// A reconnect ends the grace period of the previous connection now.
	key := memberKey{e.Namespace, e.Room, e.UserID}
	if l := t.takeLinger(key); l != nil && l.conn != e.ConnID {
		t.finish(ctx, key, l.conn)
	}
	return res, nil
}

// Disconnect records that the connection left the room (socket left or
// disconnected). When it was the user's last connection, presence:leave is
// announced after Config.Grace unless the user reconnects first.
func (t *Tracker) Disconnect(ctx context.Context, namespace, room, userID, connID string) error {
	if userID == "" {
		userID = connID
	}
	if !t.Tracked(namespace, room, userID) {
		return nil
	}
	key := memberKey{namespace, room, userID}
	if t.cfg.DisableGrace || t.closed.Load() {
		return t.finish(ctx, key, connID)
	}
	res, err := t.store.Leave(ctx, Ref{Namespace: namespace, Room: room, UserID: userID, ConnID: connID, KeepLast: true})
	if err != nil {
		return err
	}
	if !res.Kept {
		return nil
	}
	l := &linger{conn: connID}
	t.mu.Lock()
	if t.closed.Load() { // Shutdown started after the check above
		t.mu.Unlock()
		return t.finish(ctx, key, connID)
	}
	old := t.pending[key]
	t.pending[key] = l
	t.timers.Add(1)
	l.timer = t.cfg.Clock.AfterFunc(t.cfg.Grace, func() {
		defer t.timers.Done()
		t.expire(key, l)
	})
	t.mu.Unlock()
	if old != nil && old.conn != connID && old.timer.Stop() {
		t.timers.Done()
		return t.finish(ctx, key, old.conn)
	}
	return nil
}

// takeLinger removes and returns the pending grace entry of key if its timer
// was stopped before firing (the caller then owns the removal).
func (t *Tracker) takeLinger(key memberKey) *linger {
	t.mu.Lock()
	defer t.mu.Unlock()
	l := t.pending[key]
	if l == nil {
		return nil
	}
	delete(t.pending, key)
	if !l.timer.Stop() {
		return nil // already firing: expire removes the connection
	}
	t.timers.Done()
	return l
}

// expire runs when a grace period ends. The timer fired, so nobody could
// stop it: removing the connection is this callback's job even if a
// reconnect already took the entry out of pending.
func (t *Tracker) expire(key memberKey, l *linger) {
	t.mu.Lock()
	if t.pending[key] == l {
		delete(t.pending, key)
	}
	t.mu.Unlock()
	ctx, cancel := context.WithTimeout(t.ctx, t.cfg.OpTimeout)
	defer cancel()
	if err := t.finish(ctx, key, l.conn); err != nil {
		t.cfg.Logger.Warn().Err(err).Str("nsp", key.ns).Str("room", key.room).Str("user", key.user).Msg("delayed presence leave failed")
	}
}

// finish removes a connection for good and announces the leave if it was the
// user's last.
func (t *Tracker) finish(ctx context.Context, key memberKey, conn string) error {
	res, err := t.store.Leave(ctx, Ref{Namespace: key.ns, Room: key.room, UserID: key.user, ConnID: conn})
	if err != nil {
		return err
	}
	if res.Removed && res.Last {
		t.emit(EventLeave, key.ns, key.room, User{ID: key.user, Name: res.Name, Meta: res.Meta}, 0)
	}
	return nil
}

// Update replaces the user's metadata in the room and announces
// presence:update. Errors: ErrInvalidMeta, ErrNotMember.
func (t *Tracker) Update(ctx context.Context, namespace, room, userID string, meta json.RawMessage) (Member, error) {
	m, err := t.store.SetMeta(ctx, namespace, room, userID, meta)
	if err != nil {
		return m, err
	}
	t.emit(EventUpdate, namespace, room, User{ID: m.UserID, Name: m.Name, Meta: m.Meta}, m.Connections)
	return m, nil
}

// List pages through the members of a room (see Store.List).
func (t *Tracker) List(ctx context.Context, namespace, room, cursor string, limit int) ([]Member, string, error) {
	return t.store.List(ctx, namespace, room, cursor, limit)
}

// Count returns the number of members in a room.
func (t *Tracker) Count(ctx context.Context, namespace, room string) (int, error) {
	return t.store.Count(ctx, namespace, room)
}

// Sweep removes the connections of dead nodes once and announces
// presence:leave for each member that lost its last connection. It returns
// the number of leaves announced. Run calls it every Config.SweepInterval.
func (t *Tracker) Sweep(ctx context.Context) (int, error) {
	deps, err := t.store.Sweep(ctx)
	t.announce(deps)
	return len(deps), err
}

func (t *Tracker) announce(deps []Departure) {
	for _, d := range deps {
		t.emit(EventLeave, d.Namespace, d.Room, User{ID: d.UserID, Name: d.Name, Meta: d.Meta}, 0)
	}
}

// Run keeps this node's heartbeat alive and sweeps dead nodes until ctx is
// done (wall-clock tickers: Config.HeartbeatInterval, Config.SweepInterval).
// It returns nil when ctx ends. Errors are logged, never fatal: Redis being
// away must not stop the node.
//
// When a heartbeat reports ErrLapsed (the node's heartbeat key had expired,
// or Redis came back without its data), Run calls Config.OnLapsed so the
// owner of the live connections re-registers them (Tracker.Resync). A
// failed OnLapsed is retried after every later heartbeat that reaches the
// store, until it succeeds. The listing therefore heals within
// HeartbeatInterval (plus one resync round trip) of Redis answering again.
func (t *Tracker) Run(ctx context.Context) error {
	hb := time.NewTicker(t.cfg.HeartbeatInterval)
	defer hb.Stop()
	sw := time.NewTicker(t.cfg.SweepInterval)
	defer sw.Stop()
	resync := false
	beat := func() {
		ok, lapsed := t.heartbeat(ctx)
		resync = resync || lapsed
		if !ok || !resync || ctx.Err() != nil {
			return
		}
		resync = !t.lapsed(ctx)
	}
	beat()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-hb.C:
			beat()
		case <-sw.C:
			if _, err := t.Sweep(ctx); err != nil && ctx.Err() == nil {
				t.cfg.Logger.Warn().Err(err).Msg("presence sweep failed")
			}
		}
	}
}

// heartbeat refreshes the heartbeat once. ok: the store answered (nil or
// ErrLapsed); lapsed: it reported ErrLapsed.
func (t *Tracker) heartbeat(ctx context.Context) (ok, lapsed bool) {
	err := t.store.Heartbeat(ctx)
	switch {
	case err == nil:
		return true, false
	case ctx.Err() != nil:
		return false, false
	case errors.Is(err, ErrLapsed):
		t.cfg.Logger.Warn().Err(err).Msg("presence heartbeat lapsed: this node's entries may be gone; re-registering")
		return true, true
	default:
		t.cfg.Logger.Warn().Err(err).Msg("presence heartbeat failed")
		return false, false
	}
}

// lapsed runs Config.OnLapsed (bounded by NodeTTL-SweepInterval-
// HeartbeatInterval, the time left before the fresh heartbeat would
// expire) and reports whether the node is registered
// again (true also when there is no OnLapsed: nothing to retry).
func (t *Tracker) lapsed(ctx context.Context) bool {
	if t.cfg.OnLapsed == nil || t.closed.Load() {
		return true
	}
	// Bounded so the heartbeat does not lapse again while it runs.
	ctx, cancel := context.WithTimeout(ctx, t.cfg.liveTTL()-t.cfg.HeartbeatInterval)
	defer cancel()
	if err := t.cfg.OnLapsed(ctx); err != nil {
		if ctx.Err() == nil {
			t.cfg.Logger.Warn().Err(err).Msg("presence re-registration failed; retrying after the next heartbeat")
		}
		return false
	}
	return true
}

// resyncChunk bounds the entries Resync sends in one JoinBatch.
const resyncChunk = 4096

// Resync re-registers connections this node still holds after the store
// lost them (Config.OnLapsed). Entries are filtered by the rules like
// Connect's; re-adding a connection that is still present is a no-op.
//
// Resync announces nothing: the members were announced when they joined
// and no leave was announced for them when Redis lost its data, so a
// presence:join now would be a spurious flap (every member of the node
// "joining" at once). The cost: when the node's heartbeat lapsed and
// another node swept its entries, that sweep announced presence:leave, and
// the re-registered members come back without a presence:join (clients see
// them again in presence:list). It returns the number of entries sent.
//
// Connections held for their grace period are not re-registered: their
// delayed leave then finds nothing and announces nothing.
func (t *Tracker) Resync(ctx context.Context, es []Entry) (int, error) {
	if t.closed.Load() {
		return 0, ErrClosed
	}
	keep := make([]Entry, 0, len(es))
	for _, e := range es {
		if e.UserID == "" {
			e.UserID = e.ConnID
		}
		if t.Tracked(e.Namespace, e.Room, e.UserID) {
			keep = append(keep, e)
		}
	}
	sent := 0
	for lo := 0; lo < len(keep); lo += resyncChunk {
		hi := min(lo+resyncChunk, len(keep))
		if _, err := t.store.JoinBatch(ctx, keep[lo:hi]); err != nil {
			return sent, err
		}
		sent = hi
	}
	return sent, nil
}

// Shutdown stops grace timers, removes every connection this node owns
// (Store.Evict) and announces presence:leave for members left with no
// connection anywhere. Call it after the broker stopped accepting sockets.
// Idempotent; later Connect calls fail with ErrClosed and Disconnect becomes
// immediate.
func (t *Tracker) Shutdown(ctx context.Context) error {
	if !t.closed.CompareAndSwap(false, true) {
		return nil
	}
	t.mu.Lock()
	for key, l := range t.pending {
		if l.timer.Stop() {
			t.timers.Done()
		}
		delete(t.pending, key)
	}
	t.mu.Unlock()
	done := make(chan struct{})
	go func() { t.timers.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		t.cancel() // abort running delayed leaves
		<-done
	}
	t.cancel()
	deps, err := t.store.Evict(ctx)
	t.announce(deps)
	return err
}

func (t *Tracker) emit(typ, ns, room string, u User, conns int) {
	if t.cfg.OnEvent == nil {
		return
	}
	t.cfg.OnEvent(Event{Type: typ, Namespace: ns, Room: room, User: u, Connections: conns, Timestamp: t.cfg.Clock.Now()})
}
