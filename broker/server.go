package broker

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net/http"
	"regexp"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/ionbus/ionbus/adapter"
	"github.com/ionbus/ionbus/connection"
)

// Config configures a Server. The zero value of each field means the
// default stated in its comment.
type Config struct {
	// Engine configures the Engine.IO layer. Engine.Path defaults to
	// "/socket.io/" here.
	Engine connection.Config
	// Adapter moves broadcasts and requests between nodes. Default: a
	// single-node in-memory adapter.
	Adapter adapter.Adapter
	// NodeID names this node in the cluster. Default: random.
	NodeID string
	// ConnectTimeout closes an Engine.IO session that joined no namespace
	// within it. Default 45s (the reference's connectTimeout).
	ConnectTimeout time.Duration
	// RequestTimeout bounds cluster requests (fetch sockets, server-side
	// emit) when the caller's context has no deadline. Default 5s.
	RequestTimeout time.Duration
	// Recovery enables connection state recovery.
	Recovery RecoveryConfig
	// MaxAttachments per binary packet. Default 10.
	MaxAttachments int
	// MaxJSONDepth bounds the nesting of inbound JSON. Default 32.
	MaxJSONDepth int
	// Parser is the Socket.IO packet encoding every client of this server
	// uses, as the reference's parser option: ParserJSON (default, the
	// socket.io-parser text form) or ParserMsgpack
	// (socket.io-msgpack-parser). Either way packets cross the cluster in
	// the adapter's own encoding, so nodes with different parsers share
	// rooms and broadcasts.
	Parser Parser
	// Logger; default disabled.
	Logger *zerolog.Logger
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// ObserveConnect, if set, is called once per namespace CONNECT with
	// the time from the CONNECT packet to its answer (the middleware
	// chain: auth, limits, backend hook) and whether the socket was
	// admitted. It runs on the session's callback and must not block.
	// Nil: not measured (no clock read).
	ObserveConnect func(d time.Duration, accepted bool)
	// ObserveBroadcast, if set, is called once per local delivery of a
	// packet that had recipients (application broadcasts and those from
	// other nodes) with the time spent matching the room index and
	// enqueueing on every recipient. It must not block. Nil: not measured.
	ObserveBroadcast func(d time.Duration)
	// EmptyChildTTL removes a dynamic namespace (a child of OfPattern)
	// that has had no socket for this long, with its adapter
	// subscriptions. Zero: children stay (the reference's default,
	// cleanupEmptyChildNamespaces: false). A child created by a refused
	// CONNECT never outlives it, whatever this says.
	EmptyChildTTL time.Duration
	// MaxDynamicNamespaces bounds the children of OfPattern parents that
	// exist at once on this node; a CONNECT that would create one more
	// gets NamespaceLimitError. Zero: no bound.
	MaxDynamicNamespaces int
	// NamespaceLimitError builds that CONNECT_ERROR. Nil: message
	// "Namespace limit exceeded", data {code: NAMESPACE_LIMIT_EXCEEDED,
	// limit}.
	NamespaceLimitError func(name string, limit int) *ConnectError
}

// RecoveryConfig configures connection state recovery.
type RecoveryConfig struct {
	// MaxDisconnection is how long a disconnected session and the packets
	// it missed are kept. Zero disables recovery.
	MaxDisconnection time.Duration
	// SkipMiddlewares lets a recovered socket skip the middlewares.
	SkipMiddlewares bool
	// MaxPackets bounds the packet log kept for recovery. Default 10,000.
	MaxPackets int
}

func (c *Config) withDefaults() {
	if c.Engine.Path == "" {
		c.Engine.Path = "/socket.io/"
	}
	if c.NodeID == "" {
		c.NodeID = randomID(12)
	}
	if c.ConnectTimeout == 0 {
		c.ConnectTimeout = 45 * time.Second
	}
	if c.RequestTimeout == 0 {
		c.RequestTimeout = 5 * time.Second
	}
	if c.MaxAttachments == 0 {
		c.MaxAttachments = 10
	}
	if c.MaxJSONDepth == 0 {
		c.MaxJSONDepth = 32
	}
	if c.Parser == "" {
		c.Parser = ParserJSON
	}
	if c.Recovery.MaxPackets == 0 {
		c.Recovery.MaxPackets = 10000
	}
	if c.Logger == nil {
		l := zerolog.Nop()
		c.Logger = &l
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

func (c *Config) validate() error {
	if c.Parser != ParserJSON && c.Parser != ParserMsgpack {
		return fmt.Errorf("broker: unknown parser %q (json, msgpack)", c.Parser)
	}
	if c.MaxDynamicNamespaces < 0 {
		return fmt.Errorf("broker: negative MaxDynamicNamespaces")
	}
	if c.ConnectTimeout < 0 || c.RequestTimeout < 0 || c.Recovery.MaxDisconnection < 0 || c.EmptyChildTTL < 0 {
		return fmt.Errorf("broker: negative duration in config")
	}
	return nil
}

// Server is a Socket.IO server: namespaces, their sockets and rooms, on top
// of an Engine.IO server and an adapter. It is an http.Handler to mount on
// Config.Engine.Path.
//
// All methods are safe for concurrent use.
type Server struct {
	cfg     Config
	log     zerolog.Logger
	engine  *connection.Server
	adapter adapter.Adapter

	mu       sync.RWMutex
	nsps     map[string]*Namespace
	patterns []*Namespace // parents of dynamic namespaces, in registration order
	dynamic  int          // children of patterns in nsps (children.go)
	// unwatching holds the children being removed from the adapter, by
	// name; closed when done.
	unwatching map[string]chan struct{}

	ackIDs   atomic.Int64 // ack ids, unique per server so one encoded packet serves many sockets
	recovery *recovery    // nil when disabled
	started  atomic.Bool
	closed   atomic.Bool
	// pendingConnects counts CONNECTs running a blocking middleware
	// chain (Namespace.UseBlocking); Shutdown waits for them.
	pendingConnects sync.WaitGroup
	stats           serverStats
	statsMu         sync.Mutex
	statsProviders  map[string]func() any
	drainHooks      []func(context.Context) error
	start           time.Time
	// emitHook observes direct emits to one socket (OnSocketEmit); nil,
	// the usual case, costs one atomic load per Socket.Emit.
	emitHook atomic.Pointer[EmitHook]
}

// New builds a Server. The default namespace "/" exists from the start.
// Call Start before serving.
func New(cfg Config) (*Server, error) {
	cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if cfg.Engine.Logger == nil {
		cfg.Engine.Logger = cfg.Logger
	}
	if cfg.Engine.Now == nil {
		cfg.Engine.Now = cfg.Now
	}
	s := &Server{
		cfg:   cfg,
		log:   cfg.Logger.With().Str("component", "broker").Str("node", cfg.NodeID).Logger(),
		nsps:  make(map[string]*Namespace),
		start: cfg.Now(),

		unwatching: make(map[string]chan struct{}),
	}
	if cfg.Adapter == nil {
		s.adapter = adapter.NewMemory()
	} else {
		s.adapter = cfg.Adapter
	}
	if cfg.Recovery.MaxDisconnection > 0 {
		s.recovery = newRecovery(cfg.Recovery, cfg.Now)
	}
	engine, err := connection.New(cfg.Engine, (*engineHandler)(s))
	if err != nil {
		return nil, err
	}
	s.engine = engine
	s.Of("/")
	return s, nil
}

// Start connects the adapter. It must be called once before the server
// receives connections.
func (s *Server) Start(ctx context.Context) error {
	if !s.started.CompareAndSwap(false, true) {
		return nil
	}
	// A failed start (Redis down) is reported, but the namespaces are
	// still handed to the adapter: it keeps retrying and subscribes them
	// once the backend is back, while local delivery goes on.
	startErr := s.adapter.Start(ctx, (*clusterHandler)(s))
	if startErr != nil {
		startErr = fmt.Errorf("broker: start adapter: %w", startErr)
		s.log.Warn().Err(startErr).Msg("adapter not ready; serving local sockets")
	}
	s.mu.Lock()
	names := make([]string, 0, len(s.nsps))
	for name, ns := range s.nsps {
		names = append(names, name)
		ns.watched = true
	}
	s.mu.Unlock()
	for _, name := range names {
		s.watchNamespace(ctx, name)
	}
	return startErr
}

// ServeHTTP serves the Engine.IO endpoint (polling and websocket).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.engine.ServeHTTP(w, r) }

// NodeID is this node's id in the cluster.
func (s *Server) NodeID() string { return s.cfg.NodeID }

// Adapter returns the adapter the server publishes through.
func (s *Server) Adapter() adapter.Adapter { return s.adapter }

// Engine returns the Engine.IO server (for its statistics).
func (s *Server) Engine() *connection.Server { return s.engine }

// Of returns the namespace called name, creating it when needed. name
// gets a leading "/" when it lacks one.
func (s *Server) Of(name string) *Namespace {
	if name == "" || name[0] != '/' {
		name = "/" + name
	}
	s.mu.RLock()
	ns := s.nsps[name]
	s.mu.RUnlock()
	if ns != nil {
		return ns
	}
	s.mu.Lock()
	if ns = s.nsps[name]; ns == nil {
		ns = newNamespace(s, name, nil)
		s.nsps[name] = ns
	}
	s.mu.Unlock()
	if s.started.Load() {
		s.watchNamespace(context.Background(), name)
	}
	return ns
}

// OfPattern registers a parent for dynamic namespaces: a client connecting
// to a namespace that does not exist but whose name matches re gets a
// child namespace created on the fly, inheriting the parent's middlewares
// and connection handlers. Handlers registered on the parent receive the
// child's sockets; broadcasting on the parent reaches every child.
func (s *Server) OfPattern(re *regexp.Regexp) *Namespace {
	ns := newNamespace(s, re.String(), re)
	s.mu.Lock()
	s.patterns = append(s.patterns, ns)
	s.mu.Unlock()
	return ns
}

func (s *Server) watchNamespace(ctx context.Context, name string) {
	w, ok := s.adapter.(adapter.NamespaceWatcher)
	if !ok {
		return
	}
	if ctx.Err() != nil { // the caller's deadline passed: give each watch its own bound
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(context.Background(), s.cfg.RequestTimeout)
		defer cancel()
	}
	if err := w.WatchNamespace(ctx, name); err != nil {
		s.log.Warn().Err(err).Str("nsp", name).Msg("adapter: watch namespace")
	}
}

// Resolve returns the namespace a client connecting to name reaches: an
// existing one, or a new child of the first OfPattern parent that matches
// (created as a connection would create it). Nil when name is neither.
// Use it to address a dynamic namespace whose sockets may all live on
// other nodes. An empty child is removed after Config.EmptyChildTTL:
// resolve it again for each use rather than keeping it. Nil also when
// Config.MaxDynamicNamespaces children exist already.
func (s *Server) Resolve(name string) *Namespace {
	ns, _ := s.resolve(name, false)
	return ns
}

// Lookup returns the existing namespace called name, or nil. Unlike Of and
// Resolve it never creates one.
func (s *Server) Lookup(name string) *Namespace {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.nsps[name]
}

// Draining reports whether Shutdown has begun.
func (s *Server) Draining() bool { return s.closed.Load() }

// Namespaces returns the existing (non-pattern) namespaces, dynamic
// children of patterns included.
func (s *Server) Namespaces() []*Namespace {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]*Namespace, 0, len(s.nsps))
	for _, ns := range s.nsps {
		out = append(out, ns)
	}
	return out
}

// To starts a broadcast on the default namespace to the given rooms.
func (s *Server) To(rooms ...string) *Broadcast { return s.Of("/").To(rooms...) }

// Except starts a broadcast on the default namespace excluding rooms.
func (s *Server) Except(rooms ...string) *Broadcast { return s.Of("/").Except(rooms...) }

// Emit sends an event to every socket of the default namespace.
func (s *Server) Emit(event string, args ...any) error { return s.Of("/").Emit(event, args...) }

// Shutdown stops the server: new sessions are refused, every session is
// closed (Engine.IO close, websocket 1001 "going away", so clients
// reconnect to another node), handlers see ReasonServerShuttingDown, the
// OnDrained hooks run, then the adapter is closed. Bounded by ctx.
// Idempotent.
func (s *Server) Shutdown(ctx context.Context) error {
	if !s.closed.CompareAndSwap(false, true) {
		return nil
	}
	err := s.engine.Shutdown(ctx)
	s.stopChildTimers()
	s.mu.RLock()
	hooks := s.drainHooks
	s.mu.RUnlock()
	for _, h := range hooks {
		if herr := h(ctx); herr != nil && err == nil {
			err = herr
		}
	}
	// CONNECTs still in a blocking middleware (their sessions are closed:
	// they end as abandoned sockets), after the hooks, which may cancel
	// what they wait for.
	pending := make(chan struct{})
	go func() { s.pendingConnects.Wait(); close(pending) }()
	select {
	case <-pending:
	case <-ctx.Done():
		if err == nil {
			err = ctx.Err()
		}
	}
	if aerr := s.adapter.Close(ctx); err == nil {
		err = aerr
	}
	if s.recovery != nil {
		s.recovery.close()
	}
	return err
}

// OnDrained registers fn to run during Shutdown after every session is
// closed and before the adapter closes, so it can still publish (presence
// leaves, final notices). Hooks run in registration order.
func (s *Server) OnDrained(fn func(ctx context.Context) error) {
	s.mu.Lock()
	s.drainHooks = append(s.drainHooks, fn)
	s.mu.Unlock()
}

// randomID returns n random bytes in base64url, the id format of the
// reference server.
func randomID(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return base64.RawURLEncoding.EncodeToString(b)
}
