package connection

import (
	"errors"
	"io"
	"net/http"
	"strconv"
	"time"
)

// pollGet answers a long-polling GET: immediately when something is queued,
// otherwise when something is queued, the session closes or upgrades (noop).
// A second concurrent GET closes the session (CloseDoubleGet); the first
// GET then gets "1" and the second 400, as in the reference. A GET the
// client abandons closes the session (CloseTransportError).
func (srv *Server) pollGet(w http.ResponseWriter, r *http.Request, s *session) {
	s.mu.Lock()
	if s.transport != transportPolling {
		s.mu.Unlock()
		srv.refuse(w, r, ErrBadRequest)
		return
	}
	if s.pollGet != nil {
		s.mu.Unlock()
		s.close(CloseDoubleGet)
		srv.refuse(w, r, ErrBadRequest)
		return
	}
	if s.state == stateClosed {
		s.mu.Unlock()
		srv.refuse(w, r, ErrUnknownSid)
		return
	}
	wake := make(chan struct{}, 1)
	s.pollGet = wake
	ready := s.pollReadyLocked()
	s.mu.Unlock()

	aborted := false
	if !ready {
		select {
		case <-wake:
		case <-r.Context().Done():
			aborted = true
		}
	}

	s.mu.Lock()
	s.pollGet = nil
	if aborted && s.state == stateOpen {
		s.mu.Unlock()
		s.close(CloseTransportError)
		return
	}
	var batch []*Message
	keepLinger := false
	switch {
	case s.transport != transportPolling || (s.upgrading && s.state == stateOpen):
		batch = []*Message{noopMessage}
	default:
		batch = s.queue
		s.queue = nil
		s.queueBytes = 0
		switch {
		case s.state != stateClosing:
		case len(batch) > 0 && s.reason != CloseClientClose && !srv.shutdownStarted.Load():
			// Deliver the last messages alone and "1" on the next GET, as
			// the reference does (close waits for "drain"): the JS client
			// dispatches Socket.IO packets on the next tick, so a "1" in
			// the same payload would overtake a final DISCONNECT and the
			// client would report "transport close".
			keepLinger = true
		case s.reason == CloseClientClose:
			batch = append(batch, noopMessage)
			s.state = stateClosed
		default:
			batch = append(batch, closeMessage)
			s.state = stateClosed
		}
	}
	lingered := s.lingering
	s.lingering = keepLinger
	s.mu.Unlock()
	switch {
	case keepLinger:
		srv.unregister(s, true)
		srv.wheel.schedule(s, srv.cfg.Now().Add(srv.cfg.PingTimeout))
	case lingered:
		srv.unregister(s, false)
		srv.wheel.cancel(s)
	}
	if len(batch) == 0 { // woken spuriously (e.g. a volatile raced): answer noop
		batch = []*Message{noopMessage}
	}

	n := len(batch) - 1
	for _, m := range batch {
		n += len(m.pollForm())
	}
	body := make([]byte, 0, n)
	for i, m := range batch {
		if i > 0 {
			body = append(body, payloadSeparator)
		}
		body = append(body, m.pollForm()...)
	}
	srv.setCORS(w, r)
	encoding, body, release := srv.compressBody(r, body)
	defer release()
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=UTF-8")
	if encoding != "" {
		h.Set("Content-Encoding", encoding)
	}
	if !srv.cfg.HTTPCompression.Disabled {
		h.Add("Vary", "Accept-Encoding")
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set("Cache-Control", "no-store")
	_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(srv.cfg.WriteTimeout))
	w.WriteHeader(http.StatusOK)
	if _, err := w.Write(body); err != nil {
		s.close(CloseTransportError)
	}
}

// pollReadyLocked: a GET can be answered now.
func (s *session) pollReadyLocked() bool {
	return len(s.queue) > 0 || s.state != stateOpen || s.upgrading || s.transport != transportPolling
}

var errStopPayload = errors.New("connection: stop payload")

// pollPost decodes a POST body as a payload and dispatches its packets on
// the request goroutine (data valid during OnMessage only). It answers "ok";
// 413 past MaxPayload (the session stays, as in the reference); 400 and
// CloseParseError on a malformed payload; 400 and CloseDoubleGet on
// overlapping POSTs.
func (srv *Server) pollPost(w http.ResponseWriter, r *http.Request, s *session) {
	s.mu.Lock()
	if s.transport != transportPolling {
		s.mu.Unlock()
		srv.refuse(w, r, ErrBadRequest)
		return
	}
	if s.postActive {
		s.mu.Unlock()
		s.close(CloseDoubleGet)
		srv.refuse(w, r, ErrBadRequest)
		return
	}
	if s.state != stateOpen { // lingering after Conn.Close: accept and ignore
		s.mu.Unlock()
		srv.writeOK(w, r)
		return
	}
	// The body is read within BodyTimeout, and no longer than the session
	// lives: its close sets the deadline to now.
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(srv.cfg.Now().Add(srv.cfg.BodyTimeout))
	s.postActive = true
	s.postCut = func() { _ = rc.SetReadDeadline(time.Unix(1, 0)) }
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.postActive = false
		s.postCut = nil
		s.mu.Unlock()
	}()

	max := srv.cfg.MaxPayload
	if r.ContentLength > int64(max) {
		srv.tooLarge(w, r, s)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, int64(max)+1))
	s.mu.Lock()
	s.postCut = nil // read: a close from here on must not touch the connection
	s.mu.Unlock()
	if err == nil {
		// The connection may carry the next request (keep-alive).
		_ = rc.SetReadDeadline(time.Time{})
	}
	if err != nil {
		// Too slow (BodyTimeout), the session closed meanwhile, or the
		// client went away.
		srv.counters.slowBodies.Add(1)
		s.close(CloseTransportError)
		srv.refuse(w, r, ErrBadRequest)
		return
	}
	if len(body) > max {
		srv.tooLarge(w, r, s)
		return
	}
	err = decodePayload(body, func(p packet) error {
		if !s.onPacket(p) {
			return errStopPayload
		}
		return nil
	})
	if err != nil && err != errStopPayload {
		srv.counters.parse.Add(1)
		s.close(CloseParseError)
		srv.refuse(w, r, ErrBadRequest)
		return
	}
	srv.writeOK(w, r)
}

func (srv *Server) writeOK(w http.ResponseWriter, r *http.Request) {
	srv.setCORS(w, r)
	h := w.Header()
	h.Set("Content-Type", "text/html")
	h.Set("Content-Length", "2")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write([]byte("ok"))
}

// tooLarge refuses a POST body over MaxPayload with 413. Like the reference
// (engine.io polling.ts onDataRequest) only the request is refused: the
// session lives on. (A websocket message over MaxPayload closes the
// session: CloseTooLarge, 1009.)
func (srv *Server) tooLarge(w http.ResponseWriter, r *http.Request, s *session) {
	srv.counters.tooLarge.Add(1)
	// Drain a bounded amount so a client still sending its body reads the
	// 413 instead of a reset; net/http closes the connection past that.
	_, _ = io.CopyN(io.Discard, r.Body, 256<<10)
	srv.setCORS(w, r)
	w.WriteHeader(http.StatusRequestEntityTooLarge)
}
