package main

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
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/ionbus/ionbus/broker"
	"github.com/ionbus/ionbus/broker/api"
	"github.com/ionbus/ionbus/broker/online"
	"github.com/ionbus/ionbus/connection"
)

// serveGCPercent is the GC target a node runs with unless GOGC is set.
// A node's live heap is mostly long-lived per-socket state, and every
// websocket handshake leaves ~12 KiB of net/http garbage (bufio buffers
// that hijack never returns), so with Go's default of 100 the heap, and
// RSS, settles near twice the live state. 50 measured 5.5 KiB instead of
// 6.7 KiB of RSS per idle socket at 19,000 sockets (docs/benchmarks.md)
// for a little more GC CPU during connect storms; broadcasts allocate
// almost nothing per recipient, so they barely notice.
const serveGCPercent = 50

func runServe(ctx context.Context, args []string, io stdio) error {
	if _, set := io.getenv("GOGC"); !set {
		debug.SetGCPercent(serveGCPercent)
	}
	cfg, err := loadConfig(args, io.getenv, io.err)
	if err != nil {
		return err
	}
	log, err := newLogger(cfg.Log, io.err)
	if err != nil {
		return err
	}
	a, err := newApp(cfg, log)
	if err != nil {
		return err
	}
	if err := a.listen(); err != nil {
		return err
	}
	return a.run(ctx)
}

// app is one running node: the broker on the public listener, the HTTP
// API on its own listener, and (conformance profile) the bare Engine.IO
// echo server; with Redis, the client shared by the adapter, the limits
// and presence.
type app struct {
	cfg    Config
	log    zerolog.Logger
	comp   components
	broker *broker.Server
	online *online.Online     // nil when no namespace tracks presence
	echo   *connection.Server // conformance profile only

	public, api     *http.Server
	publicLn, apiLn net.Listener

	stopSlots context.CancelFunc // ends limits.RedisSlots.Run
	slotsDone chan struct{}
}

// redisStartTimeout bounds the PING and the first subscriptions at start.
// Past it the node serves locally and reports degraded; the adapter keeps
// reconnecting.
const redisStartTimeout = 3 * time.Second

func newApp(cfg Config, log zerolog.Logger) (_ *app, err error) {
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
	a := &app{cfg: cfg, log: log, comp: comp, broker: srv}
	nss := registerNamespaces(srv, cfg.Namespaces)

	mux := http.NewServeMux()
	mux.Handle(cfg.Path, srv)
	switch cfg.Profile {
	case profileConformance:
		registerConformanceHandlers(srv)
		echoCfg := comp.Broker.Engine
		echoCfg.Path = conformanceEchoPath
		if a.echo, err = connection.New(echoCfg, echoHandler{}); err != nil {
			return nil, err
		}
		mux.Handle(conformanceEchoPath, a.echo)
	case profileBench:
		registerBenchHandlers(srv)
	}
	if comp.Store != nil {
		for _, p := range comp.PresencePatterns {
			comp.Online.Patterns = append(comp.Online.Patterns, online.PatternRules{Parent: nss[p.name], Rules: p.rules})
		}
		if a.online, err = online.New(comp.Online, comp.Store, srv); err != nil {
			return nil, fmt.Errorf("presence: %w", err)
		}
		// After every session is closed and before the adapter closes:
		// the leaves reach the other nodes.
		srv.OnDrained(a.online.Shutdown)
	}
	// The guard's middleware takes the connection slot, so it is attached
	// last, after anything else that may refuse a socket.
	for _, ns := range cfg.Namespaces {
		comp.Guard.Attach(nss[ns.Name], comp.Rules[ns.Name])
	}
	srv.AddStats("access", func() any { return comp.Guard.Stats() })
	if comp.Adapter != nil {
		srv.AddStats("adapter", func() any { return comp.Adapter.Stats() })
	}
	a.public = a.httpServer(mux, "public")

	if cfg.API.Listen != "" {
		a.api = a.httpServer(apiHandler(comp.API, srv, a.online), "api")
		if cfg.API.Key == "" && !cfg.API.Insecure {
			log.Warn().Str("listen", cfg.API.Listen).
				Msg("api.key is empty: /api/v1 answers 401 until IONBUS_API_KEY is set (only /healthz works)")
		}
		if cfg.API.Insecure {
			log.Warn().Str("listen", cfg.API.Listen).Msg("api.insecure: the HTTP API needs no key; development only")
		}
	}
	return a, nil
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

func (a *app) httpServer(h http.Handler, name string) *http.Server {
	errLog := a.log.With().Str("component", "http").Str("server", name).Logger()
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          stdlog.New(errLog, "", 0),
		// No WriteTimeout: a long-polling GET is held up to ping_interval.
	}
}

// listen opens both listeners, so port errors surface before anything
// runs and tests can bind port 0.
func (a *app) listen() error {
	tc, err := tlsConfig(a.cfg.TLS)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", a.cfg.Listen)
	if err != nil {
		return err
	}
	al := &acceptListener{Listener: ln, log: a.log.With().Str("component", "listener").Logger()}
	a.broker.AddStats("listener", func() any { return al.stats() })
	a.publicLn = al
	if tc != nil {
		a.publicLn = tls.NewListener(al, tc)
	}
	if a.api != nil {
		if a.apiLn, err = net.Listen("tcp", a.cfg.API.Listen); err != nil {
			ln.Close()
			return err
		}
	}
	return nil
}

// start starts the broker (and its adapter), the limits heartbeat and
// presence. Redis being down does not stop the node: it serves its own
// sockets, /healthz reports degraded, and the adapter reconnects.
func (a *app) start(ctx context.Context) error {
	startCtx, cancel := context.WithTimeout(ctx, redisStartTimeout)
	defer cancel()
	if rdb := a.comp.Redis; rdb != nil {
		if err := rdb.Ping(startCtx).Err(); err != nil {
			a.log.Warn().Err(err).Msg("redis unreachable at start; serving local sockets only (degraded) until it answers")
		}
	}
	if err := a.broker.Start(startCtx); err != nil {
		if a.comp.Adapter == nil {
			return err
		}
		a.log.Warn().Err(err).Msg("cluster adapter not confirmed at start; it keeps reconnecting")
		// broker.Start stops at the first namespace; register the others
		// so go-redis subscribes them once Redis is back.
		for _, ns := range a.broker.Namespaces() {
			wctx, wcancel := context.WithTimeout(ctx, 200*time.Millisecond)
			_ = a.comp.Adapter.WatchNamespace(wctx, ns.Name())
			wcancel()
		}
	}
	if a.comp.Slots != nil {
		runCtx, stop := context.WithCancel(context.Background())
		a.stopSlots, a.slotsDone = stop, make(chan struct{})
		go func() {
			defer close(a.slotsDone)
			_ = a.comp.Slots.Run(runCtx)
		}()
	}
	if a.online != nil {
		if err := a.online.Start(ctx); err != nil {
			return fmt.Errorf("presence: %w", err)
		}
	}
	return nil
}

// run serves until ctx ends or a listener fails, then shuts down (see
// shutdown for the order).
func (a *app) run(ctx context.Context) error {
	if err := a.start(ctx); err != nil {
		a.publicLn.Close()
		if a.apiLn != nil {
			a.apiLn.Close()
		}
		_ = a.shutdown()
		return err
	}
	errc := make(chan error, 2)
	serve := func(s *http.Server, ln net.Listener) {
		if err := s.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			errc <- err
		}
	}
	go serve(a.public, a.publicLn)
	ev := a.log.Info().Str("listen", a.publicLn.Addr().String()).Str("path", a.cfg.Path).
		Str("node", a.broker.NodeID()).Bool("cluster", a.comp.Redis != nil)
	if a.comp.Adapter != nil {
		ev = ev.Str("redis_mode", a.cfg.Redis.Mode)
	}
	if a.api != nil {
		go serve(a.api, a.apiLn)
		ev = ev.Str("api", a.apiLn.Addr().String())
	}
	if a.cfg.Profile != "" {
		ev = ev.Str("profile", a.cfg.Profile)
	}
	ev.Msg("ionbus serving")

	var runErr error
	select {
	case <-ctx.Done():
		a.log.Info().Msg("shutting down")
	case runErr = <-errc:
		a.log.Error().Err(runErr).Msg("listener failed; shutting down")
	}
	if err := a.shutdown(); err != nil {
		a.log.Warn().Err(err).Msg("shutdown incomplete")
	} else {
		a.log.Info().Msg("stopped")
	}
	return runErr
}

// shutdown stops the node, all bounded by shutdown_timeout, in this order:
//
//  1. both HTTP servers stop accepting (listeners closed at once), while
//  2. broker.Shutdown refuses new sessions and closes every session
//     (websocket 1001, so clients reconnect to another node); its
//     OnDrained hooks then run while the adapter is still up: presence
//     evicts this node's entries and publishes the leaves; then the
//     adapter unsubscribes and deletes its liveness key;
//  3. the limits heartbeat (RedisSlots.Run) stops and ReleaseAll frees
//     this node's connection slots at once (instead of after node_ttl);
//  4. the Redis client is closed, last, since 2 and 3 use it.
func (a *app) shutdown() error {
	ctx, cancel := context.WithTimeout(context.Background(), a.cfg.ShutdownTimeout.D())
	defer cancel()
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
	// http.Server.Shutdown closes the listeners at once, then waits for
	// in-flight requests; pending long-polls end when the broker closes
	// their sessions, so both run together.
	for _, s := range []*http.Server{a.public, a.api} {
		if s == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			record(s.Shutdown(ctx))
		}()
	}
	record(a.broker.Shutdown(ctx))
	if a.echo != nil {
		record(a.echo.Shutdown(ctx))
	}
	wg.Wait()
	if a.online != nil {
		record(a.online.Shutdown(ctx)) // no-op when OnDrained ran it
	}
	if a.stopSlots != nil {
		a.stopSlots()
		select {
		case <-a.slotsDone:
			record(a.comp.Slots.ReleaseAll(ctx))
		case <-ctx.Done():
			record(fmt.Errorf("limits: heartbeat did not stop: %w", ctx.Err()))
		}
	}
	if a.comp.Redis != nil {
		record(a.comp.Redis.Close())
	}
	return errors.Join(errs...)
}
