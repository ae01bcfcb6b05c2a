package adminui

import (
	"context"
	"encoding/json"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/ionbus/ionbus/broker"
)

// Event names of the protocol (upstream's typed-events.d.ts).
const (
	EventSession            = "session"
	EventConfig             = "config"
	EventServerStats        = "server_stats"
	EventAllSockets         = "all_sockets"
	EventSocketConnected    = "socket_connected"
	EventSocketUpdated      = "socket_updated"
	EventSocketDisconnected = "socket_disconnected"
	EventRoomJoined         = "room_joined"
	EventRoomLeft           = "room_left"
	EventReceived           = "event_received"
	EventSent               = "event_sent"

	CommandEmit       = "emit"
	CommandJoin       = "join"
	CommandLeave      = "leave"
	CommandDisconnect = "_disconnect"
)

// serverEventSockets is the server-side event (on the admin namespace)
// by which a node asks every other for its serialized sockets.
const serverEventSockets = "ionbus:adminui:sockets"

// MessageInvalidCredentials is the CONNECT_ERROR message of a refused
// login; the UI shows its login form again for exactly this text.
const MessageInvalidCredentials = "invalid credentials"

// AdminUI serves the Admin UI protocol on one broker.Server. Build it with
// New, call Start once the broker started, Shutdown at the end.
type AdminUI struct {
	cfg      Config
	srv      *broker.Server
	nsp      *broker.Namespace
	log      zerolog.Logger
	sessions sessionStore
	logins   chan struct{} // semaphore of bcrypt comparisons
	features []string

	mu       sync.Mutex
	attached map[*broker.Namespace]bool
	polling  map[*broker.Socket]struct{} // development: sockets last seen on polling
	last     counters                    // at the previous server_stats

	started  atomic.Bool
	closed   atomic.Bool // set under mu, so goTracked never adds to wg after Shutdown waits
	stop     chan struct{}
	done     chan struct{}
	ctx      context.Context // canceled by Shutdown: the all_sockets requests in flight
	cancel   context.CancelFunc
	wg       sync.WaitGroup // goroutines started by goTracked
	startsAt time.Time
}

// sessionKey is where the auth middleware leaves a new session id for
// the connection handler to send.
type sessionKey struct{}

// New registers the admin namespace on srv (with its auth middleware and
// handlers) and, in development mode, attaches the event hooks to every
// namespace srv has now; call Attach for pattern parents and namespaces
// created later. rdb, when not nil, keeps login sessions in Redis so that
// every node accepts them; nil keeps them in this process.
func New(cfg Config, srv *broker.Server, rdb redis.UniversalClient) (*AdminUI, error) {
	cfg.withDefaults(srv.NodeID())
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	a := &AdminUI{
		cfg:      cfg,
		srv:      srv,
		log:      cfg.Logger.With().Str("component", "adminui").Logger(),
		logins:   make(chan struct{}, cfg.MaxConcurrentLogins),
		attached: make(map[*broker.Namespace]bool),
		polling:  make(map[*broker.Socket]struct{}),
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
		startsAt: cfg.Now(),
	}
	a.ctx, a.cancel = context.WithCancel(context.Background())
	if rdb != nil {
		a.sessions = &redisSessions{rdb: rdb, prefix: cfg.KeyPrefix}
	} else {
		a.sessions = newMemorySessions(cfg.Now)
	}
	a.features = features(cfg)
	a.nsp = srv.Of(cfg.Namespace)
	if !cfg.DisableAuth {
		a.nsp.UseBlocking(a.authenticate)
	}
	a.nsp.OnConnection(a.onAdminConnection)
	a.nsp.OnServerEvent(serverEventSockets, func(_ []any, ack func(args ...any)) {
		if ack != nil {
			ack(a.localSockets())
		}
	})
	if cfg.Mode == ModeDevelopment {
		for _, ns := range srv.Namespaces() {
			a.Attach(ns)
		}
		srv.OnSocketEmit(a.onEmit)
	}
	return a, nil
}

// features is the config event's supportedFeatures (upstream's Feature).
func features(cfg Config) []string {
	var out []string
	if !cfg.ReadOnly {
		out = append(out, "EMIT", "JOIN", "LEAVE", "DISCONNECT", "MJOIN", "MLEAVE", "MDISCONNECT")
	}
	out = append(out, "AGGREGATED_EVENTS")
	if cfg.Mode == ModeDevelopment {
		out = append(out, "ALL_EVENTS")
	}
	return out
}

// Namespace is the admin namespace.
func (a *AdminUI) Namespace() *broker.Namespace { return a.nsp }

// Attach reports the sockets, rooms and events of ns (a pattern parent
// covers its children) in development mode; in production mode it does
// nothing. Attaching a namespace twice, or a child of an attached parent,
// is a no-op.
func (a *AdminUI) Attach(ns *broker.Namespace) {
	if a.cfg.Mode != ModeDevelopment || ns == nil {
		return
	}
	a.mu.Lock()
	if a.attached[ns] || (ns.Parent() != nil && a.attached[ns.Parent()]) {
		a.mu.Unlock()
		return
	}
	a.attached[ns] = true
	a.mu.Unlock()
	ns.OnConnection(a.onSocketConnected)
	ns.OnJoin(func(s *broker.Socket, room string) {
		a.broadcast(EventRoomJoined, s.Namespace().Name(), room, s.ID(), a.timestamp())
	})
	ns.OnLeave(func(s *broker.Socket, room string) {
		a.broadcast(EventRoomLeft, s.Namespace().Name(), room, s.ID(), a.timestamp())
	})
	if ns != a.nsp {
		ns.UseEvent(a.onEvent)
	}
}

// Start emits the first server_stats and starts the ticker. Call it after
// broker.Server.Start. Calls after the first return nil.
func (a *AdminUI) Start(context.Context) error {
	base := a.readCounters()
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed.Load() || !a.started.CompareAndSwap(false, true) {
		return nil
	}
	a.last = base
	go a.run()
	return nil
}

// Shutdown stops the ticker, within ctx. Idempotent. Register it with
// broker.Server.OnDrained so the last stats go out while the adapter is
// up.
func (a *AdminUI) Shutdown(ctx context.Context) error {
	a.mu.Lock()
	first := a.closed.CompareAndSwap(false, true)
	a.mu.Unlock()
	if !first {
		return nil
	}
	close(a.stop)
	a.cancel()
	all := make(chan struct{})
	go func() {
		if a.started.Load() {
			<-a.done
		}
		a.wg.Wait()
		close(all)
	}()
	select {
	case <-all:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// goTracked runs f on a goroutine that Shutdown waits for; after
// Shutdown began it does not run f.
func (a *AdminUI) goTracked(f func()) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed.Load() {
		return
	}
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		f()
	}()
}

func (a *AdminUI) run() {
	defer close(a.done)
	t := time.NewTicker(a.cfg.StatsInterval)
	defer t.Stop()
	a.tick()
	for {
		select {
		case <-a.stop:
			return
		case <-t.C:
			a.tick()
		}
	}
}

// tick sends this node's server_stats and, in development mode, the
// transport upgrades seen since the last one.
func (a *AdminUI) tick() {
	if a.cfg.Mode == ModeDevelopment {
		a.reportUpgrades()
	}
	a.broadcast(EventServerStats, a.serverStats())
}

// broadcast emits to every admin socket of the cluster. A failure (Redis
// down) is logged at debug: the local UIs still get it.
func (a *AdminUI) broadcast(event string, args ...any) {
	if err := a.nsp.Emit(event, args...); err != nil {
		a.log.Debug().Err(err).Str("event", event).Msg("admin ui broadcast")
	}
}

// timestamp is a JavaScript Date as JSON.stringify writes it.
func (a *AdminUI) timestamp() string {
	return a.cfg.Now().UTC().Format("2006-01-02T15:04:05.000Z")
}

// onAdminConnection runs for each UI: its commands, the session id of a
// fresh login, the config, then (development) every socket.
func (a *AdminUI) onAdminConnection(s *broker.Socket) {
	if sid, _ := s.Get(sessionKey{}).(string); sid != "" {
		_ = s.Emit(EventSession, sid)
	}
	a.registerCommands(s)
	_ = s.Emit(EventConfig, map[string]any{"supportedFeatures": a.features})
	if a.cfg.Mode != ModeDevelopment {
		return
	}
	// The cluster request waits for every node: off the session callback.
	a.goTracked(func() {
		ctx, cancel := context.WithTimeout(a.ctx, a.cfg.CommandTimeout)
		defer cancel()
		_ = s.Emit(EventAllSockets, a.allSockets(ctx))
	})
}

// allSockets is every node's sockets: this node's, and each other
// node's answer to the serverEventSockets request (nodes that do not
// answer within ctx are missing, and logged).
func (a *AdminUI) allSockets(ctx context.Context) []any {
	out := a.localSockets()
	replies, err := a.nsp.ServerSideEmitWithAck(ctx, serverEventSockets)
	if err != nil {
		a.log.Warn().Err(err).Int("answers", len(replies)).Msg("admin ui: some nodes did not list their sockets")
	}
	for _, r := range replies {
		if len(r) == 0 {
			continue // a node without the Admin UI answers with nothing
		}
		list, ok := r[0].([]any)
		if !ok {
			continue
		}
		out = append(out, list...)
	}
	return out
}

// localSockets serializes every socket of this node.
func (a *AdminUI) localSockets() []any {
	out := []any{}
	for _, ns := range a.srv.Namespaces() {
		for _, s := range ns.Sockets() {
			out = append(out, serialize(s))
		}
	}
	return out
}

// onSocketConnected reports a socket of an attached namespace.
func (a *AdminUI) onSocketConnected(s *broker.Socket) {
	a.broadcast(EventSocketConnected, serialize(s), a.timestamp())
	if s.Transport() == "polling" {
		a.mu.Lock()
		a.polling[s] = struct{}{}
		a.mu.Unlock()
	}
	s.OnDisconnect(func(s *broker.Socket, reason string) {
		a.mu.Lock()
		delete(a.polling, s)
		a.mu.Unlock()
		a.broadcast(EventSocketDisconnected, s.Namespace().Name(), s.ID(), reason, a.timestamp())
	})
}

// reportUpgrades sends socket_updated for each socket that left polling.
func (a *AdminUI) reportUpgrades() {
	a.mu.Lock()
	var upgraded []*broker.Socket
	for s := range a.polling {
		if s.Transport() != "polling" {
			upgraded = append(upgraded, s)
			delete(a.polling, s)
		}
	}
	a.mu.Unlock()
	for _, s := range upgraded {
		a.broadcast(EventSocketUpdated, map[string]any{"id": s.ID(), "nsp": s.Namespace().Name(), "transport": s.Transport()})
	}
}

// onEvent reports a client event (after the event middlewares attached
// before, such as the limits); it never refuses one.
func (a *AdminUI) onEvent(e *broker.Event) error {
	var args any = json.RawMessage(e.Data) // [name, ...args], already JSON
	if len(e.Attachments) > 0 {
		decoded, err := e.Args()
		if err != nil {
			return nil
		}
		args = append([]any{e.Name}, decoded...)
	}
	a.broadcast(EventReceived, e.Socket.Namespace().Name(), e.Socket.ID(), args, a.timestamp())
	return nil
}

// onEmit reports a direct emit to a socket of an attached namespace.
func (a *AdminUI) onEmit(s *broker.Socket, event string, args []any) {
	ns := s.Namespace()
	if ns == a.nsp || !a.isAttached(ns) {
		return
	}
	all := make([]any, 0, 1+len(args))
	all = append(all, event)
	all = append(all, args...)
	a.broadcast(EventSent, ns.Name(), s.ID(), all, a.timestamp())
}

func (a *AdminUI) isAttached(ns *broker.Namespace) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.attached[ns] || (ns.Parent() != nil && a.attached[ns.Parent()])
}
