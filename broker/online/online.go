package online

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/rs/zerolog"

	"github.com/ionbus/ionbus/broker"
	"github.com/ionbus/ionbus/presence"
)

// Sentinel errors of the embedder API (List, Count).
var (
	// ErrUnknownNamespace: the namespace has no entry in Config.Namespaces.
	ErrUnknownNamespace = errors.New("online: namespace not tracked")
	// ErrInvalidLimit: the page size is below 0 or above the maximum.
	ErrInvalidLimit = errors.New("online: invalid page size")
	// ErrClosed: Start after Shutdown.
	ErrClosed = errors.New("online: closed")
)

// Online connects a presence.Tracker to a broker.Server: socket and room
// hooks feed the tracker, the tracker's events are broadcast to the room
// on every node, clients query presence with presence:list/count/update,
// and Handler serves the HTTP API.
//
// All methods are safe for concurrent use.
type Online struct {
	cfg     Config
	srv     *broker.Server
	tracker *presence.Tracker
	log     zerolog.Logger
	rules   map[string]NamespaceRules            // static namespaces, by name
	pattern map[*broker.Namespace]NamespaceRules // pattern parents (Config.Patterns)

	queue chan presence.Event
	stop  chan struct{} // closed by Shutdown: the drain goroutine finishes and exits

	started  atomic.Bool
	closed   atomic.Bool // Shutdown began
	abort    atomic.Bool // Shutdown's ctx ended: stop broadcasting
	finished atomic.Bool // Shutdown returned: the queue is no longer read
	wg       sync.WaitGroup
	runCtx   context.Context
	cancel   context.CancelFunc
	goMu     sync.Mutex // orders goroutine starts against Shutdown's Wait

	stats stats
}

// New builds the tracker on store (Rules from cfg.Namespaces, OnEvent to
// Online's event queue) and attaches hooks and client event handlers to
// every namespace of cfg.Namespaces. Sockets connecting from now on are
// tracked; events are queued until Start.
func New(cfg Config, store presence.Store, srv *broker.Server) (*Online, error) {
	if srv == nil || store == nil {
		return nil, errors.New("online: nil server or store")
	}
	cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	o := &Online{
		cfg:     cfg,
		srv:     srv,
		log:     cfg.Logger,
		rules:   make(map[string]NamespaceRules, len(cfg.Namespaces)),
		pattern: make(map[*broker.Namespace]NamespaceRules, len(cfg.Patterns)),
		queue:   make(chan presence.Event, cfg.QueueSize),
		stop:    make(chan struct{}),
	}
	o.runCtx, o.cancel = context.WithCancel(context.Background())
	pcfg := cfg.Presence
	pcfg.Rules = make(map[string]presence.Rules, len(cfg.Namespaces))
	for name, r := range cfg.Namespaces {
		r = r.clone()
		o.rules[name] = r
		pcfg.Rules[name] = r.Track
	}
	for _, p := range cfg.Patterns {
		r := p.Rules.clone()
		o.pattern[p.Parent] = r
		pcfg.Patterns = append(pcfg.Patterns, presence.PatternRules{Namespace: p.Parent.Pattern(), Rules: r.Track})
	}
	pcfg.OnEvent = o.enqueue
	pcfg.OnLapsed = o.Resync
	tr, err := presence.NewTracker(store, pcfg)
	if err != nil {
		o.cancel()
		return nil, fmt.Errorf("online: %w", err)
	}
	o.tracker = tr
	for name, r := range o.rules {
		o.attach(srv.Of(name), r)
	}
	for parent, r := range o.pattern {
		o.attach(parent, r) // its children inherit the hooks
	}
	srv.AddStats("presence", func() any { return o.Stats() })
	return o, nil
}

// rulesOf returns the rules of ns: its own entry, or its pattern
// parent's. False for nil and for namespaces without presence.
func (o *Online) rulesOf(ns *broker.Namespace) (NamespaceRules, bool) {
	if ns == nil {
		return NamespaceRules{}, false
	}
	if p := ns.Parent(); p != nil {
		r, ok := o.pattern[p]
		return r, ok
	}
	r, ok := o.rules[ns.Name()]
	return r, ok
}

// rulesNamed is rulesOf for a namespace name that may not exist on this
// node yet: a dynamic name takes the rules of the first pattern (in
// Config.Patterns order) that matches it.
func (o *Online) rulesNamed(name string) (NamespaceRules, bool) {
	if ns := o.srv.Lookup(name); ns != nil {
		return o.rulesOf(ns)
	}
	for _, p := range o.cfg.Patterns {
		if p.Parent.Pattern().MatchString(name) {
			return o.pattern[p.Parent], true
		}
	}
	return NamespaceRules{}, false
}

// Tracker is the tracker Online built, for embedders that need the rest of
// its API. Do not call its Shutdown; call Online.Shutdown.
func (o *Online) Tracker() *presence.Tracker { return o.tracker }

// Start starts the goroutine that broadcasts presence events and the
// tracker's heartbeat/sweep loop (presence.Tracker.Run). Both stop at
// Shutdown, not when ctx ends; ctx only bounds the start. Idempotent.
func (o *Online) Start(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if !o.started.CompareAndSwap(false, true) {
		return nil
	}
	if !o.goroutine(o.drain) {
		return ErrClosed
	}
	o.goroutine(func() {
		if err := o.tracker.Run(o.runCtx); err != nil {
			o.log.Warn().Err(err).Msg("presence tracker stopped")
		}
	})
	return nil
}

// goroutine starts f counted in wg, unless Shutdown has begun.
func (o *Online) goroutine(f func()) bool {
	o.goMu.Lock()
	defer o.goMu.Unlock()
	if o.closed.Load() {
		return false
	}
	o.wg.Add(1)
	go func() {
		defer o.wg.Done()
		f()
	}()
	return true
}

// Shutdown removes this node's connections from the store and announces
// the resulting presence:leave events to the cluster (Tracker.Shutdown),
// broadcasts what is queued, then stops Online's goroutines. Bounded by
// ctx: events still queued when ctx ends are dropped and counted.
//
// The leaves must go out while the adapter is still connected: register it
// with broker.Server.OnDrained (it then runs after every session closed
// and before the adapter closes), or call it before Server.Shutdown.
// Idempotent.
func (o *Online) Shutdown(ctx context.Context) error {
	o.goMu.Lock()
	if !o.closed.CompareAndSwap(false, true) {
		o.goMu.Unlock()
		return nil
	}
	o.goMu.Unlock()
	err := o.tracker.Shutdown(ctx)
	o.cancel() // stops Tracker.Run
	close(o.stop)
	done := make(chan struct{})
	go func() { o.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		o.abort.Store(true)
		<-done
		if err == nil {
			err = ctx.Err()
		}
	}
	// Events queued after the drain goroutine left (or when Start was
	// never called) are dropped.
	o.finished.Store(true)
	for {
		select {
		case <-o.queue:
			o.stats.eventsDropped.Add(1)
		default:
			if err != nil {
				return fmt.Errorf("online: shutdown: %w", err)
			}
			return nil
		}
	}
}

// enqueue is the tracker's OnEvent: it never blocks.
func (o *Online) enqueue(e presence.Event) {
	if o.finished.Load() {
		o.stats.eventsDropped.Add(1)
		return
	}
	select {
	case o.queue <- e:
	default:
		n := o.stats.eventsDropped.Add(1)
		if n&(n-1) == 0 { // log at powers of two: no log flood under overload
			o.log.Warn().Uint64("dropped_total", n).Str("nsp", e.Namespace).Str("room", e.Room).
				Msg("presence event queue full: event dropped")
		}
	}
}

// drain broadcasts queued events until Shutdown, then what is left.
func (o *Online) drain() {
	for {
		select {
		case e := <-o.queue:
			o.broadcast(e)
		case <-o.stop:
			for {
				if o.abort.Load() {
					return
				}
				select {
				case e := <-o.queue:
					o.broadcast(e)
				default:
					return
				}
			}
		}
	}
}

// broadcast sends one event to the room's sockets on every node (to the
// whole namespace for namespace presence). The event is encoded once.
func (o *Online) broadcast(e presence.Event) {
	if _, ok := o.rulesNamed(e.Namespace); !ok {
		// A departure swept from a node with another configuration.
		o.stats.eventsDropped.Add(1)
		return
	}
	payload, err := json.Marshal(e)
	if err != nil {
		o.stats.emitErrors.Add(1)
		o.log.Error().Err(err).Msg("presence event: encode")
		return
	}
	ns := o.srv.Resolve(e.Namespace) // a dynamic namespace may exist on other nodes only
	if e.Room == presence.NamespaceRoom {
		err = ns.Emit(e.Type, json.RawMessage(payload))
	} else {
		err = ns.To(e.Room).Emit(e.Type, json.RawMessage(payload))
	}
	if err != nil {
		// Local sockets got it; other nodes may not have.
		o.stats.emitErrors.Add(1)
		o.log.Warn().Err(err).Str("nsp", e.Namespace).Str("room", e.Room).Str("event", e.Type).
			Msg("presence event: broadcast failed")
		return
	}
	o.stats.eventsSent.Add(1)
}
