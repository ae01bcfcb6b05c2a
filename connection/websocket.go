package connection

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/rs/zerolog"
)

// upgradeTimeout bounds a polling -> websocket upgrade from the websocket
// handshake to the "5" packet (the reference's upgradeTimeout).
const upgradeTimeout = 10 * time.Second

// wsConn is one websocket connection of a session. Reading is done by one
// reader at a time: the portable reader goroutine (readLoop) or a poller
// worker (poller_linux.go). Writes are done by the session's single flusher,
// or by the reader while the connection is still being probed.
type wsConn struct {
	srv       *Server
	sess      *session
	conn      net.Conn      // nil once detached to the poller
	br        *bufio.Reader // from the hijack; may hold early frames
	closeOnce sync.Once

	// Reader state: one reader at a time (readMu orders successive poller
	// workers for the race detector and for memory).
	readMu   sync.Mutex
	parser   frameParser
	probing  bool // polling -> websocket upgrade not complete yet
	started  bool // poller: early bytes fed, the fd may be read
	readDone bool // poller: reading ended (handler stop or bad input)

	pc    *pollConn // non-nil when the poller owns the fd (Linux); set before c is shared
	early []byte    // bytes buffered by net/http before the detach

	prev, next *wsConn // Server.wsConns list, guarded by Server.mu
}

var (
	errWSProtocol = errors.New("connection: websocket protocol error")
	errWSTooLarge = errors.New("connection: websocket message too large")
)

// write writes every buffer or fails, bounded by timeout.
func (c *wsConn) write(bufs *net.Buffers, timeout time.Duration) error {
	if c.pc != nil {
		return c.pc.writeBlocking(bufs, timeout)
	}
	_ = c.conn.SetWriteDeadline(time.Now().Add(timeout))
	_, err := bufs.WriteTo(c.conn)
	return err
}

func (c *wsConn) writeDirect(frame []byte) error {
	bufs := net.Buffers{frame}
	return c.write(&bufs, c.srv.cfg.WriteTimeout)
}

func (c *wsConn) closeConn() {
	c.closeOnce.Do(func() {
		if c.pc != nil {
			c.pc.close()
		} else {
			_ = c.conn.Close()
		}
		c.srv.mu.Lock()
		c.srv.unlinkWS(c)
		c.srv.mu.Unlock()
	})
}

// hijack performs the websocket handshake on the request; gobwas writes its
// own rejection response on failure.
func (srv *Server) hijack(w http.ResponseWriter, r *http.Request, s *session) (*wsConn, error) {
	u, ext := srv.upgrader()
	conn, rw, _, err := u.Upgrade(r, w)
	if err != nil {
		if conn != nil {
			_ = conn.Close()
		}
		return nil, err
	}
	c := &wsConn{srv: srv, sess: s, conn: conn, br: rw.Reader}
	if negotiated(ext) {
		c.parser.deflate, c.parser.inflations = true, &srv.counters.inflated
	}
	if srv.poller != nil {
		srv.poller.detach(c) // before c is visible to any writer
	}
	srv.mu.Lock()
	srv.linkWS(c)
	srv.mu.Unlock()
	return c, nil
}

// linkWS adds c to srv.wsConns; srv.mu is held.
func (srv *Server) linkWS(c *wsConn) {
	c.next = srv.wsConns
	if c.next != nil {
		c.next.prev = c
	}
	srv.wsConns = c
}

// unlinkWS removes c from srv.wsConns; srv.mu is held.
func (srv *Server) unlinkWS(c *wsConn) {
	if c.prev != nil {
		c.prev.next = c.next
	} else if srv.wsConns == c {
		srv.wsConns = c.next
	}
	if c.next != nil {
		c.next.prev = c.prev
	}
	c.prev, c.next = nil, nil
}

// startReading hands c to its reader: the poller when c was detached to it,
// else a goroutine blocked in read.
func (srv *Server) startReading(c *wsConn) {
	if c.pc != nil {
		srv.poller.start(c)
		return
	}
	srv.goTracked(func() { srv.readLoop(c) })
}

// serveWebsocket completes a websocket handshake for a session opened on
// the websocket transport: upgrade, attach, flush the open packet, read.
func (srv *Server) serveWebsocket(w http.ResponseWriter, r *http.Request, s *session) {
	c, err := srv.hijack(w, r, s)
	if err != nil {
		s.close(CloseTransportError)
		return
	}
	s.mu.Lock()
	if s.state != stateOpen {
		s.mu.Unlock()
		_ = c.writeDirect(closeFrame(wsCloseGoingAway).wsFrame())
		c.closeConn()
		return
	}
	s.ws = c
	s.kickLocked()
	s.mu.Unlock()
	srv.startReading(c)
}

// upgrade starts a polling -> websocket upgrade for s: the websocket is
// probed ("2probe" -> "3probe", the pending GET gets "6") until the client
// sends "5", then it carries the session.
//
// A websocket for a session that is already upgraded or being probed is
// accepted and closed at once (1000), as the reference does
// (engine.io server.ts onWebSocket: "transport had already been upgraded" /
// "has already been trying to upgrade"); the session is unaffected.
func (srv *Server) upgrade(w http.ResponseWriter, r *http.Request, s *session) {
	s.mu.Lock()
	ok := s.state == stateOpen && !srv.cfg.DisableUpgrades
	busy := s.transport != transportPolling || s.probe != nil
	s.mu.Unlock()
	if !ok {
		srv.refuse(w, r, ErrBadRequest)
		return
	}
	if busy {
		srv.rejectWebsocket(w, r, s)
		return
	}
	c, err := srv.hijack(w, r, s)
	if err != nil {
		return
	}
	c.probing = true
	s.mu.Lock()
	if s.state != stateOpen || s.transport != transportPolling || s.probe != nil {
		s.mu.Unlock()
		_ = c.writeDirect(closeFrame(wsCloseNormal).wsFrame())
		c.closeConn()
		return
	}
	s.probe = c
	s.mu.Unlock()
	time.AfterFunc(upgradeTimeout, func() {
		s.mu.Lock()
		stale := s.probe == c
		s.mu.Unlock()
		if stale {
			srv.abortProbe(c)
		}
	})
	srv.startReading(c)
}

// rejectWebsocket completes the websocket handshake and closes the
// connection at once with 1000, leaving s alone.
func (srv *Server) rejectWebsocket(w http.ResponseWriter, r *http.Request, s *session) {
	c, err := srv.hijack(w, r, s)
	if err != nil {
		return
	}
	_ = c.writeDirect(closeFrame(wsCloseNormal).wsFrame())
	c.closeConn()
	s.logAt(zerolog.DebugLevel).Str("remote", r.RemoteAddr).Msg("websocket for an upgraded or upgrading session closed")
}

// drainProbe handles, on the caller's goroutine, whatever the session's
// probe websocket has already received (poller only; a reader goroutine
// handles its bytes itself).
func (s *session) drainProbe() {
	s.mu.Lock()
	c := s.probe
	s.mu.Unlock()
	if c != nil && c.pc != nil {
		c.pc.drain()
	}
}

// abortProbe gives up an upgrade; the session continues on polling.
func (srv *Server) abortProbe(c *wsConn) {
	s := c.sess
	s.mu.Lock()
	mine := s.probe == c
	if mine {
		s.probe = nil
		s.upgrading = false
		s.wakeGetLocked()
	}
	s.mu.Unlock()
	c.closeConn()
	if mine {
		srv.counters.upgradesFailed.Add(1)
	}
}

// onProbeMessage runs the upgrade exchange. It returns false when reading
// must stop (the probe failed).
func (srv *Server) onProbeMessage(c *wsConn, op byte, data []byte) bool {
	s := c.sess
	switch op {
	case opPing:
		return c.writeDirect(rawFrame(opPong, data).wsFrame()) == nil || srv.failProbe(c)
	case opPong:
		return true
	case opText:
	default:
		return srv.failProbe(c)
	}
	p, err := decodePacket(data)
	if err != nil {
		return srv.failProbe(c)
	}
	if p.typ == packetPing && string(p.data) == "probe" {
		if c.writeDirect(pongProbeMessage.wsFrame()) != nil {
			return srv.failProbe(c)
		}
		s.mu.Lock()
		if s.probe == c {
			s.upgrading = true
			s.wakeGetLocked()
		}
		s.mu.Unlock()
		return true
	}
	if p.typ != packetUpgrade {
		return srv.failProbe(c)
	}
	s.mu.Lock()
	if s.state != stateOpen || s.probe != c || !s.upgrading {
		s.mu.Unlock()
		return srv.failProbe(c)
	}
	s.probe = nil
	s.upgrading = false
	s.transport = transportWebsocket
	s.ws = c
	c.probing = false
	s.wakeGetLocked() // a pending GET answers "6"
	s.kickLocked()
	s.mu.Unlock()
	s.alive()
	srv.counters.upgrades.Add(1)
	s.logAt(zerolog.DebugLevel).Msg("upgraded to websocket")
	return true
}

func (srv *Server) failProbe(c *wsConn) bool {
	srv.abortProbe(c)
	return false
}

// handle is the frame parser's emit for c.
func (c *wsConn) handle(op byte, data []byte) bool {
	if c.probing {
		return c.srv.onProbeMessage(c, op, data)
	}
	return c.srv.onWSMessage(c.sess, op, data)
}

// onReadEnd handles the end of reading c: an I/O error, EOF, or bad input.
func (c *wsConn) onReadEnd(err error) {
	if c.probing {
		c.srv.abortProbe(c)
		return
	}
	c.srv.onWSError(c.sess, err)
}

// readLoop is the portable readiness: one goroutine blocks in read for each
// websocket and feeds whatever arrived to the frame parser. The Linux
// poller replaces only this loop (poller_linux.go).
func (srv *Server) readLoop(c *wsConn) {
	c.readMu.Lock()
	defer c.readMu.Unlock()
	for {
		if _, err := c.br.Peek(1); err != nil {
			c.onReadEnd(err)
			return
		}
		b, _ := c.br.Peek(c.br.Buffered())
		more, err := c.parser.feed(b, srv.cfg.MaxPayload, c.handle)
		_, _ = c.br.Discard(len(b))
		if err != nil {
			c.onReadEnd(err)
			return
		}
		if !more {
			return
		}
	}
}

func (srv *Server) onWSError(s *session, err error) {
	switch {
	case errors.Is(err, errWSTooLarge):
		s.closeWith(CloseTooLarge, wsCloseTooBig, false)
	case errors.Is(err, errWSProtocol):
		srv.counters.parse.Add(1)
		s.closeWith(CloseParseError, wsCloseProtocolError, false)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		s.close(CloseTransportClose)
	default:
		s.close(CloseTransportError)
	}
}

// onWSMessage handles one websocket message or control frame for s. data
// is valid only during the call. It returns false to stop reading.
func (srv *Server) onWSMessage(s *session, op byte, data []byte) bool {
	switch op {
	case opPing:
		_ = s.sendControl(rawFrame(opPong, append([]byte(nil), data...)))
		return true
	case opPong:
		return true
	case opClose:
		s.closeWith(CloseTransportClose, wsCloseNormal, false)
		return false
	case opBinary:
		return s.onPacket(packet{typ: packetMessage, binary: true, data: data})
	}
	if !utf8.Valid(data) {
		srv.counters.parse.Add(1)
		s.closeWith(CloseParseError, wsCloseInvalidData, false)
		return false
	}
	p, err := decodePacket(data)
	if err != nil {
		srv.counters.parse.Add(1)
		s.closeWith(CloseParseError, wsCloseProtocolError, false)
		return false
	}
	return s.onPacket(p)
}
