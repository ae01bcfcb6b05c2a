package bridge

import (
	"context"
	"crypto/rand"
	_ "embed"
	"encoding/base64"
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ionbus/ionbus/broker"
	"github.com/ionbus/ionbus/broker/access"
)

// Lifecycle event types (the "type" field).
const (
	LifeConnect    = "connect"
	LifeDisconnect = "disconnect"
	LifeJoin       = "join"
	LifeLeave      = "leave"
	LifeOnline     = "online"
	LifeOffline    = "offline"
)

// ReasonNodeDead is the disconnect reason of the sockets of a node that
// died, emitted by the nodes that swept it.
const ReasonNodeDead = "node dead"

// reasonUnknown: a socket closed while its connection was being recorded.
const reasonUnknown = "unknown"

// LifeEvent is one lifecycle event: a stream entry's fields and an element
// of the webhook's "events". Every field is present (empty when it does
// not apply). Time is RFC 3339 with nanoseconds, UTC.
type LifeEvent struct {
	Type      string `json:"type"`
	Namespace string `json:"namespace"`
	SID       string `json:"sid"`
	User      string `json:"user"`
	Room      string `json:"room"`
	Reason    string `json:"reason"`
	Node      string `json:"node"`
	Time      string `json:"time"`
	// ID is unique per event, and the same for the disconnect (and
	// offline) a node writes and the one a sweep writes for the same
	// socket: dedupe on it.
	ID string `json:"id"`

	tag    string // the socket's incarnation
	socket string // connect: the sockets hash value
}

var (
	//go:embed lua/record.lua
	luaRecord string
	//go:embed lua/sweep.lua
	luaSweep string
	//go:embed lua/heartbeat.lua
	luaHeartbeat string
	//go:embed lua/leave.lua
	luaLeave string

	scriptRecord    = redis.NewScript(luaRecord)
	scriptSweep     = redis.NewScript(luaSweep)
	scriptHeartbeat = redis.NewScript(luaHeartbeat)
	scriptLeave     = redis.NewScript(luaLeave)
)

// sweepBudget is the most sockets one sweep script call takes.
const sweepBudget = 1000

// lifecycle buffers this node's lifecycle events and writes them in
// batches; it also runs the heartbeat and the sweep of dead nodes.
type lifecycle struct {
	b    *Bridge
	cfg  *LifecycleConfig
	keys keys
	boot string // this process's incarnation, in every socket tag

	buf     chan LifeEvent
	webhook chan []LifeEvent // nil without Config.Lifecycle.Webhook
	stop    chan struct{}    // closed by Shutdown: write what is buffered and exit

	serial     atomic.Uint64
	registered atomic.Bool // a heartbeat succeeded
	finished   atomic.Bool // Shutdown wrote what it could: later events are dropped

	loopCtx    context.Context
	stopLoop   context.CancelFunc
	writerDone chan struct{}
	loops      sync.WaitGroup // heartbeat/sweep loop
	senders    sync.WaitGroup // webhook sender
}

func newLifecycle(b *Bridge) *lifecycle {
	l := &lifecycle{
		b: b, cfg: &b.cfg.Lifecycle, keys: newKeys(b.cfg.KeyPrefix, b.cfg.Lifecycle.Stream, b.cfg.NodeID),
		boot: randomID(6), buf: make(chan LifeEvent, b.cfg.Lifecycle.BufferSize),
		stop: make(chan struct{}), writerDone: make(chan struct{}),
	}
	if l.cfg.Webhook {
		l.webhook = make(chan []LifeEvent, 64)
	}
	l.loopCtx, l.stopLoop = context.WithCancel(b.reqCtx)
	return l
}

func randomID(n int) string {
	p := make([]byte, n)
	_, _ = rand.Read(p)
	return base64.RawURLEncoding.EncodeToString(p)
}

func (l *lifecycle) start(ctx context.Context) error {
	hctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(l.loopCtx, cancel)
	l.heartbeat(hctx)
	stop()
	cancel()
	b := l.b
	if !b.goroutine(&l.loops, func() { l.loop(l.loopCtx) }) {
		return ErrClosed
	}
	b.goroutine(&l.loops, func() { l.writer() })
	if l.webhook != nil {
		b.goroutine(&l.senders, func() { l.sender() })
	}
	return nil
}

// shutdown writes what is buffered (and posts it), then leaves the
// cluster cleanly. Bounded by ctx (Bridge.Shutdown cancels reqCtx when
// it ends, which aborts the writes).
func (l *lifecycle) shutdown(ctx context.Context, started bool) error {
	l.stopLoop()
	close(l.stop)
	if started {
		<-l.writerDone
	} else {
		l.drain()
	}
	l.loops.Wait()
	l.finished.Store(true)
	for range len(l.buf) { // enqueued after the drain
		<-l.buf
		l.b.stats.lifeDropped.Add(1)
	}
	if l.webhook != nil {
		close(l.webhook)
		if started {
			l.senders.Wait()
		} else {
			l.sender()
		}
	}
	if ctx.Err() != nil {
		return ctx.Err() // no clean exit: the heartbeat lapses and others sweep what is left
	}
	lctx, cancel := context.WithTimeout(ctx, l.b.cfg.Timeout)
	defer cancel()
	left, err := scriptLeave.Run(lctx, l.b.rdb, []string{l.keys.hb, l.keys.nodes, l.keys.sockets}, l.b.cfg.NodeID).Int()
	if err != nil {
		return err
	}
	if left > 0 {
		l.b.log.Warn().Int("sockets", left).Msg("lifecycle: disconnects not written; other nodes will sweep them")
	}
	return nil
}

// enqueue never blocks: past BufferSize events are dropped and counted.
func (l *lifecycle) enqueue(ev LifeEvent) {
	if l.finished.Load() {
		l.b.stats.lifeDropped.Add(1)
		return
	}
	select {
	case l.buf <- ev:
	default:
		n := l.b.stats.lifeDropped.Add(1)
		if n&(n-1) == 0 { // powers of two: no log flood under overload
			l.b.log.Warn().Uint64("dropped_total", n).Msg("lifecycle buffer full: event dropped")
		}
	}
}

func (l *lifecycle) event(s *broker.Socket, st *socketState, typ, room, reason, id string) LifeEvent {
	return LifeEvent{
		Type: typ, Namespace: s.Namespace().Name(), SID: s.ID(), User: st.user, Room: room, Reason: reason,
		Node: l.b.cfg.NodeID, Time: l.now(), ID: id, tag: st.tag,
	}
}

func (l *lifecycle) now() string { return l.b.cfg.Now().UTC().Format(time.RFC3339Nano) }

// newTag names a new incarnation of a socket on this node.
func (l *lifecycle) newTag() string {
	return l.b.cfg.NodeID + ":" + l.boot + ":" + strconv.FormatUint(l.serial.Add(1), 10)
}

// connectLocked buffers the socket's connect under a new tag. st.mu held.
func (l *lifecycle) connectLocked(s *broker.Socket, st *socketState) {
	st.tag = l.newTag()
	ev := l.event(s, st, LifeConnect, "", "", st.tag+":"+LifeConnect)
	info, _ := marshal(struct {
		Namespace string `json:"namespace"`
		SID       string `json:"sid"`
		User      string `json:"user"`
		Tag       string `json:"tag"`
	}{ev.Namespace, ev.SID, ev.User, st.tag})
	ev.socket = string(info)
	l.enqueue(ev)
}

func (l *lifecycle) roomLocked(s *broker.Socket, st *socketState, typ, room string) {
	st.seq++
	l.enqueue(l.event(s, st, typ, room, "", st.tag+":"+typ+":"+strconv.FormatUint(st.seq, 10)))
}

// ensure buffers the socket's connect once, whichever hook sees the
// socket first (its connection handler, or a join made by an earlier
// connection handler), so the connect always precedes its joins. Nil for
// a socket that is not connected (or left) before being recorded.
func (l *lifecycle) ensure(s *broker.Socket) *socketState {
	st := l.b.state(s)
	st.mu.Lock()
	if st.recorded {
		st.mu.Unlock()
		return st
	}
	if !s.Connected() {
		st.mu.Unlock()
		return nil
	}
	st.recorded = true
	if id := access.Identity(s); id != nil {
		st.user = id.UserID
	}
	l.connectLocked(s, st)
	if s.Recovered() {
		// A recovered socket gets its rooms back without OnJoin.
		for _, r := range s.Rooms() {
			if r != s.ID() {
				l.roomLocked(s, st, LifeJoin, r)
			}
		}
	}
	st.mu.Unlock()
	s.OnDisconnect(func(s *broker.Socket, reason string) { l.disconnected(s, st, reason) })
	if !s.Connected() { // closed before the handler was registered: it may never run
		l.disconnected(s, st, reasonUnknown)
	}
	return st
}

// connected is the connection handler.
func (l *lifecycle) connected(s *broker.Socket) { l.ensure(s) }

func (l *lifecycle) onJoin(s *broker.Socket, room string) {
	st := l.ensure(s)
	if st == nil {
		return
	}
	st.mu.Lock()
	if !st.disconnected {
		l.roomLocked(s, st, LifeJoin, room)
	}
	st.mu.Unlock()
}

// onLeave records explicit leaves; the leaves of a disconnecting socket
// are implied by its disconnect (as for a swept one).
func (l *lifecycle) onLeave(s *broker.Socket, room string) {
	st := existingState(s)
	if st == nil || !s.Connected() {
		return
	}
	st.mu.Lock()
	if st.recorded && !st.disconnected {
		l.roomLocked(s, st, LifeLeave, room)
	}
	st.mu.Unlock()
}

func (l *lifecycle) disconnected(s *broker.Socket, st *socketState, reason string) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if !st.recorded || st.disconnected {
		return
	}
	st.disconnected = true
	l.enqueue(l.event(s, st, LifeDisconnect, "", reason, st.tag+":"+LifeDisconnect))
}

// writer writes batches until Shutdown, then what is left.
func (l *lifecycle) writer() {
	defer close(l.writerDone)
	for {
		select {
		case ev := <-l.buf:
			l.write(l.collect(ev))
		case <-l.stop:
			l.drain()
			return
		}
	}
}

// collect fills a batch from first until BatchSize, FlushInterval or
// Shutdown.
func (l *lifecycle) collect(first LifeEvent) []LifeEvent {
	batch := append(make([]LifeEvent, 0, l.cfg.BatchSize), first)
	timer := time.NewTimer(l.cfg.FlushInterval)
	defer timer.Stop()
	for len(batch) < l.cfg.BatchSize {
		select {
		case ev := <-l.buf:
			batch = append(batch, ev)
		case <-timer.C:
			return batch
		case <-l.stop:
			return batch
		}
	}
	return batch
}

// drain writes every buffered event, in batches, without waiting.
func (l *lifecycle) drain() {
	for {
		var batch []LifeEvent
	fill:
		for len(batch) < l.cfg.BatchSize {
			select {
			case ev := <-l.buf:
				batch = append(batch, ev)
			default:
				break fill
			}
		}
		if len(batch) == 0 {
			return
		}
		l.write(batch)
	}
}

// write records a batch, retrying with backoff while Redis fails, until
// the bridge's context ends (then the batch is dropped and counted).
func (l *lifecycle) write(batch []LifeEvent) {
	backoff := 50 * time.Millisecond
	for {
		all, err := l.record(batch)
		if err == nil {
			l.b.stats.lifeWritten.Add(uint64(len(all)))
			l.post(all)
			return
		}
		l.b.redisFailure("lifecycle stream", err)
		select {
		case <-time.After(backoff):
		case <-l.b.reqCtx.Done():
			l.b.stats.lifeDropped.Add(uint64(len(batch)))
			return
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// record runs record.lua on a batch and returns the events written: the
// batch with the online/offline events it caused, each after its cause.
func (l *lifecycle) record(batch []LifeEvent) ([]LifeEvent, error) {
	b := l.b
	args := make([]any, 0, 3+10*len(batch))
	args = append(args, b.cfg.NodeID, b.cfg.NodeTTL.Milliseconds(), l.cfg.MaxLen)
	for _, ev := range batch {
		args = append(args, ev.Type, ev.Namespace, ev.SID, ev.User, ev.Room, ev.Reason, ev.Time, ev.ID, ev.tag, ev.socket)
	}
	ctx, cancel := context.WithTimeout(b.reqCtx, b.cfg.Timeout)
	defer cancel()
	ks := []string{l.keys.stream, l.keys.hb, l.keys.nodes, l.keys.sockets, l.keys.users}
	derived, err := scriptRecord.Run(ctx, b.rdb, ks, args...).Slice()
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, err
	}
	extra := make(map[int][]string, len(derived)/2)
	for i := 0; i+1 < len(derived); i += 2 {
		idx := toInt(derived[i])
		typ, _ := derived[i+1].(string)
		extra[idx] = append(extra[idx], typ)
	}
	out := make([]LifeEvent, 0, len(batch)+len(derived)/2)
	for i, ev := range batch {
		out = append(out, ev)
		for _, typ := range extra[i] {
			d := ev
			d.Type, d.Room, d.ID = typ, "", ev.tag+":"+typ
			if typ == LifeOnline {
				d.Reason = ""
			}
			out = append(out, d)
		}
	}
	return out, nil
}

func toInt(v any) int {
	switch x := v.(type) {
	case int64:
		return int(x)
	case string:
		n, _ := strconv.Atoi(x)
		return n
	}
	return -1
}

// post queues events for the webhook; a full queue drops and counts.
func (l *lifecycle) post(events []LifeEvent) {
	if l.webhook == nil || len(events) == 0 {
		return
	}
	for len(events) > 0 {
		n := min(len(events), l.cfg.BatchSize)
		select {
		case l.webhook <- events[:n]:
		default:
			l.b.stats.webhookDropped.Add(uint64(n))
		}
		events = events[n:]
	}
}

// sender posts webhook batches until the queue is closed.
func (l *lifecycle) sender() {
	for batch := range l.webhook {
		l.send(batch)
	}
}

// send posts one batch, retrying with exponential backoff (100ms to 10s)
// for at most RetryFor.
func (l *lifecycle) send(batch []LifeEvent) {
	b := l.b
	body, err := marshal(struct {
		Type   string      `json:"type"`
		Events []LifeEvent `json:"events"`
	}{HookLifecycle, batch})
	if err != nil {
		b.stats.webhookDropped.Add(uint64(len(batch)))
		return
	}
	deadline := time.Now().Add(l.cfg.RetryFor)
	backoff := 100 * time.Millisecond
	for {
		_, err := b.hooks.call(b.reqCtx, HookLifecycle, body)
		if err == nil {
			b.stats.webhookSent.Add(uint64(len(batch)))
			return
		}
		if failureKind(err) == kindRequestTooLarge || time.Now().Add(backoff).After(deadline) {
			b.stats.webhookDropped.Add(uint64(len(batch)))
			return
		}
		select {
		case <-time.After(backoff):
		case <-b.reqCtx.Done():
			b.stats.webhookDropped.Add(uint64(len(batch)))
			return
		}
		backoff = min(2*backoff, 10*time.Second)
	}
}
