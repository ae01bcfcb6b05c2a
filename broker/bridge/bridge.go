package bridge

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/ionbus/ionbus/broker"
	"github.com/ionbus/ionbus/broker/access"
)

// Bridge carries client events, connection lifecycle and session
// authentication to the application backend (see the package doc).
//
// All methods are safe for concurrent use.
type Bridge struct {
	cfg   Config
	rdb   redis.UniversalClient // nil: no streams
	log   zerolog.Logger
	burst *burstLog
	hooks *hookClient
	cache *connectCache
	life  *lifecycle // nil when lifecycle events are off
	// streamQ batches the XADDs of events routed ViaStream.
	streamQ streamBatcher
	stats   stats

	// reqCtx is the parent of every hook call and Redis write; it is
	// canceled when Shutdown's context ends (and when Shutdown returns).
	reqCtx    context.Context
	cancelReq context.CancelFunc

	stateMu sync.Mutex // get-or-create of socket states (stateKey)

	nsMu     sync.Mutex
	attached []*broker.Namespace

	goMu    sync.Mutex // orders goroutine starts against Shutdown
	started atomic.Bool
	closed  atomic.Bool
	workers sync.WaitGroup // per-socket event workers and refresh calls
}

var _ access.Authenticator = (*Bridge)(nil)

// New validates cfg (after applying the defaults) and builds a Bridge.
// rdb may be nil when no stream is used: a configuration with a
// lifecycle stream, or Attach with a ViaStream rule, then fails with
// ErrNeedsRedis. New starts no goroutine; see Start.
func New(cfg Config, rdb redis.UniversalClient) (*Bridge, error) {
	cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if cfg.Lifecycle.Stream != "" && rdb == nil {
		return nil, fmt.Errorf("%w: Lifecycle.Stream %q", ErrNeedsRedis, cfg.Lifecycle.Stream)
	}
	log := cfg.Logger.With().Str("component", "bridge").Logger()
	b := &Bridge{cfg: cfg, rdb: rdb, log: log, burst: newBurstLog(log, cfg.Now)}
	b.hooks = newHookClient(&b.cfg, &b.stats, b.burst)
	b.streamQ.b = b
	ttl := cfg.CacheTTL
	if cfg.DisableCache {
		ttl = 0
	}
	b.cache = newConnectCache(ttl, cfg.CacheSize, cfg.Now)
	b.reqCtx, b.cancelReq = context.WithCancel(context.Background())
	if cfg.Lifecycle.Stream != "" {
		b.life = newLifecycle(b)
	}
	return b, nil
}

// Start starts the lifecycle goroutines: the writer of lifecycle events,
// the webhook sender, and the loop that refreshes this node's heartbeat
// and sweeps dead nodes every NodeTTL/3. The first heartbeat is sent
// before Start returns (bounded by ctx; a failure is logged, the loop
// retries). Without lifecycle events Start does nothing. Lifecycle events
// are buffered until Start. Idempotent; ErrClosed after Shutdown.
func (b *Bridge) Start(ctx context.Context) error {
	if b.closed.Load() {
		return ErrClosed
	}
	if !b.started.CompareAndSwap(false, true) || b.life == nil {
		return nil
	}
	return b.life.start(ctx)
}

// Shutdown stops the bridge: new forwarded events are refused with
// BACKEND_UNAVAILABLE, the per-socket queues drain (their backend calls
// finish), buffered lifecycle events are written (and posted to the
// webhook), then this node's heartbeat and sockets hash are deleted —
// sockets whose disconnect could not be written stay for the other
// nodes' sweep. When ctx ends first, calls in flight are canceled and
// what is left is dropped and counted.
//
// Register it with broker.Server.OnDrained, so the disconnects of every
// socket are buffered before it runs. Idempotent.
func (b *Bridge) Shutdown(ctx context.Context) error {
	b.goMu.Lock()
	if !b.closed.CompareAndSwap(false, true) {
		b.goMu.Unlock()
		return nil
	}
	b.goMu.Unlock()
	stop := context.AfterFunc(ctx, b.cancelReq)
	defer stop()
	b.workers.Wait()
	var err error
	if b.life != nil {
		err = b.life.shutdown(ctx, b.started.Load())
	}
	b.cancelReq()
	b.hooks.close()
	if err == nil {
		err = ctx.Err()
	}
	if err != nil {
		return fmt.Errorf("bridge: shutdown: %w", err)
	}
	return nil
}

// goroutine starts f counted in wg, unless Shutdown has begun.
func (b *Bridge) goroutine(wg *sync.WaitGroup, f func()) bool {
	b.goMu.Lock()
	defer b.goMu.Unlock()
	if b.closed.Load() {
		return false
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		f()
	}()
	return true
}

// callCtx bounds a call by ctx and by the bridge's own life.
func (b *Bridge) callCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(b.reqCtx, cancel)
	return ctx, func() { stop(); cancel() }
}

// stateKey stores a socket's *socketState with Socket.Set.
type stateKey struct{}

// socketState is what the bridge keeps per socket. It is created on first
// need (an event to forward, a backend identity, a lifecycle event), so
// idle sockets of namespaces without those cost nothing more.
type socketState struct {
	mu sync.Mutex

	// Forwarded events: FIFO, served by one worker goroutine that exists
	// only while the queue is not empty.
	queue    []job
	inflight int // queued + being sent
	running  bool

	// Refresh.
	backend bool // identified by the backend's connect answer
	timer   *time.Timer
	gone    bool // disconnected: no more refresh

	// Lifecycle.
	recorded     bool   // connect buffered
	disconnected bool   // disconnect buffered
	tag          string // this incarnation's event id base
	user         string
	seq          uint64 // join/leave counter, for their ids
}

func (b *Bridge) state(s *broker.Socket) *socketState {
	if st, ok := s.Get(stateKey{}).(*socketState); ok {
		return st
	}
	b.stateMu.Lock()
	defer b.stateMu.Unlock()
	if st, ok := s.Get(stateKey{}).(*socketState); ok {
		return st
	}
	st := &socketState{}
	s.Set(stateKey{}, st)
	return st
}

func existingState(s *broker.Socket) *socketState {
	st, _ := s.Get(stateKey{}).(*socketState)
	return st
}

// Attach installs the bridge on ns (a pattern parent passes it to its
// children): the event rules (as broker OnMatch handlers, so events with
// a handler of their own are never forwarded), the connect answer's data
// and rooms, the refresh timer, and the lifecycle hooks. Attach every
// namespace whose access.Rules.Authenticate asks the backend, before
// access.Guard.Attach. Errors wrap ErrInvalidConfig, ErrNeedsRedis or
// ErrClosed.
func (b *Bridge) Attach(ns *broker.Namespace, r NamespaceRules) error {
	if b.closed.Load() {
		return ErrClosed
	}
	var errs []error
	for i, rule := range r.Events {
		if len(rule.Match) == 0 {
			errs = append(errs, fmt.Errorf("%w: %s: events[%d]: match is empty", ErrInvalidConfig, ns.Name(), i))
		}
		for _, p := range rule.Match {
			if p == "" {
				errs = append(errs, fmt.Errorf("%w: %s: events[%d]: empty pattern", ErrInvalidConfig, ns.Name(), i))
			}
		}
		switch rule.Via {
		case ViaHTTP:
		case ViaStream:
			if b.rdb == nil {
				errs = append(errs, fmt.Errorf("%w: %s: events[%d] via stream", ErrNeedsRedis, ns.Name(), i))
			}
		default:
			errs = append(errs, fmt.Errorf("%w: %s: events[%d]: via %d", ErrInvalidConfig, ns.Name(), i, rule.Via))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	for _, rule := range r.Events {
		patterns := append([]string(nil), rule.Match...)
		via := rule.Via
		ns.OnMatch(func(name string) bool {
			for _, p := range patterns {
				if access.Glob(p, name) {
					return true
				}
			}
			return false
		}, func(e *broker.Event) { b.enqueue(e, via) })
	}
	ns.OnConnection(b.onConnection)
	if b.life != nil {
		ns.OnJoin(b.life.onJoin)
		ns.OnLeave(b.life.onLeave)
	}
	b.nsMu.Lock()
	b.attached = append(b.attached, ns)
	b.nsMu.Unlock()
	return nil
}

// liveSockets returns the connected sockets of the attached namespaces.
func (b *Bridge) liveSockets() []*broker.Socket {
	b.nsMu.Lock()
	nss := append([]*broker.Namespace(nil), b.attached...)
	b.nsMu.Unlock()
	var out []*broker.Socket
	seen := make(map[*broker.Socket]struct{})
	for _, ns := range nss {
		for _, s := range ns.Sockets() {
			if _, dup := seen[s]; !dup && s.Connected() {
				seen[s] = struct{}{}
				out = append(out, s)
			}
		}
	}
	return out
}

// onConnection applies the connect answer (data, rooms, refresh) and
// records the lifecycle connect.
func (b *Bridge) onConnection(s *broker.Socket) {
	if stash, _ := s.Get(stashKey{}).(*connectStash); stash != nil {
		s.Set(stashKey{}, (*connectStash)(nil))
		// The guard stores the identity only for a socket it admitted
		// (not for one it refuses through the compatibility events).
		if access.Identity(s) != nil {
			b.applyConnect(s, stash)
		}
	}
	if b.life != nil {
		b.life.connected(s)
	}
}
