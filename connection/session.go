package connection

import (
	"net"
	"os"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
)

type sessionState uint8

const (
	stateOpen    sessionState = 0
	stateClosing sessionState = 1 // close decided; queued frames still being written
	stateClosed  sessionState = 2 // transport released
)

// session is one Engine.IO session; it implements Conn.
//
// Lock order: session.cbMu and session.mu are never held together;
// Server.mu may be taken after neither; wheel.mu is a leaf. No network I/O
// happens under any of them.
type session struct {
	srv   *Server
	id    string
	hs    *Handshake
	value any // Conn.SetValue; written in OnOpen, before any other callback

	// Heartbeat. wheelSlot is guarded by srv.wheel.mu; hbPhase is owned by
	// the scheduler goroutine.
	wheelSlot    int
	hbPhase      int
	awaitingPong atomic.Bool
	pongAt       atomic.Int64 // unix nanos of the first packet after a ping
	pongDeadline atomic.Int64 // unix nanos: the last ping's pong deadline
	hbDue        int64        // unix nanos the pending timer was due; owned like hbPhase (a time.Time costs 16 B more per session)

	// Epoll write path, owned by whoever holds the write (s.flushing set
	// and not parked): frames a writev left unwritten (EAGAIN), and the
	// timer bounding the wait for EPOLLOUT. Both nil while idle.
	pending    [][]byte
	writeTimer *time.Timer

	mu         sync.Mutex
	state      sessionState
	reason     CloseReason
	wsCode     int    // websocket close code to send; 0: derived from reason
	transport  string // transportPolling or transportWebsocket
	queue      []*Message
	spare      []*Message // recycled queue backing array
	queueBytes int        // sum of queuedSize of application messages in queue
	inflight   int        // queueBytes taken by the writer and not yet written
	ws         *wsConn    // the websocket once it carries the session
	flushing   bool       // a writer (flusher worker or flush goroutine) owns writes to ws
	pollGet    chan struct{}
	postActive bool
	postCut    func()  // ends the active POST's body read (its read deadline, now)
	probe      *wsConn // a websocket being probed for upgrade
	upgrading  bool    // probe answered: polling GETs only get noop
	lingering  bool    // closed by Conn.Close; waiting for a GET to deliver "1"

	// Handler callback serialization; see post.
	cbMu      sync.Mutex
	cbRunning bool
	cbDone    bool // OnClose delivered or queued; nothing may follow it
	cbEvents  []cbEvent
}

var _ Conn = (*session)(nil)

func (s *session) ID() string         { return s.id }
func (s *session) RemoteAddr() string { return s.hs.RemoteAddr }
func (s *session) SetValue(v any)     { s.value = v }
func (s *session) Value() any         { return s.value }

func (s *session) Transport() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.transport
}

// Send implements Conn.Send.
func (s *session) Send(msgs ...*Message) error {
	if len(msgs) == 0 {
		return nil
	}
	total := 0
	volatile := len(msgs) > 0
	for _, m := range msgs {
		total += m.queuedSize()
		volatile = volatile && m.Volatile
	}
	s.mu.Lock()
	if s.state != stateOpen {
		s.mu.Unlock()
		return ErrClosed
	}
	if volatile && s.congestedLocked() {
		s.mu.Unlock()
		s.srv.counters.volatile.Add(uint64(len(msgs)))
		return ErrDropped
	}
	if s.queueBytes+s.inflight+total > s.srv.cfg.MaxQueueBytes {
		s.mu.Unlock()
		s.srv.counters.slow.Add(1)
		s.close(CloseSlowConsumer)
		return ErrQueueFull
	}
	s.queue = append(s.queue, msgs...)
	s.queueBytes += total
	s.kickLocked()
	s.mu.Unlock()
	return nil
}

// sendControl queues a control packet or frame. It is not counted against
// MaxQueueBytes and never dropped.
func (s *session) sendControl(m *Message) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state != stateOpen {
		return ErrClosed
	}
	s.queue = append(s.queue, m)
	s.kickLocked()
	return nil
}

// congestedLocked reports whether the transport cannot take a message now:
// something is already waiting or being written, or polling has no GET to
// answer.
func (s *session) congestedLocked() bool {
	if len(s.queue) > 0 || s.flushing {
		return true
	}
	if s.transport == transportPolling || s.ws == nil {
		return s.pollGet == nil || s.upgrading
	}
	return false
}

// kickLocked makes queued data move: it hands a websocket to its writer,
// or wakes the pending polling GET.
func (s *session) kickLocked() {
	if s.transport == transportWebsocket && s.ws != nil {
		if !s.flushing && len(s.queue) > 0 {
			s.startFlushLocked()
		}
		return
	}
	s.wakeGetLocked()
}

// startFlushLocked gives s.ws a writer; s.mu held, s.flushing false. A
// poller-owned websocket goes on the flusher's ready queue (no goroutine);
// any other gets a flush goroutine with blocking writes. Either way the
// write counts in srv.goroutines, so Shutdown waits for queued frames.
func (s *session) startFlushLocked() {
	s.flushing = true
	if s.ws.pc != nil && s.srv.flusher != nil {
		s.srv.goroutines.add() // done when the flush ends (flushStep)
		s.srv.flusher.push(s)
		return
	}
	s.srv.goTracked(s.flush)
}

func (s *session) wakeGetLocked() {
	if s.pollGet != nil {
		select {
		case s.pollGet <- struct{}{}:
		default:
		}
	}
}

func (s *session) dropQueueLocked() {
	clear(s.queue)
	s.queue = s.queue[:0]
	s.queueBytes = 0
}

// flush writes the websocket queue until it is empty, coalescing every
// queued frame into one writev. Only one flush runs per session (flushing).
// When the session is closing it closes the connection after the last frame.
func (s *session) flush() {
	var frames [][]byte
	for {
		s.mu.Lock()
		if len(s.queue) == 0 {
			s.flushing = false
			closing := s.state == stateClosing
			if closing {
				s.state = stateClosed
			}
			c := s.ws
			s.mu.Unlock()
			if closing {
				c.closeConn()
			}
			return
		}
		batch := s.queue
		s.queue, s.spare = s.spare[:0], nil
		s.queueBytes = 0
		c := s.ws
		s.mu.Unlock()

		frames = frames[:0]
		for _, m := range batch {
			frames = append(frames, c.frame(m))
		}
		bufs := net.Buffers(frames) // WriteTo consumes its copy of the header
		err := c.write(&bufs, s.srv.cfg.WriteTimeout)
		clear(batch)
		clear(frames)
		s.mu.Lock()
		if s.spare == nil && cap(batch) <= 64 {
			s.spare = batch[:0]
		}
		s.mu.Unlock()
		if err != nil {
			s.logAt(zerolog.DebugLevel).Err(err).Msg("websocket write failed")
			s.close(CloseTransportError)
			s.mu.Lock()
			s.state = stateClosed
			s.flushing = false
			s.dropQueueLocked()
			s.mu.Unlock()
			c.closeConn()
			return
		}
	}
}

// flushStep is one turn of a flusher worker on a poller-owned websocket
// (flusher.go): write what the session has, without blocking. Frames that
// the socket does not take (EAGAIN) stay in s.pending, EPOLLOUT is armed
// and the writable event pushes s back; a session that still has data
// after a few rounds goes to the back of the ready queue so one busy
// socket cannot hold a worker. The caller owns the write (s.flushing).
func (s *session) flushStep(w *flushScratch) {
	if w == nil {
		w = new(flushScratch)
	}
	var written []*Message // the last batch, on the wire: its array becomes the spare
	s.mu.Lock()
	c := s.ws
	for round := 0; ; round++ {
		if len(s.pending) > 0 { // resumed after EAGAIN
			s.mu.Unlock()
			s.srv.counters.writes.Add(1)
			blocked, err := c.pc.writeSome(&s.pending)
			if err != nil {
				s.writeFailed(c, err)
				return
			}
			if blocked {
				s.parkWrite(c)
				return
			}
			s.pending = nil
			s.mu.Lock()
		}
		s.inflight = 0 // everything taken so far is written
		if written != nil && s.spare == nil && cap(written) <= 64 {
			s.spare = written[:0]
		}
		written = nil
		if len(s.queue) == 0 {
			s.pending = nil // before releasing the write: a new writer may start at once
			s.flushing = false
			closing := s.state == stateClosing
			if closing {
				s.state = stateClosed
			}
			s.mu.Unlock()
			if closing {
				c.closeConn()
			}
			s.srv.goroutines.done()
			return
		}
		if round == 4 { // more queued meanwhile: take turns with other sessions
			s.mu.Unlock()
			s.srv.flusher.push(s)
			return
		}
		batch := s.queue
		s.queue, s.spare = s.spare[:0], nil
		s.inflight = s.queueBytes
		s.queueBytes = 0
		s.mu.Unlock()

		frames := w.frames[:0]
		for _, m := range batch {
			frames = append(frames, c.frame(m)) // the frame bytes stay alive through frames
		}
		w.frames = frames
		clear(batch)
		s.srv.counters.writes.Add(1)
		blocked, err := c.pc.writeSome(&frames)
		if err == nil && blocked {
			// Keep what the socket did not take; the scratch is the worker's.
			s.pending = append([][]byte(nil), frames...)
		}
		clear(w.frames)
		if err != nil {
			s.writeFailed(c, err)
			return
		}
		if blocked {
			s.parkWrite(c)
			return
		}
		written = batch
		s.mu.Lock()
	}
}

// parkWrite waits for EPOLLOUT with the remainder in s.pending, bounded by
// Config.WriteTimeout. Whoever clears the parked state (the writable
// event, the timer, or the fd closing) resumes the write. The timer is
// made before the park is armed, so a resumer always sees it.
func (s *session) parkWrite(c *wsConn) {
	s.srv.counters.writesBlocked.Add(1)
	gen := c.pc.nextPark()
	s.writeTimer = time.AfterFunc(s.srv.cfg.WriteTimeout, func() {
		if c.pc.unparkWrite(gen) {
			s.writeFailed(c, os.ErrDeadlineExceeded)
		}
	})
	c.pc.parkWrite()
}

// resumeWrite is called by the poller when a parked write may go on.
func (s *session) resumeWrite() {
	if s.writeTimer != nil {
		s.writeTimer.Stop()
		s.writeTimer = nil
	}
	s.srv.flusher.push(s)
}

// writeFailed ends a poller-owned websocket whose write failed or timed
// out; the caller owns the write.
func (s *session) writeFailed(c *wsConn, err error) {
	s.logAt(zerolog.DebugLevel).Err(err).Msg("websocket write failed")
	if s.writeTimer != nil {
		s.writeTimer.Stop()
		s.writeTimer = nil
	}
	s.pending = nil
	s.close(CloseTransportError)
	s.mu.Lock()
	s.state = stateClosed
	s.flushing = false
	s.inflight = 0
	s.dropQueueLocked()
	s.mu.Unlock()
	c.closeConn()
	s.srv.goroutines.done()
}

// logAt starts a log event carrying the sid, or returns nil (every method
// of a nil *zerolog.Event is a no-op) when the level is disabled. Sessions
// keep no derived logger: one costs ~600 B per idle session.
func (s *session) logAt(level zerolog.Level) *zerolog.Event {
	return s.srv.log.WithLevel(level).Str("sid", s.id)
}

// Close implements Conn.Close.
func (s *session) Close(reason CloseReason) error {
	if reason == CloseNone {
		reason = CloseServerClose
	}
	if !s.closeWith(reason, 0, true) {
		return ErrClosed
	}
	return nil
}

func (s *session) close(reason CloseReason) { s.closeWith(reason, 0, false) }

// closeWith starts closing the session once; later calls return false.
// Queued frames are flushed first (except on a slow consumer or a broken
// transport); OnClose is delivered after every earlier OnMessage.
//
// linger (a close asked for through Conn.Close) keeps a polling session
// with no pending GET reachable until the next GET, which gets the queue
// and "1" (bounded by PingTimeout), as the reference's socket.close() does;
// a close packet from the client lingers too, its next GET getting the
// queue and "6". Engine-side closes (errors, timeouts, shutdown) drop it at
// once, so later requests get "Session ID unknown".
func (s *session) closeWith(reason CloseReason, wsCode int, linger bool) bool {
	s.mu.Lock()
	if s.state != stateOpen {
		s.mu.Unlock()
		return false
	}
	s.state = stateClosing
	s.reason = reason
	if wsCode == 0 {
		wsCode = wsCloseCode(reason)
	}
	s.wsCode = wsCode
	if reason == CloseSlowConsumer || reason == CloseTransportError {
		s.dropQueueLocked()
	}
	probe := s.probe
	s.probe = nil
	s.upgrading = false
	if s.postCut != nil {
		s.postCut() // a POST still reading its body ends now
		s.postCut = nil
	}
	switch {
	case s.transport == transportWebsocket && s.ws != nil:
		if reason != CloseTransportError {
			s.queue = append(s.queue, closeFrame(wsCode))
		}
		if !s.flushing {
			s.startFlushLocked()
		}
	case s.pollGet != nil:
		s.wakeGetLocked() // the GET answers with the queue and "1", then marks closed
	case linger && s.transport == transportPolling:
		s.lingering = true
	default:
		s.state = stateClosed
		s.dropQueueLocked()
	}
	lingering := s.lingering
	s.mu.Unlock()

	if probe != nil {
		probe.closeConn()
	}
	s.srv.unregister(s, lingering)
	if lingering {
		s.srv.wheel.schedule(s, s.srv.cfg.Now().Add(s.srv.cfg.PingTimeout))
	} else {
		s.srv.wheel.cancel(s)
	}
	s.srv.counters.closed[reason].Add(1)
	s.logAt(zerolog.DebugLevel).Stringer("reason", reason).Msg("session closed")
	s.post(cbEvent{close: true, reason: reason}, false)
	return true
}

// cbEvent is one queued handler call.
type cbEvent struct {
	msg    Message
	close  bool
	reason CloseReason
	fn     func() // Conn.Do
}

// Do implements Conn.
func (s *session) Do(fn func()) bool { return s.post(cbEvent{fn: fn}, false) }

// post delivers a handler event with per-session serialization and no
// dedicated goroutine: if no callback of this session is running, the
// caller runs it (inline=true, e.g. the reader) or a tracked goroutine is
// started (inline=false, e.g. a close from the heartbeat scheduler);
// otherwise the event is queued for whoever is running, with its data
// copied because the caller's buffer will be reused.
// It reports whether the event was taken (false once a close is queued).
func (s *session) post(ev cbEvent, inline bool) bool {
	s.cbMu.Lock()
	if s.cbDone {
		s.cbMu.Unlock()
		return false
	}
	if ev.close {
		s.cbDone = true
	}
	if s.cbRunning || !inline {
		if !ev.close && ev.msg.Data != nil {
			ev.msg.Data = append([]byte(nil), ev.msg.Data...)
		}
		s.cbEvents = append(s.cbEvents, ev)
		if !s.cbRunning {
			s.cbRunning = true
			s.cbMu.Unlock()
			s.srv.goTracked(s.runEvents)
			return true
		}
		s.cbMu.Unlock()
		return true
	}
	s.cbRunning = true
	s.cbMu.Unlock()
	s.invoke(ev)
	s.runEvents()
	return true
}

// runEvents drains queued events, then releases the running flag.
func (s *session) runEvents() {
	for {
		s.cbMu.Lock()
		if len(s.cbEvents) == 0 {
			s.cbRunning = false
			s.cbEvents = nil
			s.cbMu.Unlock()
			return
		}
		ev := s.cbEvents[0]
		s.cbEvents[0] = cbEvent{}
		s.cbEvents = s.cbEvents[1:]
		s.cbMu.Unlock()
		s.invoke(ev)
	}
}

func (s *session) invoke(ev cbEvent) {
	if ev.close {
		defer s.srv.openSessions.done()
	}
	// A panicking handler must not take the worker (and every other
	// session) down: log it, count it, close this session.
	defer func() {
		if v := recover(); v != nil {
			s.srv.counters.panics.Add(1)
			s.logAt(zerolog.ErrorLevel).Interface("panic", v).Bytes("stack", debug.Stack()).Msg("handler panicked")
			s.close(CloseServerClose)
		}
	}()
	if ev.close {
		s.srv.h.OnClose(s, ev.reason)
		return
	}
	if ev.fn != nil {
		ev.fn()
		return
	}
	s.srv.h.OnMessage(s, ev.msg)
}

// onPacket handles one decoded inbound packet on the session's current
// transport. It returns false when the session must stop reading.
func (s *session) onPacket(p packet) bool {
	s.alive()
	switch p.typ {
	case packetMessage:
		s.srv.counters.received.Add(1)
		s.post(cbEvent{msg: Message{Binary: p.binary, Data: p.data}}, true)
	case packetClose:
		// Linger like Conn.Close: a polling GET that the client sent
		// alongside this POST but that is handled after it still gets its
		// "6" (the reference answers it only when it is handled first).
		s.closeWith(CloseClientClose, 0, true)
		return false
	case packetPing:
		// v4 heartbeats go server -> client only ("invalid heartbeat
		// direction" in the reference).
		s.srv.counters.parse.Add(1)
		s.closeWith(CloseParseError, wsCloseProtocolError, false)
		return false
	case packetPong, packetNoop, packetUpgrade, packetOpen:
		// pong: liveness recorded above; the others carry nothing here.
	}
	return true
}
