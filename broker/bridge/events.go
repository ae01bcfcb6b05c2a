package bridge

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/rs/zerolog"

	"github.com/ionbus/ionbus/broker"
	"github.com/ionbus/ionbus/broker/access"
)

// Client-visible codes of forwarded events (the standard error event's
// error_code, and the error ack's). BACKEND_UNAVAILABLE is
// access.CodeBackendUnavailable.
const (
	// CodeBackendBusy: the socket already has MaxInflightPerSocket events
	// queued or in flight. retry_possible true.
	CodeBackendBusy = access.CodeBackendBusy
)

// job is one forwarded event waiting in its socket's queue.
type job struct {
	e   *broker.Event
	via Via
}

// eventRequest is the body of the event hook.
type eventRequest struct {
	Type      string      `json:"type"`
	Namespace string      `json:"namespace"`
	Event     string      `json:"event"`
	Args      []any       `json:"args"`
	Ack       bool        `json:"ack"`
	Socket    *socketInfo `json:"socket"`
}

// socketInfo describes the sending socket in event requests and stream
// entries.
type socketInfo struct {
	ID    string    `json:"id"`
	User  *userInfo `json:"user"`
	Rooms []string  `json:"rooms"`
	Data  any       `json:"data"`
}

// enqueue runs on the socket's session callback: it must not block. The
// event joins its socket's FIFO; a worker goroutine is started when the
// socket has none.
func (b *Bridge) enqueue(e *broker.Event, via Via) {
	if b.closed.Load() {
		b.replyError(e, access.CodeBackendUnavailable, "the node is shutting down", true)
		return
	}
	s := e.Socket
	st := b.state(s)
	st.mu.Lock()
	if st.inflight >= b.cfg.MaxInflightPerSocket {
		st.mu.Unlock()
		b.stats.refusedBusy.Add(1)
		b.replyBusy(e)
		return
	}
	st.inflight++
	st.queue = append(st.queue, job{e, via})
	start := !st.running
	st.running = true
	st.mu.Unlock()
	if start && !b.goroutine(&b.workers, func() { b.work(s, st) }) {
		// Shutdown began meanwhile; no worker ran, so the queue holds
		// only this event.
		st.mu.Lock()
		st.queue, st.inflight, st.running = nil, 0, false
		st.mu.Unlock()
		b.replyError(e, access.CodeBackendUnavailable, "the node is shutting down", true)
	}
}

// work sends the socket's queued events one at a time, in order, and
// exits when the queue is empty.
func (b *Bridge) work(s *broker.Socket, st *socketState) {
	for {
		st.mu.Lock()
		if len(st.queue) == 0 {
			st.queue, st.running = nil, false // an idle socket keeps no queue
			st.mu.Unlock()
			return
		}
		j := st.queue[0]
		st.queue[0] = job{}
		st.queue = st.queue[1:]
		st.mu.Unlock()
		b.forward(s, j)
		st.mu.Lock()
		st.inflight--
		st.mu.Unlock()
	}
}

func (b *Bridge) forward(s *broker.Socket, j job) {
	e := j.e
	args, err := e.Args()
	if err != nil {
		b.replyError(e, access.CodeInvalidPayload, "arguments could not be decoded", false)
		return
	}
	for i, a := range args {
		args[i] = encodeBinary(a)
	}
	sock := b.socketInfo(s)
	switch j.via {
	case ViaStream:
		b.forwardStream(e, args, sock)
	default:
		b.forwardHTTP(e, args, sock)
	}
}

func (b *Bridge) socketInfo(s *broker.Socket) *socketInfo {
	return &socketInfo{ID: s.ID(), User: userOf(access.Identity(s)), Rooms: s.Rooms(), Data: s.Data()}
}

// marshalSocket encodes info; data that does not marshal is sent as null.
func marshalSocket(info *socketInfo) []byte {
	b, err := marshal(info)
	if err != nil {
		info.Data = nil
		b, _ = marshal(info)
	}
	return b
}

func (b *Bridge) forwardHTTP(e *broker.Event, args []any, sock *socketInfo) {
	req := eventRequest{Type: HookEvent, Namespace: e.Socket.Namespace().Name(), Event: e.Name, Args: args, Ack: e.WantsAck(), Socket: sock}
	body, err := marshal(req)
	if err != nil {
		req.Socket.Data = nil // the only part that may not marshal
		if body, err = marshal(req); err != nil {
			b.replyError(e, access.CodeInvalidPayload, "arguments could not be encoded", false)
			return
		}
	}
	ctx, cancel := b.callCtx(context.Background())
	raw, err := b.hooks.call(ctx, HookEvent, body)
	cancel()
	var a *answer
	if err == nil {
		a, err = b.decode(HookEvent, raw)
	}
	if err != nil {
		if failureKind(err) == kindRequestTooLarge {
			b.replyError(e, access.CodeMessageTooLarge, "the event is too large for the backend", false)
			return
		}
		b.replyError(e, access.CodeBackendUnavailable, "the backend is unavailable", true)
		return
	}
	b.stats.forwardedHTTP.Add(1)
	b.apply(e, a)
}

// apply carries out an event answer: an error alone; otherwise join,
// leave, the emits in order, then the ack.
func (b *Bridge) apply(e *broker.Event, a *answer) {
	s := e.Socket
	if a.Error != nil {
		var details map[string]any
		if a.Error.Data != nil {
			details = map[string]any{"data": a.Error.Data}
		}
		b.stats.eventErrors.Add(1)
		b.sendError(e, a.Error.Code, a.Error.Message, details, false)
		return
	}
	if len(a.Join) > 0 {
		s.Join(a.Join...)
	}
	if len(a.Leave) > 0 {
		s.Leave(a.Leave...)
	}
	for _, m := range a.Emit {
		if err := s.Emit(m.Event, m.Args...); err != nil && !errors.Is(err, broker.ErrNotConnected) {
			b.log.Debug().Err(err).Str("event", m.Event).Msg("backend emit not delivered")
		}
	}
	if e.WantsAck() {
		_ = e.Ack(a.Ack...)
	}
}

func (b *Bridge) forwardStream(e *broker.Event, args []any, sock *socketInfo) {
	argsJSON, err := marshal(args)
	if err != nil {
		b.replyError(e, access.CodeInvalidPayload, "arguments could not be encoded", false)
		return
	}
	ctx, cancel := b.callCtx(context.Background())
	ctx, cancelT := context.WithTimeout(ctx, b.cfg.Timeout)
	id, err := b.streamQ.add(ctx, []any{
		"type", HookEvent,
		"namespace", e.Socket.Namespace().Name(),
		"event", e.Name,
		"args", string(argsJSON),
		"ack", strconv.FormatBool(e.WantsAck()),
		"socket", string(marshalSocket(sock)),
		"node", b.cfg.NodeID,
		"time", b.cfg.Now().UTC().Format(time.RFC3339Nano),
	})
	cancelT()
	cancel()
	if err != nil {
		b.redisFailure("event stream", err)
		b.replyError(e, access.CodeBackendUnavailable, "the event stream is unavailable", true)
		return
	}
	b.stats.forwardedStream.Add(1)
	if e.WantsAck() {
		_ = e.Ack(map[string]any{"ok": true, "id": id})
	}
}

// redisFailure counts and logs (once per burst) a failed Redis write.
func (b *Bridge) redisFailure(what string, err error) {
	b.stats.failures.add(kindRedis)
	b.burst.warn("redis/"+what, func(ev *zerolog.Event) {
		ev.Err(err).Str("op", what).Msg("bridge: redis write failed")
	})
}

func (b *Bridge) replyBusy(e *broker.Event) {
	b.sendError(e, CodeBackendBusy, "too many events in flight for this socket", nil, true)
}

// replyError answers a forwarded event with one of the bridge's codes.
func (b *Bridge) replyError(e *broker.Event, code, msg string, retry bool) {
	b.stats.eventErrors.Add(1)
	b.sendError(e, code, msg, nil, retry)
}

// sendError is the standard error event (access.ErrorEvent), also the
// ack's first argument (access.ErrorAck) when the client asked for one.
func (b *Bridge) sendError(e *broker.Event, code, msg string, details map[string]any, retry bool) {
	access.RefuseEvent(e, access.EventErrorPayload(e, code, msg, details, retry, b.cfg.Now()))
}
