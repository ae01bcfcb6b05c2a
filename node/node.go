package node

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	stdlog "log"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/ionbus/ionbus/broker"
	"github.com/ionbus/ionbus/broker/access"
	"github.com/ionbus/ionbus/broker/adminui"
	"github.com/ionbus/ionbus/broker/api"
	"github.com/ionbus/ionbus/broker/online"
	"github.com/ionbus/ionbus/broker/system"
)

// Node is one running ionbus node assembled from a Config: the broker on
// the public listener with the configured namespaces, access rules and
// limits, presence, the HTTP API on its own listener, and with Redis the
// cluster adapter and the Redis limits and presence, all on one shared
// client and one node id.
//
// Lifecycle: New, then anything on Server() (Of, OnConnection, On) and
// Handle, then Start (or Run), then Shutdown once. Methods are safe for
// concurrent use after Start.
type Node struct {
	cfg    Config
	log    zerolog.Logger
	comp   components
	broker *broker.Server
	online *online.Online // nil when no namespace tracks presence
	mux    *http.ServeMux
	apiH   http.Handler

	public, api     *http.Server
	publicLn, apiLn net.Listener
	errc            chan error // listener failures, after Start

	onShutdown []func(context.Context) error

	// serving is set once Start serves, draining when Shutdown begins:
	// the phase /readyz and /healthz report (api.Config.Lifecycle).
	serving, draining atomic.Bool

	stopSlots context.CancelFunc // ends limits.RedisSlots.Run
	slotsDone chan struct{}

	accept atomic.Pointer[acceptListener] // set by Listen; read by the metrics collector

	nodes  *api.Nodes     // GET /api/v1/nodes, the dashboard, system events
	system *system.System // system_events; nil when none is configured

	adminUI *adminui.AdminUI // nil unless admin_ui.enabled
}

// redisStartTimeout bounds the PING and the first subscriptions at start.
// Past it the node serves locally and reports degraded; the adapter keeps
// reconnecting.
const redisStartTimeout = 3 * time.Second

// New validates cfg and assembles a node; it opens no listener and does
// not dial Redis (Start does). log is the node's logger; every component
// logs through a child of it.
func New(cfg Config, log zerolog.Logger) (_ *Node, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	comp, err := mapConfig(cfg, &log)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil && comp.Redis != nil {
			comp.Redis.Close()
		}
	}()
	srv, err := broker.New(comp.Broker)
	if err != nil {
		return nil, err
	}
	n := &Node{cfg: cfg, log: log, comp: comp, broker: srv, mux: http.NewServeMux(), errc: make(chan error, 2)}
	nss := registerNamespaces(srv, cfg.Namespaces)
	n.mux.Handle(cfg.Path, srv)
	if comp.Store != nil {
		for _, p := range comp.PresencePatterns {
			comp.Online.Patterns = append(comp.Online.Patterns, online.PatternRules{Parent: nss[p.name], Rules: p.rules})
		}
		if n.online, err = online.New(comp.Online, comp.Store, srv); err != nil {
			return nil, fmt.Errorf("presence: %w", err)
		}
		// After every session is closed and before the adapter closes:
		// the leaves reach the other nodes.
		srv.OnDrained(n.online.Shutdown)
	}
	if b := comp.Bridge; b != nil {
		// Before the guard: the bridge's connection handler (answer data
		// and rooms, lifecycle) is registered with its event routes.
		for _, ns := range cfg.Namespaces {
			if err := b.Attach(nss[ns.Name], comp.BridgeRules[ns.Name]); err != nil {
				return nil, fmt.Errorf("backend: %w", err)
			}
		}
		srv.OnDrained(b.Shutdown)
		srv.AddStats("bridge", func() any { return b.Stats() })
	}
	for _, ns := range cfg.Namespaces {
		nss[ns.Name].OnUnhandled(func(e *broker.Event) { answerUnhandled(comp.Guard, e) })
	}
	// The guard's middleware takes the connection slot, so it is attached
	// last, after anything else that may refuse a socket. Middlewares an
	// embedder adds with Use after New run after it.
	for _, ns := range cfg.Namespaces {
		comp.Guard.Attach(nss[ns.Name], comp.Rules[ns.Name])
	}
	if comp.AdminUI != nil {
		// After the guard: the UI's event_received sees what the limits
		// let through, as upstream's onAny does.
		if n.adminUI, err = adminui.New(*comp.AdminUI, srv, comp.Redis); err != nil {
			return nil, fmt.Errorf("admin_ui: %w", err)
		}
		for _, ns := range cfg.Namespaces { // the pattern parents
			n.adminUI.Attach(nss[ns.Name])
		}
		srv.OnDrained(n.adminUI.Shutdown)
	}
	srv.AddStats("access", func() any { return comp.Guard.Stats() })
	if comp.Adapter != nil {
		srv.AddStats("adapter", func() any { return comp.Adapter.Stats() })
	}
	n.public = n.httpServer(n.mux, "public")
	comp.API.Lifecycle = n.lifecycle
	n.nodes = api.NewNodes(srv, n.fillNodeStats)
	comp.API.Nodes = n.nodes
	if err := n.buildSystem(); err != nil {
		return nil, fmt.Errorf("system_events: %w", err)
	}
	if err := n.registerMetrics(); err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	n.apiH = withObservability(cfg.API, comp.Metrics, n.withSystem(apiHandler(comp.API, srv, n.online)))
	// The probes on the public listener, for load balancers that only
	// reach that port.
	health, ready := api.Probes(comp.API, srv)
	if cfg.HealthPath != "" {
		n.mux.Handle(cfg.HealthPath, health)
	}
	if cfg.ReadyPath != "" {
		n.mux.Handle(cfg.ReadyPath, ready)
	}
	if cfg.API.Listen != "" {
		n.api = n.httpServer(n.apiH, "api")
		if cfg.API.Key == "" && !cfg.API.Insecure {
			log.Warn().Str("listen", cfg.API.Listen).
				Msg("api.key is empty: /api/v1 answers 401 until IONBUS_API_KEY is set (only /healthz works)")
		}
		if cfg.API.Insecure {
			log.Warn().Str("listen", cfg.API.Listen).Msg("api.insecure: the HTTP API needs no key; development only")
		}
	}
	return n, nil
}

// lifecycle is the phase the probes report.
func (n *Node) lifecycle() (serving, draining bool) { return n.serving.Load(), n.draining.Load() }

// Server is the node's broker: Of, OfPattern, To, Emit, OnConnection
// for the embedder's own namespaces and handlers.
func (n *Node) Server() *broker.Server { return n.broker }

// NodeID is the node's id in the cluster (the configured one, or random).
func (n *Node) NodeID() string { return n.comp.NodeID }

// Config is the configuration the node was built from.
func (n *Node) Config() Config { return n.cfg }

// APIHandler is the HTTP server API (/api/v1/..., /healthz), behind
// api.key, with GET /metrics (and /debug/pprof/ with api.pprof), for
// mounting on an embedder's own server; the node also serves it on
// api.listen when that is set.
func (n *Node) APIHandler() http.Handler { return n.apiH }

// Handle adds a route to the public listener beside the Socket.IO path
// and the probe paths (health_path, ready_path; set them empty to route
// those paths yourself). Call it before Start.
func (n *Node) Handle(pattern string, h http.Handler) { n.mux.Handle(pattern, h) }

// OnShutdown registers fn to run during Shutdown, beside the broker's
// drain (step 2 of Shutdown), for what an embedder serves through Handle.
// Call it before Start.
func (n *Node) OnShutdown(fn func(context.Context) error) { n.onShutdown = append(n.onShutdown, fn) }

// Addr is the public listener's address (nil before Listen).
func (n *Node) Addr() net.Addr {
	if n.publicLn == nil {
		return nil
	}
	return n.publicLn.Addr()
}

// APIAddr is the API listener's address (nil before Listen or without
// api.listen).
func (n *Node) APIAddr() net.Addr {
	if n.apiLn == nil {
		return nil
	}
	return n.apiLn.Addr()
}

// apiHandler is broker/api with the presence routes of broker/online in
// front of it, behind the same bearer key (online's handler performs no
// authentication).
func apiHandler(cfg api.Config, srv *broker.Server, on *online.Online) http.Handler {
	base := api.New(cfg, srv)
	if on == nil {
		return base
	}
	presenceH := on.Handler()
	keySum := sha256.Sum256([]byte(cfg.Key))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != online.PathList && r.URL.Path != online.PathCount {
			base.ServeHTTP(w, r)
			return
		}
		if !cfg.Insecure && !bearerOK(r, cfg.Key, keySum) {
			// Same answer as broker/api's.
			w.Header().Set("WWW-Authenticate", `Bearer realm="ionbus"`)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = io.WriteString(w, `{"error":{"code":"`+api.CodeUnauthorized+`","message":"missing or invalid API key (Authorization: Bearer <key>)"}}`+"\n")
			return
		}
		presenceH.ServeHTTP(w, r)
	})
}

// bearerOK compares the bearer token with the key in constant time (as
// broker/api: digests, so the key length does not leak either). An
// empty key refuses everything.
func bearerOK(r *http.Request, key string, keySum [32]byte) bool {
	if key == "" {
		return false
	}
	scheme, token, ok := strings.Cut(strings.TrimSpace(r.Header.Get("Authorization")), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	sum := sha256.Sum256([]byte(strings.TrimSpace(token)))
	return subtle.ConstantTimeCompare(sum[:], keySum[:]) == 1
}

func (n *Node) httpServer(h http.Handler, name string) *http.Server {
	errLog := n.log.With().Str("component", "http").Str("server", name).Logger()
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          stdlog.New(errLog, "", 0),
		// No WriteTimeout: a long-polling GET is held up to ping_interval.
	}
	return srv
}

// Listen opens both listeners, so port errors surface before anything
// runs and tests can bind port 0. Start calls it when it has not run.
func (n *Node) Listen() error {
	if n.publicLn != nil {
		return nil
	}
	tc, err := tlsConfig(n.cfg.TLS)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", n.cfg.Listen)
	if err != nil {
		return err
	}
	al := &acceptListener{Listener: ln, log: n.log.With().Str("component", "listener").Logger()}
	n.broker.AddStats("listener", func() any { return al.stats() })
	n.accept.Store(al)
	var public net.Listener = al
	if tc != nil {
		public = tls.NewListener(al, tc)
	}
	if n.api != nil {
		if n.apiLn, err = net.Listen("tcp", n.cfg.API.Listen); err != nil {
			ln.Close()
			return err
		}
	}
	n.publicLn = public
	return nil
}

// Start opens the listeners (Listen), starts the broker and its adapter,
// the limits heartbeat and presence, and serves. Redis being down does
// not stop the node: it serves its own sockets, /healthz reports
// degraded, and the adapter reconnects. On error the node is shut down.
func (n *Node) Start(ctx context.Context) error {
	if err := n.Listen(); err != nil {
		return err
	}
	if err := n.startComponents(ctx); err != nil {
		n.publicLn.Close()
		if n.apiLn != nil {
			n.apiLn.Close()
		}
		sctx, cancel := context.WithTimeout(context.Background(), n.cfg.ShutdownTimeout.D())
		defer cancel()
		_ = n.Shutdown(sctx)
		return err
	}
	serve := func(s *http.Server, ln net.Listener) {
		if err := s.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			n.errc <- err
		}
	}
	go serve(n.public, n.publicLn)
	ev := n.log.Info().Str("listen", n.publicLn.Addr().String()).Str("path", n.cfg.Path).
		Str("node", n.broker.NodeID()).Bool("cluster", n.comp.Redis != nil)
	if n.comp.Adapter != nil {
		ev = ev.Str("redis_mode", n.cfg.Redis.Mode)
	}
	if n.api != nil {
		go serve(n.api, n.apiLn)
		ev = ev.Str("api", n.apiLn.Addr().String())
	}
	n.serving.Store(true)
	ev.Msg("ionbus serving")
	return nil
}

func (n *Node) startComponents(ctx context.Context) error {
	startCtx, cancel := context.WithTimeout(ctx, redisStartTimeout)
	defer cancel()
	if rdb := n.comp.Redis; rdb != nil {
		if err := rdb.Ping(startCtx).Err(); err != nil {
			n.log.Warn().Err(err).Msg("redis unreachable at start; serving local sockets only (degraded) until it answers")
		}
	}
	if err := n.broker.Start(startCtx); err != nil {
		if n.comp.Adapter == nil {
			return err
		}
		n.log.Warn().Err(err).Msg("cluster adapter not confirmed at start; it keeps reconnecting")
		// broker.Start stops at the first namespace; register the others
		// so go-redis subscribes them once Redis is back.
		for _, ns := range n.broker.Namespaces() {
			wctx, wcancel := context.WithTimeout(ctx, 200*time.Millisecond)
			_ = n.comp.Adapter.WatchNamespace(wctx, ns.Name())
			wcancel()
		}
	}
	if n.comp.Slots != nil {
		runCtx, stop := context.WithCancel(context.Background())
		n.stopSlots, n.slotsDone = stop, make(chan struct{})
		go func() {
			defer close(n.slotsDone)
			_ = n.comp.Slots.Run(runCtx)
		}()
	}
	if n.online != nil {
		if err := n.online.Start(ctx); err != nil {
			return fmt.Errorf("presence: %w", err)
		}
	}
	if n.comp.Bridge != nil {
		if err := n.comp.Bridge.Start(ctx); err != nil {
			return fmt.Errorf("backend: %w", err)
		}
	}
	if n.adminUI != nil {
		// Namespaces an embedder added after New are reported too.
		for _, ns := range n.broker.Namespaces() {
			n.adminUI.Attach(ns)
		}
		if err := n.adminUI.Start(ctx); err != nil {
			return fmt.Errorf("admin_ui: %w", err)
		}
	}
	n.startSystem()
	return nil
}

// CodeEventNotHandled answers the ack of a client event that no handler,
// built-in event or backend rule takes, instead of a silent timeout.
const CodeEventNotHandled = access.CodeEventNotHandled

// answerUnhandled is every configured namespace's OnUnhandled: a
// join_room or leave_room where room events are off is refused with
// ROOM_NOT_ALLOWED (error event and ack); any other event that asked for
// an ack gets the standard error ack; one without an ack is dropped.
func answerUnhandled(g *access.Guard, e *broker.Event) {
	if g.RefuseRoomEvent(e) {
		return
	}
	access.AckError(e, access.EventErrorPayload(e, CodeEventNotHandled,
		fmt.Sprintf("no handler for event %q", e.Name), nil, false, time.Now()))
}

// Err reports a listener that failed after Start (the node keeps running
// until Shutdown).
func (n *Node) Err() <-chan error { return n.errc }

// Run starts the node, serves until ctx ends or a listener fails, then
// shuts down within shutdown_timeout. It returns the listener error, if
// any; an incomplete shutdown is logged.
func (n *Node) Run(ctx context.Context) error {
	if err := n.Start(ctx); err != nil {
		return err
	}
	var runErr error
	select {
	case <-ctx.Done():
		n.log.Info().Msg("shutting down")
	case runErr = <-n.errc:
		n.log.Error().Err(runErr).Msg("listener failed; shutting down")
	}
	sctx, cancel := context.WithTimeout(context.Background(), n.cfg.ShutdownDelay.D()+n.cfg.ShutdownTimeout.D())
	defer cancel()
	if err := n.Shutdown(sctx); err != nil {
		n.log.Warn().Err(err).Msg("shutdown incomplete")
	} else {
		n.log.Info().Msg("stopped")
	}
	return runErr
}

// Shutdown stops the node within ctx, in this order:
//
//  0. /readyz and /healthz answer 503 "draining" at once; with
//     shutdown_delay the node keeps serving that long (bounded by ctx)
//     so load balancers take it out of rotation first;
//  1. both HTTP servers stop accepting (listeners closed at once), while
//  2. broker.Shutdown refuses new sessions and closes every session
//     (websocket 1001, so clients reconnect to another node); its
//     OnDrained hooks then run while the adapter is still up: presence
//     evicts this node's entries and publishes the leaves, the backend
//     bridge writes the last lifecycle events; then the
//     adapter unsubscribes and deletes its liveness key; OnShutdown
//     hooks run beside it;
//  3. the limits heartbeat (RedisSlots.Run) stops and ReleaseAll frees
//     this node's connection slots at once (instead of after node_ttl);
//  4. the Redis client is closed, last, since 2 and 3 use it.
func (n *Node) Shutdown(ctx context.Context) error {
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	record := func(err error) {
		if err != nil {
			mu.Lock()
			errs = append(errs, err)
			mu.Unlock()
		}
	}
	if !n.draining.Swap(true) && n.serving.Load() {
		if d := n.cfg.ShutdownDelay.D(); d > 0 {
			n.log.Info().Dur("shutdown_delay", d).Msg("draining: /readyz answers 503; listeners close after the delay")
			t := time.NewTimer(d)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
			}
		}
	}
	// http.Server.Shutdown closes the listeners at once, then waits for
	// in-flight requests; pending long-polls end when the broker closes
	// their sessions, so both run together.
	for _, s := range []*http.Server{n.public, n.api} {
		if s == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			record(s.Shutdown(ctx))
		}()
	}
	for _, fn := range n.onShutdown {
		wg.Add(1)
		go func() {
			defer wg.Done()
			record(fn(ctx))
		}()
	}
	record(n.broker.Shutdown(ctx))
	wg.Wait()
	if n.online != nil {
		record(n.online.Shutdown(ctx)) // no-op when OnDrained ran it
	}
	if n.comp.Bridge != nil {
		record(n.comp.Bridge.Shutdown(ctx)) // likewise
	}
	if n.stopSlots != nil {
		n.stopSlots()
		select {
		case <-n.slotsDone:
			record(n.comp.Slots.ReleaseAll(ctx))
		case <-ctx.Done():
			record(fmt.Errorf("limits: heartbeat did not stop: %w", ctx.Err()))
		}
	}
	if n.comp.Redis != nil {
		record(n.comp.Redis.Close())
	}
	return errors.Join(errs...)
}
