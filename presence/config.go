package presence

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/rs/zerolog"
)

// Config configures a Store (Memory or Redis) and the Tracker on top of it.
// Zero values mean "use the default" as documented per field; New* call
// withDefaults then validate.
type Config struct {
	// NodeID identifies this process; it owns the connections it joins.
	// Required. Must be unique per process start (a restarted node must not
	// reuse the id of a crashed one, or the crashed entries are never swept).
	NodeID string

	// KeyPrefix prefixes every Redis key. Keys are "{KeyPrefix}:..." so the
	// whole presence keyspace shares one Redis Cluster hash slot (the Lua
	// scripts touch many keys). Zero: "ionbus:presence".
	KeyPrefix string

	// MaxMetaBytes bounds member metadata (bytes of JSON). Zero: 1024.
	MaxMetaBytes int

	// NodeTTL bounds how long a crashed node's entries survive after its last
	// heartbeat. The heartbeat key lives NodeTTL-SweepInterval and every live
	// node sweeps every SweepInterval, so removal happens within NodeTTL.
	// Zero: 30s.
	NodeTTL time.Duration
	// HeartbeatInterval is how often Tracker.Run refreshes this node's
	// heartbeat. Zero: NodeTTL/6. Must be at most (NodeTTL-SweepInterval)/2.
	HeartbeatInterval time.Duration
	// SweepInterval is how often Tracker.Run sweeps dead nodes. Zero:
	// NodeTTL/3. Must be below NodeTTL.
	SweepInterval time.Duration
	// SweepBatch bounds the connections one sweep script removes before
	// returning (keeps Redis responsive); the sweep loops until done.
	// Zero: 1000.
	SweepBatch int

	// MaxBatch bounds the entries sent in one Lua call by the join/leave
	// batcher and JoinBatch/LeaveBatch (larger batches are split, but still
	// sent in one pipeline). Zero: 256.
	MaxBatch int
	// OpTimeout bounds one round trip made on behalf of several callers
	// (a coalesced batch) or by a timer (a delayed leave). Zero: 5s.
	OpTimeout time.Duration

	// PageSize is List's limit when the caller passes <= 0. Zero: 100.
	PageSize int
	// MaxPageSize caps List's limit. Zero: 1000.
	MaxPageSize int

	// Grace delays the leave of a user's last connection in a room; a
	// reconnect within Grace (on any node) cancels it. Zero: 5s.
	Grace time.Duration
	// DisableGrace makes leaves immediate.
	DisableGrace bool

	// Rules select what the Tracker records, per namespace. A namespace
	// without an entry is not tracked. Nil map: track every room of every
	// namespace (and no namespace-wide presence) — the broker must then not
	// pass a socket's own-id room, or every socket becomes a member of it.
	Rules map[string]Rules
	// Patterns give the Rules of dynamic namespaces: a namespace without an
	// entry in Rules takes the Rules of the first pattern its name matches.
	Patterns []PatternRules

	// OnEvent receives presence:join/leave/update events produced by this
	// node. Called synchronously from Tracker methods and timer goroutines:
	// it must not block (hand the event to the broker's emit queue).
	// Nil: events are dropped.
	OnEvent func(Event)

	// OnLapsed is called by Tracker.Run when Store.Heartbeat reports
	// ErrLapsed: this node's entries may be gone (swept after a lapse, or
	// Redis restarted empty). It should re-register the node's live
	// connections with Tracker.Resync. Run calls it on its own goroutine
	// and, while it returns an error, again after each heartbeat that
	// reaches the store. Its ctx ends after NodeTTL-SweepInterval-
	// HeartbeatInterval (no heartbeat is sent meanwhile). Nil: the lapse
	// is only logged.
	OnLapsed func(ctx context.Context) error

	// Clock drives grace timers and timestamps. Nil: the system clock.
	Clock Clock
	// Logger receives warnings (failed delayed leaves, sweeps, heartbeats).
	// Zero value: disabled.
	Logger zerolog.Logger
}

func (c Config) withDefaults() Config {
	if c.KeyPrefix == "" {
		c.KeyPrefix = "ionbus:presence"
	}
	if c.MaxMetaBytes == 0 {
		c.MaxMetaBytes = 1024
	}
	if c.NodeTTL == 0 {
		c.NodeTTL = 30 * time.Second
	}
	if c.SweepInterval == 0 {
		c.SweepInterval = c.NodeTTL / 3
	}
	if c.HeartbeatInterval == 0 {
		c.HeartbeatInterval = c.NodeTTL / 6
	}
	if c.SweepBatch == 0 {
		c.SweepBatch = 1000
	}
	if c.MaxBatch == 0 {
		c.MaxBatch = 256
	}
	if c.OpTimeout == 0 {
		c.OpTimeout = 5 * time.Second
	}
	if c.PageSize == 0 {
		c.PageSize = 100
	}
	if c.MaxPageSize == 0 {
		c.MaxPageSize = 1000
	}
	if c.Grace == 0 {
		c.Grace = 5 * time.Second
	}
	if c.Clock == nil {
		c.Clock = systemClock{}
	}
	c.Logger = c.Logger.With().Str("component", "presence").Logger()
	return c
}

func (c Config) validate() error {
	var errs []error
	if c.NodeID == "" || !validID(c.NodeID) {
		errs = append(errs, errors.New("NodeID is required (no NUL, at most MaxIDBytes)"))
	}
	if c.MaxMetaBytes < 2 {
		errs = append(errs, fmt.Errorf("MaxMetaBytes %d < 2", c.MaxMetaBytes))
	}
	if c.SweepInterval <= 0 || c.SweepInterval >= c.NodeTTL {
		errs = append(errs, fmt.Errorf("SweepInterval %v must be in (0, NodeTTL %v)", c.SweepInterval, c.NodeTTL))
	}
	if c.HeartbeatInterval <= 0 || 2*c.HeartbeatInterval > c.NodeTTL-c.SweepInterval {
		errs = append(errs, fmt.Errorf("HeartbeatInterval %v must be in (0, (NodeTTL-SweepInterval)/2]", c.HeartbeatInterval))
	}
	if c.SweepBatch < 1 || c.MaxBatch < 1 || c.PageSize < 1 || c.MaxPageSize < c.PageSize {
		errs = append(errs, errors.New("SweepBatch, MaxBatch, PageSize must be >= 1 and MaxPageSize >= PageSize"))
	}
	if c.OpTimeout < 0 || c.Grace < 0 {
		errs = append(errs, errors.New("OpTimeout and Grace must not be negative"))
	}
	for i, p := range c.Patterns {
		if p.Namespace == nil {
			errs = append(errs, fmt.Errorf("Patterns[%d]: nil Namespace regexp", i))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("presence: config: %w", err)
	}
	return nil
}

// liveTTL is the lifetime of a heartbeat: NodeTTL minus one sweep period, so
// a sweep runs before NodeTTL has elapsed since the last heartbeat.
func (c *Config) liveTTL() time.Duration { return c.NodeTTL - c.SweepInterval }
