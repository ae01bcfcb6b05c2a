package access

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/rs/zerolog"

	"github.com/ionbus/ionbus/broker"
	"github.com/ionbus/ionbus/broker/auth"
	"github.com/ionbus/ionbus/connection"
	"github.com/ionbus/ionbus/limits"
)

// Messages of the CONNECT_ERROR packets.
const (
	MessageAuthFailed      = "Authentication failed"
	MessageConnectionLimit = "Connection limit exceeded"
	MessageNamespaceLimit  = "Namespace limit exceeded"
)

// Config configures a Guard.
type Config struct {
	// Verifier checks tokens. Nil means no authentication is configured:
	// every socket is anonymous and namespaces that are not public refuse
	// everyone with AUTH_REQUIRED.
	Verifier *auth.Verifier
	// Limiter enforces connection and message limits. Nil means no limits.
	Limiter *limits.Limiter
	// AbuseDisconnectAfter disconnects a socket after this many
	// consecutive rate-limited messages. Zero means 20.
	AbuseDisconnectAfter int
	// Authenticator authenticates the sockets of namespaces whose
	// Rules.Authenticate is AuthBackend or AuthJWTOrBackend (package
	// bridge implements it). Nil: those namespaces refuse every socket
	// with AUTH_SERVICE_UNAVAILABLE (and Attach logs the misconfiguration).
	Authenticator Authenticator
	// OpTimeout bounds one limiter or verifier call. Zero means 2s. It
	// does not bound the Authenticator, which bounds itself.
	OpTimeout time.Duration
	// Logger; zero value discards.
	Logger zerolog.Logger
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// Guard applies access rules and limits to namespaces.
type Guard struct {
	cfg Config
	log zerolog.Logger

	mu    sync.Mutex
	slots map[string]*slot // by Engine.IO session id

	refused sync.Map // code -> *atomic.Int64
}

type slot struct {
	user    string
	ip      netip.Addr
	sockets int
}

// New validates cfg.
func New(cfg Config) (*Guard, error) {
	if cfg.AbuseDisconnectAfter < 0 || cfg.OpTimeout < 0 {
		return nil, errors.New("access: negative setting")
	}
	if cfg.AbuseDisconnectAfter == 0 {
		cfg.AbuseDisconnectAfter = 20
	}
	if cfg.OpTimeout == 0 {
		cfg.OpTimeout = 2 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Guard{cfg: cfg, log: cfg.Logger.With().Str("component", "access").Logger(), slots: make(map[string]*slot)}, nil
}

// NamespaceLimit is the CONNECT_ERROR of a CONNECT refused because the
// node holds broker.Config.MaxDynamicNamespaces dynamic namespaces
// (broker.Config.NamespaceLimitError): "Namespace limit exceeded" with
// the standard error data, counted under NAMESPACE_LIMIT_EXCEEDED.
func (g *Guard) NamespaceLimit(name string, limit int) *broker.ConnectError {
	g.count(CodeNamespaceLimit)
	p := ErrorPayload(CodeNamespaceLimit, "too many dynamic namespaces on this node",
		map[string]any{"namespace": name, "limit": limit}, true, g.cfg.Now())
	p.Limit = &limit
	return &broker.ConnectError{Message: MessageNamespaceLimit, Data: ConnectErrorData{ErrorEvent: p}}
}

// OriginRefused is the Engine.IO answer to a foreign browser Origin
// (connection.CORSConfig.Refused; the engine decides, from cors.origins,
// for every request): HTTP 403 with the reference body {"code":4,
// "message":"Forbidden"}, which socket.io-client understands, and
// context {"code":"CORS_ORIGIN_NOT_ALLOWED","origin":…}; counted under
// that code.
func (g *Guard) OriginRefused(origin string) *connection.Error {
	g.count(CodeOriginNotAllowed)
	return &connection.Error{
		Code: connection.ErrForbidden.Code, Message: connection.ErrForbidden.Message, Status: http.StatusForbidden,
		Context: map[string]any{"code": CodeOriginNotAllowed, "origin": origin},
	}
}

// Level is a namespace access level.
type Level uint8

const (
	Public        Level = 0 // anyone; a valid token still identifies the user
	Authenticated Level = 1 // a valid token is required
	RoleRequired  Level = 2 // a valid token with one of Roles is required
)

// Access is a namespace's access rule.
type Access struct {
	Level Level
	Roles []string // RoleRequired: any of these
}

// ParseAccess reads "public", "authenticated" or "role:a[,role:b]".
func ParseAccess(s string) (Access, error) {
	s = strings.TrimSpace(s)
	switch s {
	case "", "public":
		return Access{Level: Public}, nil
	case "authenticated":
		return Access{Level: Authenticated}, nil
	}
	var a Access
	a.Level = RoleRequired
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		role, ok := strings.CutPrefix(part, "role:")
		if !ok || role == "" {
			return Access{}, fmt.Errorf("access: %q: want public, authenticated or role:<name>[,role:<name>]", s)
		}
		a.Roles = append(a.Roles, role)
	}
	return a, nil
}

func (a Access) String() string {
	switch a.Level {
	case Public:
		return "public"
	case Authenticated:
		return "authenticated"
	}
	parts := make([]string, len(a.Roles))
	for i, r := range a.Roles {
		parts[i] = "role:" + r
	}
	return strings.Join(parts, ",")
}

// AuthMode says how a namespace identifies its sockets.
type AuthMode uint8

const (
	// AuthJWT: a JWT (Config.Verifier) identifies the user. The default.
	AuthJWT AuthMode = 0
	// AuthBackend: Config.Authenticator identifies the user (for example
	// from the session cookie, asking the application backend); tokens
	// are not looked at. Its refusals refuse the socket even in a public
	// namespace.
	AuthBackend AuthMode = 1
	// AuthJWTOrBackend: a valid JWT wins; without a token, or with one
	// that does not verify, Config.Authenticator is asked.
	AuthJWTOrBackend AuthMode = 2
)

// ParseAuthMode reads "jwt" (or ""), "backend" or "jwt_or_backend".
func ParseAuthMode(s string) (AuthMode, error) {
	switch strings.TrimSpace(s) {
	case "", "jwt":
		return AuthJWT, nil
	case "backend":
		return AuthBackend, nil
	case "jwt_or_backend":
		return AuthJWTOrBackend, nil
	}
	return 0, fmt.Errorf("access: authenticate %q: want jwt, backend or jwt_or_backend", s)
}

func (m AuthMode) String() string {
	switch m {
	case AuthJWT:
		return "jwt"
	case AuthBackend:
		return "backend"
	case AuthJWTOrBackend:
		return "jwt_or_backend"
	}
	return "unknown"
}

// Authenticator identifies a connecting socket by other means than a JWT
// (Rules.Authenticate). The guard calls it from its admission middleware,
// on the socket's session callback, with the handshake headers already
// parsed; it must bound its own duration (ctx has no deadline).
//
// It returns the identity (stored under IdentityKey exactly like a JWT's,
// so access levels, roles, limits and templates apply unchanged), or nil
// for an anonymous socket. A *Refusal error refuses the socket with its
// code; a *broker.ConnectError is sent to the client as is; any other
// error refuses it with BACKEND_UNAVAILABLE.
type Authenticator interface {
	Authenticate(ctx context.Context, s *broker.Socket, header http.Header) (*auth.Identity, error)
}

// Refusal is an Authenticator's verdict that refuses a socket. The client
// receives CONNECT_ERROR "Authentication failed" with data {code,
// message, details, retry_possible} (empty parts omitted), or the
// auth_error compatibility event.
type Refusal struct {
	Code    string
	Message string
	Details any
	Retry   bool
}

func (r *Refusal) Error() string {
	if r.Message == "" {
		return "access: refused: " + r.Code
	}
	return "access: refused: " + r.Code + ": " + r.Message
}

// connectError is the CONNECT_ERROR of a refusal.
func (r *Refusal) connectError(now time.Time) *broker.ConnectError {
	msg := r.Message
	if msg == "" {
		msg = authMessages[r.Code]
	}
	var details map[string]any
	if m, ok := r.Details.(map[string]any); ok {
		details = m
	} else if r.Details != nil {
		details = map[string]any{"data": r.Details}
	}
	return &broker.ConnectError{Message: MessageAuthFailed,
		Data: ConnectErrorData{ErrorEvent: ErrorPayload(r.Code, msg, details, r.Retry, now), Data: r.Details}}
}

// Rules configure one namespace.
type Rules struct {
	Access Access
	// Authenticate chooses how sockets are identified; zero is AuthJWT.
	Authenticate AuthMode
	// AutoJoin room templates joined on connect: "user:{user}",
	// "role:{role}" (one room per role). Templates with a placeholder are
	// skipped for anonymous sockets.
	AutoJoin []string
	// RoomsAllow patterns of the rooms clients may join with join_room:
	// '*' matches any run of characters; {user} and {role} are replaced by
	// the socket's identity. Empty disables the built-in room events.
	RoomsAllow []string
	// CompatEvents: instead of a CONNECT_ERROR, accept the socket, emit
	// auth_required / auth_error {message, error_code, redirect_url,
	// timestamp}, then disconnect it — for apps that listen for those
	// events (socket.io-client never delivers events on a refused
	// namespace).
	CompatEvents bool
	// RedirectURL is put in the compatibility events.
	RedirectURL string
	// ErrorCodes renames codes on the wire for this namespace (error
	// events, acks, CONNECT_ERROR data, compatibility events), e.g.
	// {RATE_LIMIT_EXCEEDED: RATE_LIMITED}. Keys must be Codes; stats and
	// logs keep the canonical names.
	ErrorCodes map[string]string
	// RequireCSRF: a token carried by a cookie is accepted only when the
	// CONNECT auth payload's "csrf" equals the token's CSRFClaim claim.
	RequireCSRF bool
	// CSRFClaim names the claim; default "csrf".
	CSRFClaim string
}

type socketKey uint8

const (
	// IdentityKey is the Socket.Get key of the *auth.Identity of an
	// authenticated socket.
	IdentityKey socketKey = 1
	stateKey    socketKey = 2
)

// Identity returns the socket's verified identity, or nil for anonymous
// sockets.
func Identity(s *broker.Socket) *auth.Identity {
	id, _ := s.Get(IdentityKey).(*auth.Identity)
	return id
}

// socketState is the guard's per-socket state.
type socketState struct {
	mu         sync.Mutex
	expiry     *time.Timer
	abuse      int
	compatCode string // set when CompatEvents refuses after connecting
	compatMsg  string
	ip         netip.Addr
	codes      map[string]string // Rules.ErrorCodes of the namespace (shared, read-only)
	compat     bool              // Rules.CompatEvents: rate refusals also emit rate_limit_exceeded
}

func state(s *broker.Socket) *socketState {
	st, _ := s.Get(stateKey).(*socketState)
	return st
}

// Attach installs the rules on ns: the admission middleware, the
// auto-join and expiry handling, message limits and room events.
func (g *Guard) Attach(ns *broker.Namespace, r Rules) {
	if r.CSRFClaim == "" {
		r.CSRFClaim = "csrf"
	}
	if r.Authenticate != AuthJWT && g.cfg.Authenticator == nil {
		g.log.Error().Str("nsp", ns.Name()).Str("authenticate", r.Authenticate.String()).
			Msg("namespace authenticates with a backend but no Authenticator is configured: every socket is refused")
	}
	ns.OnConnection(func(s *broker.Socket) { g.onConnection(s, r) })
	admit := func(s *broker.Socket) error { return g.admit(s, r) }
	if r.Authenticate != AuthJWT {
		// The authenticator waits on the network (the backend hook): off
		// the Engine.IO worker, so a slow backend stalls only the
		// connects that wait for it.
		ns.UseBlocking(admit)
	} else {
		ns.Use(admit)
	}
	if g.cfg.Limiter != nil {
		ns.UseEvent(g.limitEvent)
	}
	ns.On("auth:refresh", g.onRefresh)
	if len(r.RoomsAllow) > 0 {
		ns.On(EventJoinRoom, func(e *broker.Event) { g.onJoinRoom(e, r) })
		ns.On(EventLeaveRoom, func(e *broker.Event) { g.onLeaveRoom(e, r) })
	}
}

// refusal is the CONNECT_ERROR "Authentication failed" of code.
func (g *Guard) refusal(s *broker.Socket, code string) *broker.ConnectError {
	retry := code == CodeAuthUnavailable || code == CodeBackendUnavailable
	return &broker.ConnectError{Message: MessageAuthFailed,
		Data: ConnectErrorData{ErrorEvent: ErrorPayload(code, authMessages[code], nil, retry, g.cfg.Now())}.forSocket(s)}
}

// renamed applies the namespace's code aliases to a refusal's data.
func (g *Guard) renamed(s *broker.Socket, ce *broker.ConnectError) *broker.ConnectError {
	if d, ok := ce.Data.(ConnectErrorData); ok {
		return &broker.ConnectError{Message: ce.Message, Data: d.forSocket(s)}
	}
	return ce
}

// authMessages are the error_message of authentication refusals.
var authMessages = map[string]string{
	CodeAuthRequired:           "authentication required",
	CodeAuthInvalidSession:     "invalid or expired session",
	CodeInsufficientPrivileges: "insufficient privileges for this namespace",
	CodeCSRFInvalid:            "CSRF token missing or invalid",
	CodeAuthUnavailable:        "the authentication service is unavailable",
	CodeBackendUnavailable:     "the application backend is unavailable",
}

// admit is the namespace middleware.
func (g *Guard) admit(s *broker.Socket, r Rules) error {
	hs := s.Handshake()
	st := &socketState{codes: r.ErrorCodes, compat: r.CompatEvents}
	s.Set(stateKey, st)

	var id *auth.Identity
	code := ""
	var header http.Header // parsed once from the compact handshake, for the token, the authenticator and the client IP
	if g.cfg.Verifier != nil || g.cfg.Limiter != nil || r.Authenticate != AuthJWT {
		header = hs.Headers()
	}
	// Every CONNECT counts, refused or not: a client guessing
	// credentials is slowed like any other.
	if err := g.attempt(s, st, header); err != nil {
		return err
	}
	if r.Authenticate != AuthBackend {
		id, code = g.verifyToken(hs, header, r)
	}
	var refused *broker.ConnectError // the authenticator's own refusal
	if r.Authenticate != AuthJWT && id == nil {
		id, code, refused = g.authenticate(s, header)
	}
	if id != nil {
		code = ""
		if r.Access.Level == RoleRequired && !hasAnyRole(id, r.Access.Roles) {
			code = CodeInsufficientPrivileges
		}
	} else if r.Access.Level != Public {
		if code == "" {
			code = CodeAuthRequired
		}
	} else if refused == nil {
		code = "" // public: an unusable token degrades to anonymous; the authenticator's verdict stands
	}
	if code != "" {
		g.count(code)
		if r.CompatEvents {
			st.compatCode = code
			st.compatMsg = MessageAuthFailed
			return nil
		}
		if refused != nil && id == nil {
			return g.renamed(s, refused)
		}
		return g.refusal(s, code)
	}
	if id != nil {
		s.Set(IdentityKey, id)
	}
	return g.acquire(s, st, id)
}

// verifyToken verifies the socket's JWT, if it carries one. It returns the
// identity, or the refusal code of an unusable token ("" without one).
func (g *Guard) verifyToken(hs *broker.Handshake, header http.Header, r Rules) (*auth.Identity, string) {
	if g.cfg.Verifier == nil {
		return nil, ""
	}
	token, src := g.cfg.Verifier.ExtractToken(auth.TokenSources{Auth: hs.Auth, Header: header, Query: hs.Query()})
	if token == "" {
		return nil, ""
	}
	ctx, cancel := context.WithTimeout(context.Background(), g.cfg.OpTimeout)
	id, err := g.cfg.Verifier.Verify(ctx, token)
	cancel()
	switch {
	case err == nil:
		if src == auth.SourceCookie && r.RequireCSRF && !csrfMatches(hs.Auth, id, r.CSRFClaim) {
			return nil, CodeCSRFInvalid
		}
		return id, ""
	case errors.Is(err, auth.ErrKeyUnavailable):
		g.log.Warn().Err(err).Msg("token verification key unavailable")
		return nil, CodeAuthUnavailable
	default:
		g.log.Debug().Err(err).Str("source", src.String()).Msg("invalid token")
		return nil, CodeAuthInvalidSession
	}
}

// authenticate asks Config.Authenticator. It returns the identity (nil:
// anonymous), or the refusal code and the CONNECT_ERROR to send.
func (g *Guard) authenticate(s *broker.Socket, header http.Header) (*auth.Identity, string, *broker.ConnectError) {
	if g.cfg.Authenticator == nil {
		return nil, CodeAuthUnavailable, g.refusal(s, CodeAuthUnavailable)
	}
	id, err := g.cfg.Authenticator.Authenticate(context.Background(), s, header)
	if err == nil {
		return id, "", nil
	}
	var ref *Refusal
	var ce *broker.ConnectError
	switch {
	case errors.As(err, &ref):
		return nil, ref.Code, ref.connectError(g.cfg.Now())
	case errors.As(err, &ce):
		code, _ := dataCode(ce.Data)
		if code == "" {
			code = CodeAuthInvalidSession
		}
		return nil, code, ce
	default:
		g.log.Debug().Err(err).Msg("authenticator unavailable")
		ref = &Refusal{Code: CodeBackendUnavailable, Retry: true}
		return nil, ref.Code, ref.connectError(g.cfg.Now())
	}
}

// dataCode reads "code" from a CONNECT_ERROR's data.
func dataCode(data any) (string, bool) {
	m, ok := data.(map[string]any)
	if !ok {
		return "", false
	}
	code, ok := m["code"].(string)
	return code, ok
}

func csrfMatches(authPayload map[string]any, id *auth.Identity, claim string) bool {
	given, _ := authPayload["csrf"].(string)
	want, _ := id.Claims[claim].(string)
	return given != "" && want != "" && given == want
}

func hasAnyRole(id *auth.Identity, roles []string) bool {
	for _, r := range roles {
		if id.HasRole(r) {
			return true
		}
	}
	return false
}

// attempt finds the client IP and counts the CONNECT against the
// connection attempt rate.
func (g *Guard) attempt(s *broker.Socket, st *socketState, header http.Header) error {
	l := g.cfg.Limiter
	if l == nil {
		return nil
	}
	st.ip = l.ClientIP(s.Handshake().RemoteAddr, header)
	ctx, cancel := context.WithTimeout(context.Background(), g.cfg.OpTimeout)
	defer cancel()
	if d, err := l.AllowConnectAttempt(ctx, st.ip); err != nil {
		g.log.Warn().Err(err).Msg("limits: connect attempt check failed")
	} else if !d.Allowed {
		return g.limitRefusal(s, d)
	}
	return nil
}

// acquire takes the connection slot of the socket's Engine.IO session.
func (g *Guard) acquire(s *broker.Socket, st *socketState, id *auth.Identity) error {
	l := g.cfg.Limiter
	if l == nil {
		return nil
	}
	ip := st.ip
	ctx, cancel := context.WithTimeout(context.Background(), g.cfg.OpTimeout)
	defer cancel()
	user := ""
	if id != nil {
		user = id.UserID
	}
	sid := s.Conn().ID()
	g.mu.Lock()
	if sl := g.slots[sid]; sl != nil {
		sl.sockets++
		g.mu.Unlock()
		s.OnDisconnect(func(*broker.Socket, string) { g.release(sid) })
		return nil
	}
	g.mu.Unlock()
	d, err := l.AcquireConnection(ctx, user, ip, sid)
	if err != nil {
		g.log.Warn().Err(err).Msg("limits: acquire failed")
	}
	if !d.Allowed {
		return g.limitRefusal(s, d)
	}
	g.mu.Lock()
	if sl := g.slots[sid]; sl != nil {
		sl.sockets++ // another namespace of the session raced us
	} else {
		g.slots[sid] = &slot{user: user, ip: ip, sockets: 1}
	}
	g.mu.Unlock()
	s.OnDisconnect(func(*broker.Socket, string) { g.release(sid) })
	return nil
}

func (g *Guard) release(sid string) {
	g.mu.Lock()
	sl := g.slots[sid]
	if sl == nil {
		g.mu.Unlock()
		return
	}
	sl.sockets--
	if sl.sockets > 0 {
		g.mu.Unlock()
		return
	}
	delete(g.slots, sid)
	g.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), g.cfg.OpTimeout)
	defer cancel()
	if err := g.cfg.Limiter.ReleaseConnection(ctx, sl.user, sl.ip, sid); err != nil {
		g.log.Warn().Err(err).Msg("limits: release failed")
	}
}

// Resync puts back the connection slots of this node's live sessions
// (limits.Limiter.RestoreConnections), for when the Redis slots were lost:
// Redis restarted empty, or this node's heartbeat lapsed and other nodes
// reclaimed its slots. limits.RedisSlots.Run calls it (SetOnLapsed) after a
// heartbeat that finds its own heartbeat gone. Slots are restored even
// above a limit (see RestoreConnections). A session that ends while the
// restore is in flight could get its slot back after its release; Resync
// releases those again. No-op without a Limiter.
func (g *Guard) Resync(ctx context.Context) error {
	l := g.cfg.Limiter
	if l == nil {
		return nil
	}
	g.mu.Lock()
	conns := make([]limits.Connection, 0, len(g.slots))
	for sid, sl := range g.slots {
		conns = append(conns, limits.Connection{UserID: sl.user, IP: sl.ip, SlotID: sid})
	}
	g.mu.Unlock()
	n, err := l.RestoreConnections(ctx, conns)
	if err != nil {
		return fmt.Errorf("access: resync: %w", err)
	}
	var gone []limits.Connection
	g.mu.Lock()
	for _, c := range conns {
		if sl := g.slots[c.SlotID]; sl == nil || sl.user != c.UserID || sl.ip != c.IP {
			gone = append(gone, c)
		}
	}
	g.mu.Unlock()
	for _, c := range gone {
		if err := l.ReleaseConnection(ctx, c.UserID, c.IP, c.SlotID); err != nil {
			g.log.Warn().Err(err).Msg("limits: release after resync failed")
		}
	}
	g.log.Info().Int("sessions", len(conns)).Int("restored", n).Msg("limits: connection slots restored")
	return nil
}

func (g *Guard) limitRefusal(s *broker.Socket, d limits.Decision) error {
	g.count(CodeConnectionLimit)
	msg := "too many connections of this user"
	switch d.Reason {
	case limits.ReasonIPConnections:
		msg = "too many connections from this address"
	case limits.ReasonConnectRate:
		msg = "too many connection attempts from this address"
	}
	p := ErrorPayload(CodeConnectionLimit, msg,
		map[string]any{"reason": d.Reason.String(), "limit": d.Limit}, true, g.cfg.Now())
	limit := d.Limit
	p.Limit = &limit
	return &broker.ConnectError{Message: MessageConnectionLimit, Data: ConnectErrorData{ErrorEvent: p, Reason: d.Reason.String()}.forSocket(s)}
}

// onConnection runs first among the connection handlers: compatibility
// refusals, auto-join, token expiry.
func (g *Guard) onConnection(s *broker.Socket, r Rules) {
	st := state(s)
	if st == nil {
		return // recovered socket that skipped middlewares: nothing to add
	}
	if st.compatCode != "" {
		event := "auth_error"
		if st.compatCode == CodeAuthRequired {
			event = "auth_required"
		}
		// The ErrorEvent fields, with message the compatibility text
		// ("Authentication failed") as before.
		p := ErrorPayload(st.compatCode, authMessages[st.compatCode], nil, st.compatCode != CodeInsufficientPrivileges, g.cfg.Now()).ForSocket(s)
		p.AliasMessage = st.compatMsg
		_ = s.Emit(event, struct {
			ErrorEvent
			RedirectURL string `json:"redirect_url"`
		}{p, r.RedirectURL})
		s.Disconnect(false)
		return
	}
	id := Identity(s)
	if rooms := expandTemplates(r.AutoJoin, id); len(rooms) > 0 {
		s.Join(rooms...)
	}
	if id != nil {
		g.scheduleExpiry(s, st, id)
	}
	s.OnDisconnect(func(*broker.Socket, string) {
		st.mu.Lock()
		if st.expiry != nil {
			st.expiry.Stop()
		}
		st.mu.Unlock()
	})
}

func (g *Guard) scheduleExpiry(s *broker.Socket, st *socketState, id *auth.Identity) {
	if id.ExpiresAt.IsZero() {
		return
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.expiry != nil {
		st.expiry.Stop()
	}
	st.expiry = time.AfterFunc(id.ExpiresAt.Sub(g.cfg.Now()), func() {
		if Identity(s) != id { // refreshed meanwhile
			return
		}
		_ = s.Emit("user:session", map[string]any{"event": "token_expired", "timestamp": Timestamp(g.cfg.Now())})
		s.Disconnect(false)
	})
}

// onRefresh handles "auth:refresh" {token}: a new token for the same user.
func (g *Guard) onRefresh(e *broker.Event) {
	s := e.Socket
	st := state(s)
	old := Identity(s)
	args, err := e.Args()
	token := ""
	if err == nil && len(args) > 0 {
		switch v := args[0].(type) {
		case string:
			token = v
		case map[string]any:
			token, _ = v["token"].(string)
		}
	}
	fail := func(code, msg string) {
		g.count(code)
		RefuseEvent(e, EventErrorPayload(e, code, msg, nil, code != CodeAuthRequired, g.cfg.Now()))
	}
	if g.cfg.Verifier == nil || st == nil {
		fail(CodeAuthRequired, "authentication is not configured")
		return
	}
	if token == "" {
		fail(CodeInvalidPayload, "auth:refresh needs {token}")
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), g.cfg.OpTimeout)
	id, err := g.cfg.Verifier.Verify(ctx, token)
	cancel()
	if err != nil {
		fail(CodeAuthInvalidSession, "invalid token")
		return
	}
	if old != nil && old.UserID != id.UserID {
		fail(CodeAuthInvalidSession, "token belongs to another user")
		return
	}
	s.Set(IdentityKey, id)
	g.scheduleExpiry(s, st, id)
	payload := map[string]any{"event": "token_refresh", "expiresAt": Timestamp(id.ExpiresAt), "timestamp": Timestamp(g.cfg.Now())}
	_ = s.Emit("user:session", payload)
	_ = e.Ack(map[string]any{"success": true, "expiresAt": Timestamp(id.ExpiresAt)})
}

// limitEvent is the event middleware enforcing message size and rate.
func (g *Guard) limitEvent(e *broker.Event) error {
	l := g.cfg.Limiter
	s := e.Socket
	size := len(e.Data)
	for _, a := range e.Attachments {
		size += len(a)
	}
	subject := "anon:" + s.Handshake().Address
	if id := Identity(s); id != nil {
		subject = "user:" + id.UserID
	}
	ctx, cancel := context.WithTimeout(context.Background(), g.cfg.OpTimeout)
	d, err := l.AllowMessage(ctx, subject, size)
	cancel()
	if err != nil {
		g.log.Warn().Err(err).Msg("limits: message check failed")
	}
	st := state(s)
	if d.Allowed {
		if st != nil {
			st.mu.Lock()
			st.abuse = 0
			st.mu.Unlock()
		}
		return nil
	}
	limit, remaining := d.Limit, d.Remaining
	var p ErrorEvent
	if d.Reason == limits.ReasonMessageSize {
		g.count(CodeMessageTooLarge)
		p = EventErrorPayload(e, CodeMessageTooLarge, "message too large",
			map[string]any{"limit": limit, "size": size}, false, g.cfg.Now())
		p.Limit = &limit
	} else {
		g.count(CodeRateLimit)
		reset := Timestamp(d.ResetAt)
		p = EventErrorPayload(e, CodeRateLimit, "rate limit exceeded",
			map[string]any{"limit": limit, "remaining": remaining, "reset_time": reset}, true, g.cfg.Now())
		p.Limit, p.Remaining, p.ResetTime = &limit, &remaining, reset
		if st != nil && st.compat {
			_ = s.Emit(EventRateLimited, p.ForSocket(s))
		}
	}
	RefuseEvent(e, p)
	if st != nil {
		st.mu.Lock()
		st.abuse++
		abusive := st.abuse >= g.cfg.AbuseDisconnectAfter
		st.mu.Unlock()
		if abusive {
			g.log.Info().Str("subject", subject).Msg("disconnecting a socket that keeps exceeding its message rate")
			s.Disconnect(true)
		}
	}
	return errors.New(p.Code)
}

func (g *Guard) count(code string) {
	v, _ := g.refused.LoadOrStore(code, new(atomic.Int64))
	v.(*atomic.Int64).Add(1)
}

// Stats is a snapshot of the guard's refusals by code, and the limiter's.
type Stats struct {
	Refused map[string]int64 `json:"refused"`
	Limits  *limits.Stats    `json:"limits,omitempty"`
	Slots   int              `json:"sessions_with_slots"`
}

// Stats returns the refusal counters.
func (g *Guard) Stats() Stats {
	st := Stats{Refused: map[string]int64{}}
	g.refused.Range(func(k, v any) bool {
		st.Refused[k.(string)] = v.(*atomic.Int64).Load()
		return true
	})
	if g.cfg.Limiter != nil {
		ls := g.cfg.Limiter.Stats()
		st.Limits = &ls
	}
	g.mu.Lock()
	st.Slots = len(g.slots)
	g.mu.Unlock()
	return st
}

// validRoomName reports whether name is acceptable as a client-chosen room.
func validRoomName(name string) bool {
	return name != "" && len(name) <= 1000 && utf8.ValidString(name)
}
