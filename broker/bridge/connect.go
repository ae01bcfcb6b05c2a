package bridge

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"hash"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/ionbus/ionbus/broker"
	"github.com/ionbus/ionbus/broker/access"
	"github.com/ionbus/ionbus/broker/auth"
)

// connectRequest is the body of the connect hook.
type connectRequest struct {
	Type      string            `json:"type"`
	Namespace string            `json:"namespace"`
	SID       string            `json:"sid"`
	Node      string            `json:"node"`
	Transport string            `json:"transport"`
	Address   string            `json:"address"`
	Headers   map[string]string `json:"headers"`
	Auth      map[string]any    `json:"auth"`
	Query     map[string]string `json:"query"`
}

// refreshRequest is the body of the refresh hook.
type refreshRequest struct {
	Type      string            `json:"type"`
	Namespace string            `json:"namespace"`
	SID       string            `json:"sid"`
	User      *userInfo         `json:"user"`
	Headers   map[string]string `json:"headers"`
	Auth      map[string]any    `json:"auth"`
}

// userInfo is a socket's identity in request bodies.
type userInfo struct {
	ID    string   `json:"id"`
	Name  string   `json:"name"`
	Roles []string `json:"roles"`
}

func userOf(id *auth.Identity) *userInfo {
	if id == nil {
		return nil
	}
	roles := id.Roles
	if roles == nil {
		roles = []string{}
	}
	return &userInfo{ID: id.UserID, Name: id.Name, Roles: roles}
}

// connectResult is a connect answer: an admission or a refusal. Shared
// by the sockets the cache serves it to: read-only.
type connectResult struct {
	user    *userAnswer
	data    json.RawMessage
	rooms   []string
	refusal *errorAnswer
}

// connectStash carries the connect answer from Authenticate (a
// middleware) to onConnection (after admission).
type connectStash struct {
	data  json.RawMessage
	rooms []string
}

type stashKey struct{}

// Authenticate asks the backend who the connecting socket is (the connect
// hook), through the connect cache. It implements access.Authenticator:
// the guard calls it from its admission middleware. An admission returns
// the identity (Claims hold the backend's whole user object) and stashes
// the answer's data and rooms for the socket's connection (Attach); a
// refusal returns an *access.Refusal with the backend's code; anything
// else (down, slow, saturated, garbage) returns an error wrapping
// ErrBackendUnavailable. It blocks for at most Config.Timeout.
func (b *Bridge) Authenticate(ctx context.Context, s *broker.Socket, header http.Header) (*auth.Identity, error) {
	hs := s.Handshake()
	req := connectRequest{
		Type: HookConnect, Namespace: s.Namespace().Name(), SID: s.ID(), Node: b.cfg.NodeID,
		Transport: s.Transport(), Address: hs.Address,
		Headers: b.forwarded(header), Auth: authPayload(hs.Auth), Query: appQuery(hs.Query()),
	}
	ctx, cancel := b.callCtx(ctx)
	defer cancel()
	res, from, err := b.cache.get(ctx, b.cacheKey(&req), func() (*connectResult, error) { return b.askConnect(ctx, &req) })
	switch from {
	case fromCache:
		b.stats.cacheHits.Add(1)
	case fromFlight:
		b.stats.cacheCoalesced.Add(1)
	default:
		b.stats.cacheMisses.Add(1)
	}
	if err != nil {
		b.stats.unavailable.Add(1)
		return nil, err
	}
	if r := res.refusal; r != nil {
		b.stats.refused.Add(1)
		return nil, &access.Refusal{Code: r.Code, Message: r.Message, Details: r.Data}
	}
	b.stats.admitted.Add(1)
	s.Set(stashKey{}, &connectStash{data: res.data, rooms: res.rooms})
	return res.user.identity(), nil
}

func (b *Bridge) askConnect(ctx context.Context, req *connectRequest) (*connectResult, error) {
	body, err := marshal(req)
	if err != nil {
		return nil, errorf(kindRequestTooLarge, "encode: %v", err)
	}
	raw, err := b.hooks.call(ctx, HookConnect, body)
	if err != nil {
		return nil, err
	}
	a, err := b.decode(HookConnect, raw)
	if err != nil {
		return nil, err
	}
	if a.Error != nil {
		return &connectResult{refusal: a.Error}, nil
	}
	if a.User == nil {
		return nil, b.invalid(HookConnect, errorf(kindInvalid, "answer without user or error"))
	}
	return &connectResult{user: a.User, data: a.Data, rooms: a.Rooms}, nil
}

// decode decodes an answer; a failure is counted and logged as
// invalid_answer.
func (b *Bridge) decode(typ string, raw []byte) (*answer, error) {
	a, err := decodeAnswer(raw, b.cfg.MaxJSONDepth)
	if err != nil {
		return nil, b.invalid(typ, &failure{kind: kindInvalid, err: err})
	}
	return a, nil
}

func (b *Bridge) invalid(typ string, err error) error {
	b.hooks.fail(typ, err, 0)
	return err
}

func (u *userAnswer) identity() *auth.Identity {
	return &auth.Identity{UserID: u.ID, Name: u.Name, Roles: u.Roles, Claims: u.Claims}
}

// applyConnect runs on the socket's connection: data, rooms, refresh.
func (b *Bridge) applyConnect(s *broker.Socket, stash *connectStash) {
	if stash.data != nil {
		var v any
		if json.Unmarshal(stash.data, &v) == nil { // a fresh value per socket: handlers may change it
			s.SetData(v)
		}
	}
	if len(stash.rooms) > 0 {
		s.Join(stash.rooms...)
	}
	st := b.state(s)
	st.mu.Lock()
	st.backend = true
	st.mu.Unlock()
	if b.cfg.RefreshInterval > 0 {
		s.OnDisconnect(func(*broker.Socket, string) { stopRefresh(st) })
		b.scheduleRefresh(s, st)
	}
}

func (b *Bridge) scheduleRefresh(s *broker.Socket, st *socketState) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.gone {
		return
	}
	if st.timer != nil {
		st.timer.Reset(b.cfg.RefreshInterval)
		return
	}
	st.timer = time.AfterFunc(b.cfg.RefreshInterval, func() {
		b.goroutine(&b.workers, func() { b.refresh(s, st) })
	})
}

func stopRefresh(st *socketState) {
	st.mu.Lock()
	st.gone = true
	if st.timer != nil {
		st.timer.Stop()
	}
	st.mu.Unlock()
}

// refresh asks the backend whether the socket's session still holds. An
// error answer ends the socket (the standard error event, then a
// disconnect); an unusable answer keeps it until the next refresh.
func (b *Bridge) refresh(s *broker.Socket, st *socketState) {
	if !s.Connected() {
		return
	}
	b.stats.refreshes.Add(1)
	id := access.Identity(s)
	hs := s.Handshake()
	body, err := marshal(refreshRequest{
		Type: HookRefresh, Namespace: s.Namespace().Name(), SID: s.ID(), User: userOf(id),
		Headers: b.forwarded(hs.Headers()), Auth: authPayload(hs.Auth),
	})
	if err != nil {
		b.scheduleRefresh(s, st)
		return
	}
	ctx, cancel := b.callCtx(context.Background())
	raw, err := b.hooks.call(ctx, HookRefresh, body)
	cancel()
	var a *answer
	if err == nil {
		a, err = b.decode(HookRefresh, raw)
	}
	if err != nil {
		b.scheduleRefresh(s, st) // the backend is unreachable: the socket stays
		return
	}
	switch {
	case a.Error != nil:
		b.endSession(s, a.Error.Code, a.Error.Message, a.Error.Data)
		return
	case a.User != nil && id != nil && a.User.ID != id.UserID:
		b.endSession(s, access.CodeAuthInvalidSession, "the session now belongs to another user", nil)
		return
	}
	if a.User != nil {
		s.Set(access.IdentityKey, a.User.identity())
	}
	if a.Data != nil {
		var v any
		if json.Unmarshal(a.Data, &v) == nil {
			s.SetData(v)
		}
	}
	b.scheduleRefresh(s, st)
}

func (b *Bridge) endSession(s *broker.Socket, code, msg string, data any) {
	b.stats.refreshDisconnects.Add(1)
	var details map[string]any
	if data != nil {
		details = map[string]any{"data": data}
	}
	access.SendError(s, access.ErrorPayload(code, msg, details, false, b.cfg.Now()))
	s.Disconnect(false)
}

// forwarded returns the allow-listed headers, by lower-case name. Repeated
// headers are joined as HTTP allows (cookies with "; ").
func (b *Bridge) forwarded(header http.Header) map[string]string {
	out := make(map[string]string, len(b.cfg.ForwardHeaders))
	for _, name := range b.cfg.ForwardHeaders {
		vals := header.Values(name)
		if len(vals) == 0 {
			continue
		}
		sep := ", "
		if name == "cookie" {
			sep = "; "
		}
		out[name] = strings.Join(vals, sep)
	}
	return out
}

// authPayload is the CONNECT payload without Socket.IO's own connection
// state recovery fields, which change on every reconnect.
func authPayload(a map[string]any) map[string]any {
	out := make(map[string]any, len(a))
	for k, v := range a {
		if k != "pid" && k != "offset" {
			out[k] = v
		}
	}
	return out
}

// engineParams are the query parameters of Engine.IO itself (protocol,
// transport, session, polling cache buster), not the application's.
var engineParams = map[string]bool{"EIO": true, "transport": true, "t": true, "sid": true, "j": true, "b64": true}

// appQuery is the application's query: the first value of each parameter
// that is not Engine.IO's.
func appQuery(q url.Values) map[string]string {
	out := make(map[string]string, len(q))
	for k, v := range q {
		if !engineParams[k] && len(v) > 0 {
			out[k] = v[0]
		}
	}
	return out
}

// cacheKey is SHA-256 over the parts of a connect request that decide
// the answer: namespace, forwarded header values (in ForwardHeaders
// order), auth payload and query (JSON with sorted keys), each length
// prefixed so no two requests share a key.
func (b *Bridge) cacheKey(req *connectRequest) cacheKey {
	h := sha256.New()
	part := func(h hash.Hash, p []byte) {
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(p)))
		h.Write(n[:])
		h.Write(p)
	}
	part(h, []byte(req.Namespace))
	for _, name := range b.cfg.ForwardHeaders {
		v, ok := req.Headers[name]
		if !ok {
			part(h, nil)
			continue
		}
		part(h, []byte("="+v))
	}
	a, _ := json.Marshal(req.Auth) // maps marshal with sorted keys
	part(h, a)
	q, _ := json.Marshal(req.Query)
	part(h, q)
	var k cacheKey
	h.Sum(k[:0])
	return k
}
