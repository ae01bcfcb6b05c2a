package connection

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/rs/zerolog"
)

// Server is the Engine.IO v4 server: an http.Handler for the polling and
// websocket transports that turns requests into sessions for a Handler.
type Server struct {
	cfg Config
	h   Handler
	log zerolog.Logger

	wheel     *wheel
	stopWheel chan struct{}
	poller    *poller  // nil: every websocket has a reader goroutine
	flusher   *flusher // writes poller-owned websockets; nil without a poller

	mu        sync.RWMutex
	sessions  map[string]*session
	lingering map[string]*session // closed polling sessions awaiting their last GET
	wsConns   *wsConn             // every live websocket, for a forced shutdown: an intrusive list (a map costs ~80 B per socket)
	shutting  bool

	shutdownStarted atomic.Bool
	shutdownDone    chan struct{}

	goroutines   tracker // flushers, readers, callback runners, the wheel
	openSessions tracker // opened sessions whose OnClose has not returned
	counters     counters
}

// errShuttingDown refuses handshakes during Shutdown.
var errShuttingDown = &Error{Code: 3, Message: "Server is shutting down", Status: http.StatusServiceUnavailable}

// New validates cfg, applies defaults and starts the heartbeat scheduler.
// Call Shutdown to stop it.
func New(cfg Config, h Handler) (*Server, error) {
	if h == nil {
		return nil, errors.New("connection: nil Handler")
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	srv := newServer(cfg.withDefaults(), h)
	if !srv.cfg.DisablePoller {
		p, err := newPoller(srv)
		if err != nil {
			srv.log.Warn().Err(err).Msg("epoll unavailable; reading websockets with goroutines")
		}
		srv.poller = p
		if p != nil {
			srv.flusher = newFlusher(runtime.GOMAXPROCS(0))
		}
	}
	srv.goroutines.add()
	go srv.runWheel()
	return srv, nil
}

// newServer builds a Server without starting the scheduler goroutine
// (tests drive the wheel by hand).
func newServer(cfg Config, h Handler) *Server {
	srv := &Server{
		cfg:          cfg,
		h:            h,
		log:          cfg.Logger.With().Str("component", "connection").Logger(),
		stopWheel:    make(chan struct{}),
		sessions:     make(map[string]*session),
		lingering:    make(map[string]*session),
		shutdownDone: make(chan struct{}),
	}
	srv.wheel = newWheel(heartbeatTick(cfg.PingInterval, cfg.PingTimeout), cfg.Now())
	return srv
}

// Len is the number of open sessions. Safe for concurrent use.
func (srv *Server) Len() int {
	srv.mu.RLock()
	defer srv.mu.RUnlock()
	return len(srv.sessions)
}

// goTracked runs f on a goroutine counted for Shutdown.
func (srv *Server) goTracked(f func()) {
	srv.goroutines.add()
	go func() {
		defer srv.goroutines.done()
		f()
	}()
}

// lookup finds an open session, or a closed one still waiting for the GET
// that delivers its close packet.
func (srv *Server) lookup(sid string) *session {
	srv.mu.RLock()
	defer srv.mu.RUnlock()
	if s := srv.sessions[sid]; s != nil {
		return s
	}
	return srv.lingering[sid]
}

// register makes s visible; it fails once Shutdown has begun.
func (srv *Server) register(s *session) bool {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if srv.shutting {
		return false
	}
	srv.sessions[s.id] = s
	return true
}

// unregister removes s from the open sessions; linger moves it to the
// lingering set instead (see closeWith).
func (srv *Server) unregister(s *session, linger bool) {
	srv.mu.Lock()
	if srv.sessions[s.id] == s {
		delete(srv.sessions, s.id)
	}
	if linger && !srv.shutting {
		srv.lingering[s.id] = s
	} else if srv.lingering[s.id] == s {
		delete(srv.lingering, s.id)
	}
	srv.mu.Unlock()
}

// endLinger drops a lingering session: its GET came or its time ran out.
func (s *session) endLinger() {
	s.mu.Lock()
	was := s.lingering
	s.lingering = false
	if was && s.state == stateClosing {
		s.state = stateClosed
		s.dropQueueLocked()
	}
	s.mu.Unlock()
	if was {
		s.srv.unregister(s, false)
		s.srv.wheel.cancel(s)
	}
}

// Shutdown refuses new sessions, closes every session with
// CloseServerShutdown (websocket close 1001 after the queued frames; a
// pending polling GET gets its queue and "1"), waits for every OnClose and
// internal goroutine, and stops the heartbeat scheduler. When ctx ends
// first, the remaining websockets are closed abruptly and ctx.Err() is
// returned. It is idempotent: later calls wait for the first one (bounded
// by their own ctx) and return nil. Safe for concurrent use.
func (srv *Server) Shutdown(ctx context.Context) error {
	if !srv.shutdownStarted.CompareAndSwap(false, true) {
		select {
		case <-srv.shutdownDone:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	defer close(srv.shutdownDone)
	srv.mu.Lock()
	srv.shutting = true
	list := make([]*session, 0, len(srv.sessions))
	for _, s := range srv.sessions {
		list = append(list, s)
	}
	var lingering []*session
	for _, s := range srv.lingering {
		lingering = append(lingering, s)
	}
	srv.mu.Unlock()
	for _, s := range list {
		s.close(CloseServerShutdown)
	}
	for _, s := range lingering {
		s.endLinger()
	}
	err := srv.openSessions.wait(ctx)
	close(srv.stopWheel)
	if err == nil {
		err = srv.goroutines.wait(ctx)
	}
	if err != nil {
		srv.mu.Lock()
		var conns []*wsConn
		for c := srv.wsConns; c != nil; c = c.next {
			conns = append(conns, c)
		}
		srv.mu.Unlock()
		for _, c := range conns {
			c.closeConn()
		}
		srv.log.Warn().Err(err).Int("websockets", len(conns)).Msg("shutdown deadline: closed remaining websockets")
	}
	if srv.poller != nil {
		srv.poller.stop()
		if perr := srv.poller.goroutines.wait(ctx); err == nil {
			err = perr
		}
	}
	if srv.flusher != nil {
		srv.flusher.stop()
		if ferr := srv.flusher.goroutines.wait(ctx); err == nil {
			err = ferr
		}
	}
	return err
}

// ServeHTTP answers Engine.IO requests: OPTIONS preflight, polling GET and
// POST, and websocket upgrades (handshake or polling upgrade). Mount it on
// Config.Path; the path itself is not checked. Safe for concurrent use.
// Config is the server's configuration, defaults applied.
func (srv *Server) Config() Config { return srv.cfg }

func (srv *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !srv.originAllowed(r) {
		e := ErrForbidden
		if f := srv.cfg.CORS.Refused; f != nil {
			e = f(r.Header.Get("Origin"))
		}
		srv.refuse(w, r, e)
		return
	}
	if r.Method == http.MethodOptions {
		srv.preflight(w, r)
		return
	}
	q := r.URL.Query()
	transport := q.Get("transport")
	if !srv.cfg.allows(transport) {
		srv.refuse(w, r, ErrUnknownTransport)
		return
	}
	// Keep the constant, not the query's string: that is a substring of
	// the request line, which a session would then hold alive.
	if transport == transportWebsocket {
		transport = transportWebsocket
	} else {
		transport = transportPolling
	}
	isWS := strings.EqualFold(r.Header.Get("Upgrade"), "websocket")
	if isWS != (transport == transportWebsocket) {
		srv.refuse(w, r, ErrBadRequest)
		return
	}
	if sid := q.Get("sid"); sid != "" {
		s := srv.lookup(sid)
		if s != nil && s.pingExpired(srv.cfg.Now()) && s.closeWith(ClosePingTimeout, 0, false) {
			// Its pong deadline passed and the scheduler has not run yet
			// (it fires up to a tick late): the session is over, as it
			// would be with the reference's exact timers.
			s = nil
		}
		if s == nil {
			srv.refuse(w, r, ErrUnknownSid)
			return
		}
		if isWS {
			srv.upgrade(w, r, s)
			return
		}
		// Handle what the session's probe websocket already received
		// (e.g. "2probe" then "5") before this polling request.
		s.drainProbe()
		switch r.Method {
		case http.MethodGet:
			srv.pollGet(w, r, s)
		case http.MethodPost:
			srv.pollPost(w, r, s)
		default:
			srv.refuse(w, r, ErrBadRequest)
		}
		return
	}
	if srv.shutdownStarted.Load() {
		srv.refuse(w, r, errShuttingDown)
		return
	}
	if q.Get("EIO") != "4" {
		srv.refuse(w, r, ErrUnsupportedVersion)
		return
	}
	if r.Method != http.MethodGet {
		srv.refuse(w, r, ErrBadHandshakeMethod)
		return
	}
	if f := srv.cfg.AllowRequest; f != nil {
		if err := f(r); err != nil {
			srv.refuse(w, r, asError(err))
			return
		}
	}
	srv.handshake(w, r, transport, q)
}

// asError maps a refusal from AllowRequest or OnOpen to its *Error.
func asError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return ErrForbidden
}

// refuse answers a failed handshake or request with the reference JSON body.
func (srv *Server) refuse(w http.ResponseWriter, r *http.Request, e *Error) {
	idx := e.Code
	if e == errShuttingDown || idx < 0 || idx > 5 {
		idx = 6
	}
	srv.counters.handshakeErrors[idx].Add(1)
	srv.setCORS(w, r)
	body := map[string]any{"code": e.Code, "message": e.Message}
	if e.Context != nil {
		body["context"] = e.Context
	}
	b, err := json.Marshal(body)
	if err != nil { // unserializable Context: drop it
		b, _ = json.Marshal(map[string]any{"code": e.Code, "message": e.Message})
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	status := e.Status
	if status == 0 {
		status = http.StatusBadRequest
	}
	w.WriteHeader(status)
	_, _ = w.Write(b)
	srv.log.Debug().Int("code", e.Code).Str("remote", r.RemoteAddr).Msg("request refused")
}

// newSid returns 20 random base64url characters.
func newSid() string {
	var b [15]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// openPacket builds the "0{...}" handshake answer for s.
func (srv *Server) openMessage(sid string, transport string) *Message {
	upgrades := []string{}
	if transport == transportPolling && !srv.cfg.DisableUpgrades && srv.cfg.allows(transportWebsocket) {
		upgrades = append(upgrades, transportWebsocket)
	}
	b, _ := json.Marshal(struct {
		Sid          string   `json:"sid"`
		Upgrades     []string `json:"upgrades"`
		PingInterval int64    `json:"pingInterval"`
		PingTimeout  int64    `json:"pingTimeout"`
		MaxPayload   int      `json:"maxPayload"`
	}{sid, upgrades, srv.cfg.PingInterval.Milliseconds(), srv.cfg.PingTimeout.Milliseconds(), srv.cfg.MaxPayload})
	return &Message{Data: b, kind: kindOpen}
}

// handshake opens a new session on transport.
func (srv *Server) handshake(w http.ResponseWriter, r *http.Request, transport string, q url.Values) {
	hs := NewHandshake(r, transport, srv.cfg.Now())
	sid := newSid()
	s := &session{
		srv:       srv,
		id:        sid,
		hs:        hs,
		wheelSlot: -1,
		transport: transport,
		cbRunning: true, // OnOpen runs first; events posted meanwhile wait
	}
	s.queue = append(s.queue, srv.openMessage(sid, transport))
	if err := srv.h.OnOpen(s, hs); err != nil {
		s.cbMu.Lock()
		s.cbDone, s.cbEvents, s.cbRunning = true, nil, false
		s.cbMu.Unlock()
		s.mu.Lock()
		s.state = stateClosed
		s.mu.Unlock()
		srv.refuse(w, r, asError(err))
		return
	}
	srv.openSessions.add()
	srv.counters.opened.Add(1)
	s.mu.Lock()
	closedInOpen := s.state != stateOpen
	s.mu.Unlock()
	if closedInOpen { // OnOpen accepted, then closed the session itself
		s.runEvents()
		srv.refuse(w, r, ErrForbidden)
		return
	}
	if !srv.register(s) {
		s.close(CloseServerShutdown)
		s.runEvents()
		srv.refuse(w, r, errShuttingDown)
		return
	}
	s.logAt(zerolog.DebugLevel).Str("transport", transport).Str("remote", r.RemoteAddr).Msg("session opened")
	s.startHeartbeat(srv.cfg.Now())
	s.runEvents()
	if transport == transportWebsocket {
		srv.serveWebsocket(w, r, s)
		return
	}
	srv.pollGet(w, r, s)
}

// originAllowed checks Origin against CORS.Origins; requests without an
// Origin (non-browser clients) pass.
func (srv *Server) originAllowed(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" || len(srv.cfg.CORS.Origins) == 0 {
		return true
	}
	for _, o := range srv.cfg.CORS.Origins {
		if o == "*" || strings.EqualFold(o, origin) {
			return true
		}
	}
	return srv.credentialOrigin(origin)
}

// credentialOrigin reports whether origin is one of CORS.CredentialOrigins.
func (srv *Server) credentialOrigin(origin string) bool {
	for _, o := range srv.cfg.CORS.CredentialOrigins {
		if strings.EqualFold(o, origin) {
			return true
		}
	}
	return false
}

// setCORS adds the CORS response headers for an allowed Origin.
func (srv *Server) setCORS(w http.ResponseWriter, r *http.Request) {
	origin := r.Header.Get("Origin")
	if origin == "" || !srv.originAllowed(r) {
		return
	}
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", origin)
	h.Add("Vary", "Origin")
	if srv.cfg.CORS.Credentials || srv.credentialOrigin(origin) {
		h.Set("Access-Control-Allow-Credentials", "true")
	}
}

func (srv *Server) preflight(w http.ResponseWriter, r *http.Request) {
	srv.setCORS(w, r)
	h := w.Header()
	h.Set("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
	allow := "Content-Type"
	if len(srv.cfg.CORS.AllowHeaders) > 0 {
		allow += ", " + strings.Join(srv.cfg.CORS.AllowHeaders, ", ")
	}
	h.Set("Access-Control-Allow-Headers", allow)
	h.Set("Content-Length", "0")
	w.WriteHeader(http.StatusNoContent)
}
