package redisadapter

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/ionbus/ionbus/adapter"
	"github.com/ionbus/ionbus/internal/wire"
)

var (
	_ adapter.Adapter          = (*Adapter)(nil)
	_ adapter.NamespaceWatcher = (*Adapter)(nil)
	_ adapter.RoomWatcher      = (*Adapter)(nil)
	_ adapter.ServerCounter    = (*Adapter)(nil)
)

// Adapter links this node to the other ionbus and Node.js socket.io
// servers sharing a Redis. Safe for concurrent use.
type Adapter struct {
	cfg    Config
	client redis.UniversalClient
	log    zerolog.Logger
	uid    string

	handler adapter.Handler
	ctx     context.Context // lifetime of the adapter; cancelled by Close
	cancel  context.CancelFunc
	wg      sync.WaitGroup

	started  atomic.Bool
	closed   atomic.Bool
	beatDown atomic.Bool // last heartbeat failed
	cluster  *redis.ClusterClient

	// After a Redis restart the node set is empty until every node has
	// beaten again: until holdUntil a broadcast is expected to reach the
	// held count of nodes seen before (publish.go).
	liveMu    sync.Mutex
	lastLive  int
	held      int
	holdUntil time.Time
	// wake is closed when a heartbeat succeeds after a failure, so
	// receive loops waiting out a backoff resubscribe at once.
	wakeMu sync.Mutex
	wake   chan struct{}

	// Subscriptions (subscriber.go). subMu serializes their changes and
	// is held across the commands; psMu guards the subs map (short holds).
	subMu sync.Mutex
	psMu  sync.Mutex
	subs  map[string]*subscriber // by master address per shard, else one at ""
	// Per-shard mode only, guarded by subMu: the subscriber holding each
	// channel, and channels waiting for a subscriber (orphanCount mirrors
	// len(orphans) for Degraded).
	chanSub     map[string]*subscriber
	orphans     map[string]struct{}
	orphanCount atomic.Int32
	repairKick  chan struct{}

	nsMu        sync.Mutex
	namespaces  map[string]bool            // watched namespaces
	rooms       map[string]map[string]bool // ModeRoom / sharded dynamic: subscribed rooms per namespace
	roomQueue   []roomOp                   // pending (un)subscriptions, in call order
	roomQueued  uint64
	roomApplied uint64
	roomWake    chan struct{}

	queue chan inbound

	reqMu       sync.Mutex
	requests    map[string]*pending // Go-originated requests by request id
	pingMu      sync.Mutex
	pingWaiters map[string]chan struct{}

	stats counters
}

type inbound struct {
	channel string
	pattern string
	payload string
}

// New validates cfg and returns an unstarted adapter using client for
// publishing and (through a dedicated connection) subscribing.
func New(cfg Config, client redis.UniversalClient, logger zerolog.Logger) (*Adapter, error) {
	if client == nil {
		return nil, errors.New("redisadapter: nil client")
	}
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	a := &Adapter{
		cfg:         cfg,
		client:      client,
		uid:         cfg.NodeID,
		log:         logger.With().Str("component", "redisadapter").Str("node", cfg.NodeID).Str("mode", cfg.Mode.String()).Logger(),
		namespaces:  make(map[string]bool),
		rooms:       make(map[string]map[string]bool),
		requests:    make(map[string]*pending),
		pingWaiters: make(map[string]chan struct{}),
		queue:       make(chan inbound, cfg.QueueSize),
		roomWake:    make(chan struct{}, 1),
		wake:        make(chan struct{}),
		subs:        make(map[string]*subscriber),
		chanSub:     make(map[string]*subscriber),
		orphans:     make(map[string]struct{}),
		repairKick:  make(chan struct{}, 1),
	}
	a.cluster, _ = client.(*redis.ClusterClient)
	a.ctx, a.cancel = context.WithCancel(context.Background())
	return a, nil
}

// Key returns the channel prefix in use.
func (a *Adapter) Key() string { return a.cfg.Key }

// Confirm waits until Redis has confirmed every subscription requested so
// far, including the asynchronous ones of RoomCreated.
func (a *Adapter) Confirm(ctx context.Context) error {
	if a.closed.Load() {
		return adapter.ErrClosed
	}
	if err := a.roomsFlushed(ctx); err != nil {
		return err
	}
	return a.confirm(ctx)
}

// ID returns the node's uid on the wire.
func (a *Adapter) ID() string { return a.uid }

// Degraded reports whether the node currently cannot reach Redis (the
// subscriber is reconnecting or the last heartbeat failed). Local delivery
// is unaffected; health endpoints read this.
func (a *Adapter) Degraded() bool {
	if a.beatDown.Load() || a.orphanCount.Load() > 0 {
		return true
	}
	a.psMu.Lock()
	defer a.psMu.Unlock()
	for _, s := range a.subs {
		if s.down.Load() {
			return true
		}
	}
	return false
}

func (a *Adapter) name(n wire.Name, ns, arg string) string {
	return wire.Channel(n, a.cfg.Key, ns, arg)
}

// Start subscribes the "/" namespace, starts the receive loop, the
// handler worker and the heartbeat, and returns once Redis confirmed the
// subscriptions (or ctx ended).
func (a *Adapter) Start(ctx context.Context, h adapter.Handler) error {
	if h == nil {
		return errors.New("redisadapter: nil handler")
	}
	if a.closed.Load() {
		return adapter.ErrClosed
	}
	if !a.started.CompareAndSwap(false, true) {
		return adapter.ErrStarted
	}
	a.handler = h
	a.psMu.Lock()
	if a.closed.Load() { // Close raced with Start
		a.psMu.Unlock()
		return adapter.ErrClosed
	}
	a.goRun(a.worker)
	a.goRun(a.heartbeatLoop)
	a.goRun(a.roomLoop)
	if a.perShard() {
		a.goRun(a.repairLoop)
	}
	a.psMu.Unlock()
	a.beat(ctx)
	return a.WatchNamespace(ctx, "/")
}

func (a *Adapter) goRun(f func()) {
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		f()
	}()
}

// WatchNamespace subscribes the channels of ns and waits until Redis
// confirmed them. Idempotent.
func (a *Adapter) WatchNamespace(ctx context.Context, ns string) error {
	if a.closed.Load() {
		return adapter.ErrClosed
	}
	if !a.started.Load() {
		return errors.New("redisadapter: WatchNamespace before Start")
	}
	a.nsMu.Lock()
	if a.namespaces[ns] {
		a.nsMu.Unlock()
		return nil
	}
	a.namespaces[ns] = true
	a.nsMu.Unlock()
	var err error
	switch a.cfg.Mode {
	case ModeClassic:
		err = a.subscribe(ctx, subPattern, a.name(wire.ChanBroadcastPattern, ns, ""))
		if err == nil {
			err = a.subscribe(ctx, subChannel, a.classicChannels(ns)...)
		}
	case ModeRoom:
		err = a.subscribe(ctx, subChannel, append(a.classicChannels(ns), a.name(wire.ChanBroadcast, ns, ""))...)
	case ModeSharded:
		err = a.subscribe(ctx, subChannel, a.name(wire.ChanBroadcast, ns, ""), a.name(wire.ChanRoom, ns, a.uid))
	}
	if err != nil {
		// go-redis remembers the channels and subscribes them on reconnect.
		a.log.Warn().Err(err).Str("nsp", ns).Msg("subscribe failed; will retry on reconnect")
	}
	return a.confirm(ctx)
}

// UnwatchNamespace drops what WatchNamespace subscribed: the broker
// calls it for a dynamic namespace it removed (empty past its grace
// period), so per-namespace subscriptions do not pile up.
func (a *Adapter) UnwatchNamespace(ctx context.Context, ns string) error {
	if a.closed.Load() || !a.started.Load() {
		return nil
	}
	a.nsMu.Lock()
	if !a.namespaces[ns] {
		a.nsMu.Unlock()
		return nil
	}
	delete(a.namespaces, ns)
	a.nsMu.Unlock()
	switch a.cfg.Mode {
	case ModeClassic:
		return errors.Join(
			a.subscribe(ctx, unsubPattern, a.name(wire.ChanBroadcastPattern, ns, "")),
			a.subscribe(ctx, unsubChannel, a.classicChannels(ns)...))
	case ModeRoom:
		return a.subscribe(ctx, unsubChannel, append(a.classicChannels(ns), a.name(wire.ChanBroadcast, ns, ""))...)
	case ModeSharded:
		return a.subscribe(ctx, unsubChannel, a.name(wire.ChanBroadcast, ns, ""), a.name(wire.ChanRoom, ns, a.uid))
	}
	return nil
}

func (a *Adapter) classicChannels(ns string) []string {
	return []string{
		a.name(wire.ChanRequest, ns, ""),
		a.name(wire.ChanResponse, ns, ""),
		a.name(wire.ChanNodeResponse, ns, a.uid),
	}
}

// confirm sends a PING on every subscriber connection and waits for the
// PONGs, which Redis sends after confirming every earlier subscription.
// Per shard it also waits until no channel is orphaned.
func (a *Adapter) confirm(ctx context.Context) error {
	for {
		a.psMu.Lock()
		subs := make([]*subscriber, 0, len(a.subs))
		for _, s := range a.subs {
			subs = append(subs, s)
		}
		a.psMu.Unlock()
		for _, s := range subs {
			if err := a.confirmOne(ctx, s); err != nil {
				return err
			}
		}
		if a.orphanCount.Load() == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("redisadapter: subscription not confirmed: %w", ctx.Err())
		case <-a.ctx.Done():
			return adapter.ErrClosed
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (a *Adapter) confirmOne(ctx context.Context, s *subscriber) error {
	token := randomID()
	ch := make(chan struct{})
	a.pingMu.Lock()
	a.pingWaiters[token] = ch
	a.pingMu.Unlock()
	defer func() {
		a.pingMu.Lock()
		delete(a.pingWaiters, token)
		a.pingMu.Unlock()
	}()
	for {
		if a.sub(s.addr) != s {
			return nil // dropped or closed: its channels are someone else's now
		}
		if err := s.ps.Ping(ctx, token); err == nil {
			t := time.NewTimer(500 * time.Millisecond)
			select {
			case <-ch:
				t.Stop()
				return nil
			case <-ctx.Done():
				t.Stop()
				return fmt.Errorf("redisadapter: subscription not confirmed: %w", ctx.Err())
			case <-a.ctx.Done():
				t.Stop()
				return adapter.ErrClosed
			case <-t.C: // lost in a reconnect: ping again
			}
			continue
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("redisadapter: subscription not confirmed: %w", ctx.Err())
		case <-a.ctx.Done():
			return adapter.ErrClosed
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// RoomCreated subscribes the room's channel in ModeRoom and in sharded
// dynamic modes (public rooms only for SubscriptionDynamic). It never
// blocks: operations are queued and applied in call order by one
// goroutine (and replayed by go-redis after a reconnect). Calls before
// Start are ignored.
func (a *Adapter) RoomCreated(ns, room string) { a.roomOp(ns, room, true) }

// RoomDeleted unsubscribes what RoomCreated subscribed.
func (a *Adapter) RoomDeleted(ns, room string) { a.roomOp(ns, room, false) }

type roomOp struct {
	channel   string
	subscribe bool
}

func (a *Adapter) roomOp(ns, room string, create bool) {
	if !a.roomSubscribed(room) || a.closed.Load() || !a.started.Load() {
		return
	}
	a.nsMu.Lock()
	set := a.rooms[ns]
	if set == nil {
		set = make(map[string]bool)
		a.rooms[ns] = set
	}
	if set[room] == create {
		a.nsMu.Unlock()
		return
	}
	if create {
		set[room] = true
	} else {
		delete(set, room)
	}
	a.roomQueue = append(a.roomQueue, roomOp{channel: a.name(wire.ChanRoom, ns, room), subscribe: create})
	a.roomQueued++
	a.nsMu.Unlock()
	select {
	case a.roomWake <- struct{}{}:
	default:
	}
}

// roomLoop applies queued room subscriptions in order.
func (a *Adapter) roomLoop() {
	for {
		select {
		case <-a.ctx.Done():
			return
		case <-a.roomWake:
		}
		for {
			a.nsMu.Lock()
			ops := a.roomQueue
			a.roomQueue = nil
			a.nsMu.Unlock()
			if len(ops) == 0 {
				break
			}
			// Batch consecutive operations of the same direction.
			for i := 0; i < len(ops); {
				j := i
				var chans []string
				for j < len(ops) && ops[j].subscribe == ops[i].subscribe {
					chans = append(chans, ops[j].channel)
					j++
				}
				op := subChannel
				if !ops[i].subscribe {
					op = unsubChannel
				}
				err := a.subscribe(a.ctx, op, chans...)
				if err != nil && !a.closed.Load() {
					// go-redis already recorded the channel set; it is
					// applied when the connection comes back.
					a.log.Debug().Err(err).Int("channels", len(chans)).Msg("room subscription deferred to reconnect")
				}
				a.nsMu.Lock()
				a.roomApplied += uint64(j - i)
				a.nsMu.Unlock()
				i = j
			}
		}
	}
}

// roomsFlushed waits until every room operation queued so far was sent.
func (a *Adapter) roomsFlushed(ctx context.Context) error {
	a.nsMu.Lock()
	target := a.roomQueued
	a.nsMu.Unlock()
	for {
		a.nsMu.Lock()
		done := a.roomApplied >= target
		a.nsMu.Unlock()
		if done {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-a.ctx.Done():
			return adapter.ErrClosed
		case <-time.After(2 * time.Millisecond):
		}
	}
}

func (a *Adapter) roomSubscribed(room string) bool {
	switch a.cfg.Mode {
	case ModeRoom:
		return true
	case ModeSharded:
		switch a.cfg.Subscription {
		case SubscriptionDynamic:
			return !looksLikeSocketID(room)
		case SubscriptionDynamicPrivate:
			return true
		}
	}
	return false
}

// looksLikeSocketID is the sharded Node adapter's heuristic.
func looksLikeSocketID(room string) bool { return len([]rune(room)) == 20 }

// ServerCount returns the number of servers subscribed to the "/"
// namespace, counted as Node servers count them (PUBSUB NUMSUB of the
// request channel, or SHARDNUMSUB in sharded mode); this node included.
func (a *Adapter) ServerCount(ctx context.Context) (int, error) {
	if a.closed.Load() {
		return 0, adapter.ErrClosed
	}
	return a.serverCount(ctx, "/")
}

func (a *Adapter) serverCount(ctx context.Context, ns string) (int, error) {
	ch := a.name(wire.ChanRequest, ns, "")
	if a.cfg.Mode == ModeSharded {
		ch = a.name(wire.ChanBroadcast, ns, "")
	}
	counts, err := a.subscribers(ctx, ch)
	if err != nil {
		return 0, fmt.Errorf("redisadapter: server count: %w", err)
	}
	return counts[ch], nil
}

// subscribers returns the number of subscribers of each channel: PUBSUB
// NUMSUB, or SHARDNUMSUB in sharded mode, summed over the masters of a
// Redis Cluster (subscription counts are per cluster node, as the Node
// adapter counts them).
func (a *Adapter) subscribers(ctx context.Context, channels ...string) (map[string]int, error) {
	count := func(ctx context.Context, c redis.Cmdable) (map[string]int64, error) {
		if a.cfg.Mode == ModeSharded {
			return c.PubSubShardNumSub(ctx, channels...).Result()
		}
		return c.PubSubNumSub(ctx, channels...).Result()
	}
	out := make(map[string]int, len(channels))
	if a.cluster == nil {
		m, err := count(ctx, a.client)
		for ch, n := range m {
			out[ch] = int(n)
		}
		return out, err
	}
	var mu sync.Mutex
	err := a.cluster.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error {
		m, err := count(ctx, c)
		mu.Lock()
		for ch, n := range m {
			out[ch] += int(n)
		}
		mu.Unlock()
		return err
	})
	return out, err
}

// nodeChannel is the channel only node uid subscribes in ns: its own
// response channel (classic and room modes) or its node channel (sharded).
func (a *Adapter) nodeChannel(ns, uid string) string {
	if a.cfg.Mode == ModeSharded {
		return a.name(wire.ChanRoom, ns, uid)
	}
	return a.name(wire.ChanNodeResponse, ns, uid)
}

// unresponsive counts the ionbus nodes that still hold their subscription
// in ns but whose liveness lapsed: stopped, starved or deadlocked
// processes. Their connection to Redis is open, so they count in NUMSUB,
// yet they will not answer. Nodes in answered are skipped. Node.js peers
// keep no liveness entry and are never counted.
func (a *Adapter) unresponsive(ctx context.Context, ns string, answered map[string]bool) (int, error) {
	lapsed, err := a.client.ZRangeByScore(ctx, a.name(wire.KeyNodes, "", ""), &redis.ZRangeBy{
		Min: "-inf", Max: "(" + strconv.FormatInt(time.Now().UnixMilli(), 10),
	}).Result()
	if err != nil || len(lapsed) == 0 {
		return 0, err
	}
	channels := make([]string, 0, len(lapsed))
	for _, uid := range lapsed {
		if uid != a.uid && !answered[uid] {
			channels = append(channels, a.nodeChannel(ns, uid))
		}
	}
	if len(channels) == 0 {
		return 0, nil
	}
	counts, err := a.subscribers(ctx, channels...)
	n := 0
	for _, ch := range channels {
		if counts[ch] > 0 {
			n++
		}
	}
	return n, err
}

// Close unsubscribes, stops the loops, deletes the liveness key and waits
// for the goroutines (or ctx). Idempotent. The client stays open: it
// belongs to the caller.
func (a *Adapter) Close(ctx context.Context) error {
	if !a.closed.CompareAndSwap(false, true) {
		return nil
	}
	a.psMu.Lock()
	subs := a.subs
	a.subs = map[string]*subscriber{}
	a.psMu.Unlock()
	for _, s := range subs {
		_ = s.ps.Close() // unsubscribes everything; Node peers stop counting us at once
	}
	a.cancel()
	if !a.started.Load() {
		return nil
	}
	dctx, cancel := context.WithTimeout(ctx, time.Second)
	_ = a.client.Del(dctx, a.name(wire.KeyHeartbeat, "", a.uid)).Err()
	_ = a.client.ZRem(dctx, a.name(wire.KeyNodes, "", ""), a.uid).Err()
	cancel()
	done := make(chan struct{})
	go func() { a.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (a *Adapter) heartbeatLoop() {
	t := time.NewTicker(a.cfg.HeartbeatInterval)
	defer t.Stop()
	for {
		select {
		case <-a.ctx.Done():
			return
		case <-t.C:
			a.beat(a.ctx)
		}
	}
}

// forgetLapsed is how long a lapsed node stays in the KeyNodes set.
const forgetLapsed = time.Hour

// beat refreshes the liveness key and this node's entry in the node set
// (scored with the moment its liveness lapses, three intervals ahead, so
// every node states its own bound); its failure marks the node degraded.
func (a *Adapter) beat(ctx context.Context) {
	cctx, cancel := context.WithTimeout(ctx, a.cfg.HeartbeatInterval)
	defer cancel()
	now, ttl := time.Now(), 3*a.cfg.HeartbeatInterval
	nodes := a.name(wire.KeyNodes, "", "")
	var added, live *redis.IntCmd
	_, err := a.client.Pipelined(cctx, func(p redis.Pipeliner) error {
		p.Set(cctx, a.name(wire.KeyHeartbeat, "", a.uid), now.UnixMilli(), ttl)
		added = p.ZAdd(cctx, nodes, redis.Z{Score: float64(now.Add(ttl).UnixMilli()), Member: a.uid})
		p.ZRemRangeByScore(cctx, nodes, "-inf", strconv.FormatInt(now.Add(-forgetLapsed).UnixMilli(), 10))
		live = p.ZCount(cctx, nodes, strconv.FormatInt(now.UnixMilli(), 10), "+inf")
		return nil
	})
	if err == nil {
		a.noteLive(added.Val() == 1, int(live.Val()), now.Add(ttl))
	}
	if err != nil {
		if a.closed.Load() {
			return
		}
		if !a.beatDown.Swap(true) {
			a.log.Warn().Err(err).Msg("redis heartbeat failed; node degraded")
		}
		return
	}
	if a.beatDown.Swap(false) {
		a.log.Info().Msg("redis heartbeat restored")
		a.wakeMu.Lock()
		close(a.wake)
		a.wake = make(chan struct{})
		a.wakeMu.Unlock()
	}
}

// noteLive records one heartbeat: readded is true when this node's
// entry had vanished from the node set (Redis restarted or lost its
// data), live the live nodes it counts. After such a loss the count of
// before is held for one liveness TTL, until every live node has beaten
// again.
func (a *Adapter) noteLive(readded bool, live int, ttlEnd time.Time) {
	a.liveMu.Lock()
	defer a.liveMu.Unlock()
	if readded && a.lastLive > 0 {
		a.held, a.holdUntil = max(a.held, a.lastLive), ttlEnd
	}
	a.lastLive = live
}

// expectedNodes is how many nodes a broadcast should reach, given the
// live count read with it and whether this node's entry was missing from
// the node set: that count, or the count of before while the node set
// refills after a Redis restart (one liveness TTL).
func (a *Adapter) expectedNodes(live int, lost bool) int {
	a.liveMu.Lock()
	defer a.liveMu.Unlock()
	now := time.Now()
	if lost && a.lastLive > 0 && !now.Before(a.holdUntil) {
		a.held, a.holdUntil = a.lastLive, now.Add(3*a.cfg.HeartbeatInterval)
	}
	if now.Before(a.holdUntil) {
		return max(live, a.held)
	}
	a.held = 0
	return live
}

// liveNodes is the last heartbeat's count of live ionbus nodes.
func (a *Adapter) liveNodes() int {
	a.liveMu.Lock()
	defer a.liveMu.Unlock()
	return a.lastLive
}

func (a *Adapter) wakeCh() <-chan struct{} {
	a.wakeMu.Lock()
	defer a.wakeMu.Unlock()
	return a.wake
}

// receiveLoop reads one subscriber connection until Close. On errors the
// single subscriber marks the node degraded and retries with backoff
// (go-redis redials and resubscribes on the next read); a per-shard
// subscriber hands its channels to repairLoop and ends.
func (a *Adapter) receiveLoop(s *subscriber) {
	backoff := 50 * time.Millisecond
	for {
		msg, err := s.ps.Receive(a.ctx)
		if a.closed.Load() {
			return
		}
		if err != nil && a.perShard() {
			a.shardLost(s, err)
			return
		}
		if err != nil {
			a.stats.receiveErrors.Add(1)
			if !s.down.Swap(true) {
				a.log.Warn().Err(err).Msg("redis subscription lost; local delivery continues, reconnecting")
			}
			if a.cluster != nil { // the node it reached may be gone
				a.cluster.ReloadState(a.ctx)
			}
			select {
			case <-a.ctx.Done():
				return
			case <-time.After(backoff):
			case <-a.wakeCh(): // Redis answers again: resubscribe now
			}
			backoff = min(backoff*2, a.cfg.MaxBackoff)
			continue
		}
		backoff = 50 * time.Millisecond
		if s.down.Swap(false) {
			a.stats.resubscribes.Add(1)
			a.log.Info().Msg("redis subscription restored")
		}
		switch m := msg.(type) {
		case *redis.Message:
			a.stats.received.Add(1)
			a.route(m)
		case *redis.Pong:
			a.pingMu.Lock()
			if ch := a.pingWaiters[m.Payload]; ch != nil {
				close(ch)
				delete(a.pingWaiters, m.Payload)
			}
			a.pingMu.Unlock()
		case *redis.Subscription:
		}
	}
}

// route handles responses inline (they only wake a waiting Request) and
// queues everything else for the worker, dropping on overflow.
func (a *Adapter) route(m *redis.Message) {
	if a.isResponseChannel(m.Channel) {
		a.onResponse(m.Payload)
		return
	}
	select {
	case a.queue <- inbound{channel: m.Channel, pattern: m.Pattern, payload: m.Payload}:
	default:
		if n := a.stats.dropped.Add(1); n&(n-1) == 0 { // log at 1, 2, 4, 8...
			a.log.Warn().Uint64("dropped", n).Int("queue", cap(a.queue)).Str("channel", m.Channel).Msg("inbound queue full; message dropped")
		}
	}
}

func (a *Adapter) isResponseChannel(ch string) bool {
	if a.cfg.Mode == ModeSharded {
		return strings.HasSuffix(ch, "#"+a.uid+"#") && strings.HasPrefix(ch, a.cfg.Key+"#")
	}
	return strings.HasPrefix(ch, a.cfg.Key+"-response#")
}

func (a *Adapter) worker() {
	for {
		select {
		case <-a.ctx.Done():
			return
		case in := <-a.queue:
			a.dispatch(in)
		}
	}
}

// dispatch decodes one inbound message and hands it to the handler. A
// malformed message is counted and dropped; a panic in decoding is
// contained so the worker survives hostile input.
func (a *Adapter) dispatch(in inbound) {
	defer func() {
		if r := recover(); r != nil {
			a.stats.malformed.Add(1)
			a.log.Error().Interface("panic", r).Str("channel", in.channel).Msg("inbound message handling panicked; dropped")
		}
	}()
	var err error
	if a.cfg.Mode == ModeSharded {
		err = a.onClusterMessage(in)
	} else if strings.HasPrefix(in.channel, a.cfg.Key+"-request#") {
		err = a.onRequest(in)
	} else {
		err = a.onBroadcast(in)
	}
	if err != nil {
		if n := a.stats.malformed.Add(1); n&(n-1) == 0 {
			a.log.Warn().Err(err).Uint64("malformed", n).Str("channel", in.channel).Msg("malformed message dropped")
		}
	}
}

// namespaceOf extracts the namespace from "<prefix><ns>#..." using the
// longest watched namespace that matches.
func (a *Adapter) namespaceOf(ch, prefix string) (string, bool) {
	if !strings.HasPrefix(ch, prefix) {
		return "", false
	}
	rest := ch[len(prefix):]
	a.nsMu.Lock()
	defer a.nsMu.Unlock()
	best, ok := "", false
	for ns := range a.namespaces {
		if strings.HasPrefix(rest, ns+"#") && (!ok || len(ns) > len(best)) {
			best, ok = ns, true
		}
	}
	return best, ok
}

func (a *Adapter) watching(ns string) bool {
	a.nsMu.Lock()
	defer a.nsMu.Unlock()
	return a.namespaces[ns]
}

func randomID() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Stats are the adapter's counters.
type Stats struct {
	Received      uint64 `json:"received_total"`  // pub/sub messages read from Redis
	Published     uint64 `json:"published_total"` // messages published
	PublishErrors uint64 `json:"publish_errors_total"`
	Dropped       uint64 `json:"dropped_total"`        // inbound queue overflow
	Malformed     uint64 `json:"malformed_total"`      // undecodable or foreign messages
	Ignored       uint64 `json:"ignored_total"`        // own echoes, other namespaces, unknown request ids
	ReceiveErrors uint64 `json:"receive_errors_total"` // subscriber read errors (connection loss)
	Resubscribes  uint64 `json:"resubscribes_total"`   // subscriber recoveries
	QueueLen      int    `json:"queue_len"`            // inbound messages waiting for the broker
	// Partial counts broadcasts that reached fewer nodes than were alive
	// (classic mode on one Redis; see PartialError).
	Partial uint64 `json:"partial_broadcasts_total"`
	// ExpectedNodes is the live ionbus nodes the last heartbeat counted.
	ExpectedNodes int `json:"expected_nodes"`
}

type counters struct {
	received, published, publishErrors, dropped, malformed, ignored, receiveErrors, resubscribes atomic.Uint64
	partial                                                                                      atomic.Uint64
}

// Stats returns a snapshot of the counters.
func (a *Adapter) Stats() Stats {
	s := &a.stats
	return Stats{
		Received: s.received.Load(), Published: s.published.Load(), PublishErrors: s.publishErrors.Load(),
		Dropped: s.dropped.Load(), Malformed: s.malformed.Load(), Ignored: s.ignored.Load(),
		ReceiveErrors: s.receiveErrors.Load(), Resubscribes: s.resubscribes.Load(), QueueLen: len(a.queue),
		Partial: s.partial.Load(), ExpectedNodes: a.liveNodes(),
	}
}
