package system

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/ionbus/ionbus/broker"
)

// Kind says what an event carries. Values are stable (they appear in
// logs), not on the wire: the wire has the event's name.
type Kind uint8

// Event kinds.
const (
	KindHealth  Kind = 1 // {timestamp, status, services, metrics: {uptime, memory, cpu, ...}}
	KindMetrics Kind = 2 // {timestamp, cpu, memory, disk, network}: the host's figures
	KindStatus  Kind = 3 // {component, status, metrics: {active_connections, ...}, timestamp}
)

var kindNames = map[Kind]string{KindHealth: "health", KindMetrics: "metrics", KindStatus: "status"}

func (k Kind) String() string {
	if s, ok := kindNames[k]; ok {
		return s
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// ParseKind reads "health", "metrics" or "status".
func ParseKind(s string) (Kind, error) {
	for k, name := range kindNames {
		if name == s {
			return k, nil
		}
	}
	return 0, fmt.Errorf("%q (health, metrics, status)", s)
}

// Bounds of Event.Interval and of the list.
const (
	MinInterval = 100 * time.Millisecond
	MaxInterval = 24 * time.Hour
	MaxEvents   = 32
)

// DefaultComponent is the component of a status event that names none.
const DefaultComponent = "websocket_server"

// Event is one periodic system event.
type Event struct {
	Namespace string // an existing namespace; "" is "/"
	Name      string // the event name clients listen to
	Kind      Kind
	Interval  time.Duration
	// Room, when set, sends the event to that room only (e.g. the room
	// of an admin role); empty: every client of the namespace.
	Room string
	// Component names a status event's component; "" is
	// DefaultComponent. Other kinds ignore it.
	Component string
}

// ClusterCounts are the cluster-wide figures the events carry, gathered
// from every node (package node passes broker/api's Nodes.Gather).
type ClusterCounts struct {
	Nodes    int
	Clients  int    // Engine.IO sessions with a Socket.IO client
	Sockets  int    // namespace sockets
	Sessions uint64 // Engine.IO sessions opened since each node started
	Complete bool   // every node answered
}

// Config configures the system events of one node.
type Config struct {
	Events []Event
	// NodeID owns the leases; required with Redis.
	NodeID string
	// KeyPrefix prefixes the Redis keys: <prefix>:lease:<namespace>#<event>
	// and <prefix>:services.
	KeyPrefix string
	// Cluster gathers the cluster-wide counts; nil counts this node only
	// (Local).
	Cluster func(ctx context.Context) (ClusterCounts, error)
	// Local counts this node (required).
	Local func() ClusterCounts
	// RedisUp reports whether the node reaches the cluster through Redis
	// (the adapter is not degraded). Nil: no Redis is configured, and the
	// health event has no "redis" service.
	RedisUp func() bool
	// ProcRoot and DiskPath are read for the host's figures ("/proc" and
	// "/" when empty).
	ProcRoot, DiskPath string
	Logger             zerolog.Logger
}

// System emits the configured events: one node per event and interval
// for the whole cluster (a Redis lease per event; with Redis down, each
// node emits to its own clients), and keeps the backend-supplied
// services of the health event.
//
// Lifecycle: New, Start once, Shutdown once (idempotent). Methods are
// safe for concurrent use.
type System struct {
	cfg      Config
	srv      *broker.Server
	rdb      redis.UniversalClient // nil: single node
	host     *Host
	services serviceStore
	log      zerolog.Logger
	started  time.Time

	stop    chan struct{}
	wg      sync.WaitGroup
	running atomic.Bool
	closed  atomic.Bool

	emitted atomic.Uint64 // events emitted by this node
}

// New validates cfg. rdb nil means a single node: no lease, services in
// memory.
func New(cfg Config, srv *broker.Server, rdb redis.UniversalClient) (*System, error) {
	if len(cfg.Events) > MaxEvents {
		return nil, fmt.Errorf("system: %d events, at most %d", len(cfg.Events), MaxEvents)
	}
	if cfg.Local == nil {
		return nil, errors.New("system: Config.Local is required")
	}
	if rdb != nil && (cfg.NodeID == "" || cfg.KeyPrefix == "") {
		return nil, errors.New("system: NodeID and KeyPrefix are required with Redis")
	}
	seen := map[string]bool{}
	for i := range cfg.Events {
		e := &cfg.Events[i]
		if e.Namespace == "" {
			e.Namespace = "/"
		}
		if e.Component == "" {
			e.Component = DefaultComponent
		}
		if _, ok := kindNames[e.Kind]; !ok {
			return nil, fmt.Errorf("system: events[%d]: unknown kind %d", i, e.Kind)
		}
		if e.Name == "" || broker.IsReservedEvent(e.Name) {
			return nil, fmt.Errorf("system: events[%d]: event %q is empty or reserved", i, e.Name)
		}
		if e.Interval < MinInterval || e.Interval > MaxInterval {
			return nil, fmt.Errorf("system: events[%d]: interval %v outside [%v, %v]", i, e.Interval, MinInterval, MaxInterval)
		}
		id := e.Namespace + "#" + e.Name
		if seen[id] {
			return nil, fmt.Errorf("system: events[%d]: %s in %s twice", i, e.Name, e.Namespace)
		}
		seen[id] = true
	}
	s := &System{
		cfg: cfg, srv: srv, host: NewHost(cfg.ProcRoot, cfg.DiskPath),
		log: cfg.Logger.With().Str("component", "system").Logger(), started: time.Now(), stop: make(chan struct{}),
	}
	if rdb != nil {
		s.rdb = rdb
		s.services = &redisServices{rdb: rdb, key: cfg.KeyPrefix + ":services"}
	} else {
		s.services = &memoryServices{}
	}
	return s, nil
}

// Start starts one ticker goroutine per event. It does not block.
func (s *System) Start() {
	if s.closed.Load() || s.running.Swap(true) {
		return
	}
	for _, e := range s.cfg.Events {
		s.wg.Add(1)
		go s.run(e)
	}
}

// Shutdown stops the tickers and releases the leases this node holds,
// within ctx. Safe to call more than once.
func (s *System) Shutdown(ctx context.Context) error {
	if s.closed.Swap(true) {
		return nil
	}
	close(s.stop)
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		return fmt.Errorf("system: shutdown: %w", ctx.Err())
	}
	if s.rdb == nil || !s.running.Load() {
		return nil
	}
	var errs []error
	for _, e := range s.cfg.Events {
		if err := scriptRelease.Run(ctx, s.rdb, []string{s.leaseKey(e)}, s.cfg.NodeID).Err(); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("system: release leases: %w", err)
	}
	return nil
}

// Emitted counts the events this node emitted.
func (s *System) Emitted() uint64 { return s.emitted.Load() }

func (s *System) run(e Event) {
	defer s.wg.Done()
	t := time.NewTicker(e.Interval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			s.tick(e)
		}
	}
}

// tick emits e when this node holds its lease. Every Redis call is
// bounded by the interval, so a tick never overlaps the next one by
// much.
func (s *System) tick(e Event) {
	ctx, cancel := context.WithTimeout(context.Background(), max(e.Interval/2, 50*time.Millisecond))
	defer cancel()
	local := false
	if s.rdb != nil {
		held, err := scriptLease.Run(ctx, s.rdb, []string{s.leaseKey(e)}, s.cfg.NodeID, s.leaseTTL(e).Milliseconds()).Int()
		switch {
		case err != nil:
			// Without Redis no broadcast crosses nodes either: each node
			// tells its own clients, so each still gets one per interval.
			local = true
			s.log.Debug().Err(err).Str("event", e.Name).Msg("system: lease unavailable; emitting to local clients")
		case held == 0:
			return
		}
	}
	payload := s.payload(ctx, e, local)
	b := s.srv.Of(e.Namespace).To(roomList(e.Room)...)
	if local {
		b = b.Local()
	}
	if err := b.Emit(e.Name, payload); err != nil && !errors.Is(err, broker.ErrPublish) {
		s.log.Warn().Err(err).Str("event", e.Name).Msg("system: emit failed")
		return
	}
	s.emitted.Add(1)
}

func roomList(room string) []string {
	if room == "" {
		return nil
	}
	return []string{room}
}

// leaseTTL outlives two ticks, so one late tick does not hand the event
// to another node; a node that dies is replaced within about three
// intervals.
func (s *System) leaseTTL(e Event) time.Duration { return 2*e.Interval + 100*time.Millisecond }

func (s *System) leaseKey(e Event) string {
	return s.cfg.KeyPrefix + ":lease:" + e.Namespace + "#" + e.Name
}

var (
	//go:embed lua/lease.lua
	luaLease string
	//go:embed lua/release.lua
	luaRelease string

	scriptLease   = redis.NewScript(luaLease)
	scriptRelease = redis.NewScript(luaRelease)
)

// counts gathers the cluster-wide counts, or this node's when local or
// when the cluster does not answer.
func (s *System) counts(ctx context.Context, local bool) ClusterCounts {
	if local || s.cfg.Cluster == nil {
		c := s.cfg.Local()
		c.Complete = s.cfg.Cluster == nil
		return c
	}
	c, err := s.cfg.Cluster(ctx)
	if err != nil && c.Nodes == 0 {
		c = s.cfg.Local()
	}
	return c
}

// timestamp is ISO 8601 UTC with milliseconds, like every timestamp
// ionbus sends.
func timestamp(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z07:00") }

// Service statuses that count as up for the health status.
var upStatuses = map[string]bool{"online": true, "ok": true, "up": true, "healthy": true}

// Health statuses.
const (
	StatusHealthy  = "healthy"  // every service up
	StatusDegraded = "degraded" // some service is not
	StatusOnline   = "online"   // the status event's component serves
)

func (s *System) payload(ctx context.Context, e Event, local bool) map[string]any {
	now := time.Now()
	switch e.Kind {
	case KindHealth:
		return s.health(ctx, now, local)
	case KindMetrics:
		h := s.host.Sample()
		return map[string]any{"timestamp": timestamp(now), "cpu": h.CPU, "memory": h.Memory, "disk": h.Disk, "network": h.Network}
	default:
		c := s.counts(ctx, local)
		h := s.host.Sample()
		status := StatusOnline
		if s.cfg.RedisUp != nil && !s.cfg.RedisUp() {
			status = StatusDegraded
		}
		return map[string]any{
			"component": e.Component,
			"status":    status,
			"metrics": map[string]any{
				"active_connections": c.Clients,
				"total_connections":  c.Sessions,
				"memory_usage":       h.Memory.Percentage,
				"cpu_usage":          h.CPU.Usage,
			},
			"timestamp": timestamp(now),
		}
	}
}

func (s *System) health(ctx context.Context, now time.Time, local bool) map[string]any {
	services := map[string]any{}
	status := StatusHealthy
	if !local {
		list, err := s.services.list(ctx, now)
		if err != nil {
			s.log.Debug().Err(err).Msg("system: services unavailable")
		}
		for _, svc := range list {
			services[svc.Name] = svc.Status
			if !upStatuses[strings.ToLower(svc.Status)] {
				status = StatusDegraded
			}
		}
	}
	if s.cfg.RedisUp != nil {
		redisStatus := "online"
		if local || !s.cfg.RedisUp() {
			redisStatus, status = "offline", StatusDegraded
		}
		services["redis"] = redisStatus
	}
	c := s.counts(ctx, local)
	h := s.host.Sample()
	return map[string]any{
		"timestamp": timestamp(now),
		"status":    status,
		"services":  services,
		"metrics": map[string]any{
			"uptime":      int64(now.Sub(s.started).Seconds()),
			"memory":      h.Memory.Percentage,
			"cpu":         h.CPU.Usage,
			"nodes":       c.Nodes,
			"connections": c.Clients,
		},
	}
}

// SetService records a backend-supplied service for ttl (cluster-wide
// with Redis).
func (s *System) SetService(ctx context.Context, name, status string, ttl time.Duration) (Service, error) {
	if err := checkService(name, status); err != nil {
		return Service{}, err
	}
	if ttl < MinServiceTTL || ttl > MaxServiceTTL {
		return Service{}, fmt.Errorf("%w: ttl %v outside [%v, %v]", ErrBadService, ttl, MinServiceTTL, MaxServiceTTL)
	}
	svc := Service{Name: name, Status: status, ExpiresAt: time.Now().Add(ttl).UTC().Truncate(time.Millisecond)}
	return svc, s.services.set(ctx, svc, ttl)
}

// RemoveService forgets a service.
func (s *System) RemoveService(ctx context.Context, name string) error {
	return s.services.remove(ctx, name)
}

// Services lists the backend-supplied services that have not expired.
func (s *System) Services(ctx context.Context) ([]Service, error) {
	return s.services.list(ctx, time.Now())
}
