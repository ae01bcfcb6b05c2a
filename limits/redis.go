package limits

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

var (
	//go:embed lua/slots_acquire.lua
	slotsAcquireLua string
	//go:embed lua/slots_release.lua
	slotsReleaseLua string
	//go:embed lua/slots_heartbeat.lua
	slotsHeartbeatLua string
	//go:embed lua/slots_sweep.lua
	slotsSweepLua string
	//go:embed lua/slots_restore.lua
	slotsRestoreLua string
	//go:embed lua/rate_gcra.lua
	rateGCRALua string
	//go:embed lua/rate_window.lua
	rateWindowLua string

	slotsAcquireScript   = redis.NewScript(slotsAcquireLua)
	slotsReleaseScript   = redis.NewScript(slotsReleaseLua)
	slotsHeartbeatScript = redis.NewScript(slotsHeartbeatLua)
	slotsSweepScript     = redis.NewScript(slotsSweepLua)
	slotsRestoreScript   = redis.NewScript(slotsRestoreLua)
	rateGCRAScript       = redis.NewScript(rateGCRALua)
	rateWindowScript     = redis.NewScript(rateWindowLua)
)

// sweepBudget is the most slot entries one sweep script examines, so one
// call never blocks Redis for long.
const sweepBudget = 1000

// RedisSlots is Slots shared by every node on one Redis (see the package
// doc for the crash-safety model). Run must be running for the node's
// slots to survive longer than Config.NodeTTL. Safe for concurrent use.
type RedisSlots struct {
	client redis.UniversalClient
	cfg    Config
	names  redisNames

	// beaten is set by the first successful Heartbeat: a later heartbeat
	// that does not find its own previous value reports ErrLapsed.
	beaten   atomic.Bool
	onLapsed atomic.Pointer[func(context.Context) error]
	kick     chan struct{} // Acquire found the heartbeat gone: Run beats now

	heartbeatErrors atomic.Uint64
	reclaimed       atomic.Uint64
	lapses          atomic.Uint64
	restored        atomic.Uint64
}

// ErrLapsed is returned by RedisSlots.Heartbeat when this node's previous
// heartbeat was gone: it expired (other nodes may have reclaimed the
// node's slots) or Redis lost its data (restart without persistence,
// failover to an empty replica). The heartbeat is refreshed anyway; the
// slots of the live sessions must be restored (Limiter.RestoreConnections).
var ErrLapsed = errors.New("limits: node heartbeat lapsed")

// Claim is one slot to restore: the keys and slot ID it was acquired with.
type Claim struct {
	Keys   []SlotKey
	SlotID string
}

// Restorer is implemented by Slots backends that can lose their slots
// while the sessions holding them live on (RedisSlots). MemorySlots does
// not implement it: its slots live as long as the process.
type Restorer interface {
	// Restore puts slots back, ignoring limits, and returns how many were
	// missing.
	Restore(ctx context.Context, claims []Claim) (int, error)
}

var _ Restorer = (*RedisSlots)(nil)

var _ Slots = (*RedisSlots)(nil)

// NewRedisSlots uses client (standalone, sentinel, cluster or
// miniredis) with cfg's NodeID, NodeTTL, KeyPrefix and Logger.
func NewRedisSlots(client redis.UniversalClient, cfg Config) (*RedisSlots, error) {
	if client == nil {
		return nil, errors.New("limits: nil redis client")
	}
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return &RedisSlots{client: client, cfg: cfg, names: newRedisNames(cfg.KeyPrefix), kick: make(chan struct{}, 1)}, nil
}

// NodeID is the owner ID of this node's slots.
func (s *RedisSlots) NodeID() string { return s.cfg.NodeID }

// Acquire implements Slots. One round trip (EVALSHA).
func (s *RedisSlots) Acquire(ctx context.Context, keys []SlotKey, slotID string) (Decision, error) {
	if err := validSlot(keys, slotID); err != nil {
		return Decision{}, err
	}
	node := s.cfg.NodeID
	rkeys := make([]string, 3, 3+len(keys))
	rkeys[0] = s.names.nodePrefix() + node
	rkeys[1] = s.names.nodeSlotsPrefix() + node
	rkeys[2] = s.names.nodes()
	args := make([]any, 5, 5+len(keys))
	args[0], args[1], args[2] = node, slotID, s.cfg.NodeTTL.Milliseconds()
	args[3], args[4] = s.names.nodePrefix(), s.names.nodeSlotsPrefix()
	limited := make([]SlotKey, 0, len(keys))
	for _, k := range keys {
		if k.Limit <= 0 {
			continue
		}
		limited = append(limited, k)
		rkeys = append(rkeys, s.names.slots(k.Key))
		args = append(args, k.Limit)
	}
	if len(limited) == 0 {
		return Decision{Allowed: true}, nil
	}
	res, err := slotsAcquireScript.Run(ctx, s.client, rkeys, args...).Int64Slice()
	if err != nil {
		return Decision{}, fmt.Errorf("limits: acquire: %w", err)
	}
	if len(res) != 4 {
		return Decision{}, fmt.Errorf("limits: acquire: unexpected reply %v", res)
	}
	if res[3] == 1 && s.beaten.Load() {
		// This node's heartbeat was gone: have Run check now rather than
		// at its next tick, so the window in which the lost slots let
		// extra connections in stays short.
		select {
		case s.kick <- struct{}{}:
		default:
		}
	}
	i := int(res[1]) - 1
	if i < 0 || i >= len(limited) {
		return Decision{}, fmt.Errorf("limits: acquire: bad key index %d", res[1])
	}
	if res[0] == 0 {
		return Decision{Key: limited[i].Key, Limit: limited[i].Limit}, nil
	}
	return Decision{Allowed: true, Key: limited[i].Key, Limit: limited[i].Limit, Remaining: int(res[2])}, nil
}

// Release implements Slots. One round trip.
func (s *RedisSlots) Release(ctx context.Context, keys []SlotKey, slotID string) error {
	if err := validSlot(keys, slotID); err != nil {
		return err
	}
	rkeys := make([]string, 1, 1+len(keys))
	rkeys[0] = s.names.nodeSlotsPrefix() + s.cfg.NodeID
	for _, k := range keys {
		if k.Limit > 0 {
			rkeys = append(rkeys, s.names.slots(k.Key))
		}
	}
	if len(rkeys) == 1 {
		return nil
	}
	if err := slotsReleaseScript.Run(ctx, s.client, rkeys, s.cfg.NodeID, slotID).Err(); err != nil {
		return fmt.Errorf("limits: release: %w", err)
	}
	return nil
}

// Heartbeat refreshes this node's heartbeat key once. It returns
// ErrLapsed when an earlier Heartbeat succeeded but its key is gone (see
// ErrLapsed); the key is refreshed all the same.
func (s *RedisSlots) Heartbeat(ctx context.Context) error {
	keys := []string{s.names.nodePrefix() + s.cfg.NodeID, s.names.nodes()}
	had, err := slotsHeartbeatScript.Run(ctx, s.client, keys, s.cfg.NodeID, s.cfg.NodeTTL.Milliseconds()).Int()
	if err != nil {
		return fmt.Errorf("limits: heartbeat: %w", err)
	}
	if s.beaten.Swap(true) && had == 0 {
		s.lapses.Add(1)
		return ErrLapsed
	}
	return nil
}

// SetOnLapsed sets the function Run calls when Heartbeat reports ErrLapsed:
// it should restore the slots of the node's live sessions
// (access.Guard.Resync, which calls Limiter.RestoreConnections). While it
// returns an error, Run calls it again after each heartbeat that reaches
// Redis. Its ctx ends after 2/3 of NodeTTL (no heartbeat is sent while it
// runs). Set it before Run; nil clears it.
func (s *RedisSlots) SetOnLapsed(fn func(ctx context.Context) error) {
	if fn == nil {
		s.onLapsed.Store(nil)
		return
	}
	s.onLapsed.Store(&fn)
}

// restoreChunk bounds the slots one restore script call writes.
const restoreChunk = 512

// Restore implements Restorer: it puts each claim's slots back in their
// keys (Limit <= 0 keys skipped), owned by this node, even when a key then
// holds more than its limit — the sessions are live, so the count is the
// truth; acquires are refused until enough of them end. A slot held by
// another node is left alone. Returns how many slots were missing.
// One round trip per restoreChunk slots.
func (s *RedisSlots) Restore(ctx context.Context, claims []Claim) (int, error) {
	node := s.cfg.NodeID
	head := []string{s.names.nodePrefix() + node, s.names.nodeSlotsPrefix() + node, s.names.nodes()}
	total := 0
	var rkeys []string
	var args []any
	flush := func() error {
		if len(rkeys) == 0 {
			return nil
		}
		n, err := slotsRestoreScript.Run(ctx, s.client, append(head[:3:3], rkeys...), append([]any{node, s.cfg.NodeTTL.Milliseconds()}, args...)...).Int()
		rkeys, args = rkeys[:0], args[:0]
		if err != nil {
			return fmt.Errorf("limits: restore: %w", err)
		}
		total += n
		s.restored.Add(uint64(n))
		return nil
	}
	for _, c := range claims {
		if err := validSlot(c.Keys, c.SlotID); err != nil {
			return total, err
		}
		for _, k := range c.Keys {
			if k.Limit <= 0 {
				continue
			}
			rkeys = append(rkeys, s.names.slots(k.Key))
			args = append(args, c.SlotID)
			if len(rkeys) >= restoreChunk {
				if err := flush(); err != nil {
					return total, err
				}
			}
		}
	}
	return total, flush()
}

// Sweep reclaims the slots of every node whose heartbeat lapsed and
// returns how many it removed. Any node may sweep; it is idempotent.
func (s *RedisSlots) Sweep(ctx context.Context) (int, error) {
	total := 0
	for {
		res, err := slotsSweepScript.Run(ctx, s.client, []string{s.names.nodes()},
			s.names.nodePrefix(), s.names.nodeSlotsPrefix(), sweepBudget).Int64Slice()
		if err != nil {
			return total, fmt.Errorf("limits: sweep: %w", err)
		}
		if len(res) != 2 {
			return total, fmt.Errorf("limits: sweep: unexpected reply %v", res)
		}
		total += int(res[0])
		s.reclaimed.Add(uint64(res[0]))
		if res[1] < sweepBudget {
			return total, nil
		}
	}
}

// Run heartbeats every NodeTTL/3 and sweeps dead nodes' slots every
// NodeTTL, until ctx ends; it then returns nil without releasing
// anything (call ReleaseAll on a graceful shutdown). Redis failures are
// logged, counted and retried on the next tick. When a heartbeat reports
// ErrLapsed (Redis came back empty, or this node's heartbeat expired),
// Run calls the SetOnLapsed function, so the node's live sessions get
// their slots back within NodeTTL/3 of Redis answering again — sooner
// when a connection arrives: an Acquire that finds the heartbeat gone makes
// Run beat at once. Blocks; run
// it in a goroutine the caller owns.
func (s *RedisSlots) Run(ctx context.Context) error {
	log := s.cfg.Logger.With().Str("component", "limits").Str("node", s.cfg.NodeID).Logger()
	resync := false
	beat := func() {
		err := s.Heartbeat(ctx)
		switch {
		case err == nil:
		case ctx.Err() != nil:
			return
		case errors.Is(err, ErrLapsed):
			log.Warn().Err(err).Msg("slot heartbeat lapsed: this node's slots may be gone; restoring them")
			resync = true
		default:
			s.heartbeatErrors.Add(1)
			log.Warn().Err(err).Msg("slot heartbeat failed")
			return
		}
		if !resync {
			return
		}
		fn := s.onLapsed.Load()
		if fn == nil {
			resync = false
			return
		}
		// Bounded so the heartbeat does not lapse again while it runs.
		rctx, cancel := context.WithTimeout(ctx, 2*s.cfg.NodeTTL/3)
		err = (*fn)(rctx)
		cancel()
		if err != nil {
			if ctx.Err() == nil {
				log.Warn().Err(err).Msg("slot restore failed; retrying after the next heartbeat")
			}
			return
		}
		resync = false
	}
	beat()
	heartbeat := time.NewTicker(s.cfg.NodeTTL / 3)
	defer heartbeat.Stop()
	sweep := time.NewTicker(s.cfg.NodeTTL)
	defer sweep.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-heartbeat.C:
			beat()
		case <-s.kick:
			beat()
		case <-sweep.C:
			n, err := s.Sweep(ctx)
			switch {
			case err != nil && ctx.Err() == nil:
				log.Warn().Err(err).Msg("slot sweep failed")
			case n > 0:
				log.Info().Int("slots", n).Msg("reclaimed slots of lapsed nodes")
			}
		}
	}
}

// ReleaseAll drops this node's heartbeat and reclaims all its slots at
// once (graceful shutdown, after Run returned). Sweeping also reclaims
// the slots of other lapsed nodes.
func (s *RedisSlots) ReleaseAll(ctx context.Context) error {
	s.beaten.Store(false)
	if err := s.client.Del(ctx, s.names.nodePrefix()+s.cfg.NodeID).Err(); err != nil {
		return fmt.Errorf("limits: release all: %w", err)
	}
	_, err := s.Sweep(ctx)
	return err
}

// RedisStats are the backend's own counters.
type RedisStats struct {
	HeartbeatErrors uint64 // failed heartbeats (each risks losing slots after NodeTTL)
	Reclaimed       uint64 // slots of lapsed nodes reclaimed by this node's sweeps
	Lapses          uint64 // heartbeats that found this node's heartbeat gone (ErrLapsed)
	Restored        uint64 // slots put back by Restore after they were lost
}

// Stats returns the backend counters.
func (s *RedisSlots) Stats() RedisStats {
	return RedisStats{HeartbeatErrors: s.heartbeatErrors.Load(), Reclaimed: s.reclaimed.Load(),
		Lapses: s.lapses.Load(), Restored: s.restored.Load()}
}

// RedisRate is Rate shared by every node on one Redis (GCRA, one key of
// state per limited key, expiring when idle). Safe for concurrent use.
type RedisRate struct {
	client redis.UniversalClient
	names  redisNames
	now    func() time.Time
}

var _ Rate = (*RedisRate)(nil)

// NewRedisRate uses client with cfg's KeyPrefix and Now.
func NewRedisRate(client redis.UniversalClient, cfg Config) (*RedisRate, error) {
	if client == nil {
		return nil, errors.New("limits: nil redis client")
	}
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return &RedisRate{client: client, names: newRedisNames(cfg.KeyPrefix), now: cfg.Now}, nil
}

// Allow implements Rate. One round trip.
func (r *RedisRate) Allow(ctx context.Context, key string, limit int, window time.Duration) (Decision, error) {
	if err := validRate(key, limit, window); err != nil {
		return Decision{}, err
	}
	t := r.now()
	interval := gcraInterval(limit, window)
	res, err := rateGCRAScript.Run(ctx, r.client, []string{r.names.rate(key)},
		t.UnixMicro(), interval.Microseconds(), limit, gcraTTLSlack.Milliseconds()).Int64Slice()
	if err != nil {
		return Decision{}, fmt.Errorf("limits: allow: %w", err)
	}
	if len(res) != 4 {
		return Decision{}, fmt.Errorf("limits: allow: unexpected reply %v", res)
	}
	return Decision{
		Allowed:    res[0] == 1,
		Key:        key,
		Limit:      limit,
		Remaining:  int(res[1]),
		ResetAt:    t.Add(time.Duration(res[2]) * time.Microsecond),
		RetryAfter: time.Duration(res[3]) * time.Microsecond,
	}, nil
}

// RedisWindowRate is Rate shared by every node on one Redis as a
// sliding-window counter: never more than limit events for a key in any
// interval of length window across the cluster, refusing at most one
// bucket (window/60, at least 1 ms) early (see the package doc). State is
// one hash per limited key of at most about 62 fields, expiring when idle.
//
// The window follows the Redis server's clock (TIME inside the script),
// so nodes with skewed clocks still share one window; Config.Now only
// turns the reply's relative times into Decision.ResetAt. Safe for
// concurrent use.
type RedisWindowRate struct {
	client redis.UniversalClient
	names  redisNames
	now    func() time.Time
	// callerClock sends now() to the script instead of using Redis TIME
	// (tests on a fake clock). The keys then live callerClockTTLSlack
	// longer, as Redis expires them by its own clock.
	callerClock bool
}

const callerClockTTLSlack = time.Hour

// gcraTTLSlack is how long a GCRA key outlives its TAT in Redis time: the
// clock skew between nodes (and a stalled caller) it tolerates before a
// key expires that some caller still counts on.
const gcraTTLSlack = 2 * time.Second

var _ Rate = (*RedisWindowRate)(nil)

// NewRedisWindowRate uses client with cfg's KeyPrefix and Now.
func NewRedisWindowRate(client redis.UniversalClient, cfg Config) (*RedisWindowRate, error) {
	if client == nil {
		return nil, errors.New("limits: nil redis client")
	}
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return &RedisWindowRate{client: client, names: newRedisNames(cfg.KeyPrefix), now: cfg.Now}, nil
}

// Allow implements Rate. One round trip (EVALSHA).
func (r *RedisWindowRate) Allow(ctx context.Context, key string, limit int, window time.Duration) (Decision, error) {
	if err := validRate(key, limit, window); err != nil {
		return Decision{}, err
	}
	windowUS, bucketUS := windowSpan(window)
	var t time.Time
	nowArg, slackMS := int64(-1), int64(0)
	if r.callerClock {
		t = r.now()
		nowArg, slackMS = t.UnixMicro(), callerClockTTLSlack.Milliseconds()
	}
	res, err := rateWindowScript.Run(ctx, r.client, []string{r.names.window(key)},
		nowArg, windowUS, bucketUS, limit, slackMS).Int64Slice()
	if err != nil {
		return Decision{}, fmt.Errorf("limits: allow: %w", err)
	}
	if len(res) != 4 {
		return Decision{}, fmt.Errorf("limits: allow: unexpected reply %v", res)
	}
	if !r.callerClock {
		t = r.now() // the reply's durations run from the script's run
	}
	return Decision{
		Allowed:    res[0] == 1,
		Key:        key,
		Limit:      limit,
		Remaining:  int(res[1]),
		ResetAt:    t.Add(usDuration(res[2])),
		RetryAfter: usDuration(res[3]),
	}, nil
}
