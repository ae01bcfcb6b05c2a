package api

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/ionbus/ionbus/adapter"
	"github.com/ionbus/ionbus/broker"
	"github.com/ionbus/ionbus/connection"
)

// MaxBodyBytes bounds a request body (1 MiB). Larger bodies get 413
// PAYLOAD_TOO_LARGE.
const MaxBodyBytes = 1 << 20

// Config configures the API handler. The zero value of each field means
// the default stated in its comment.
type Config struct {
	// Key is the bearer token every /api/v1 request must carry. Empty
	// refuses every /api/v1 request (401) unless Insecure is set.
	Key string
	// Insecure serves /api/v1 without any key. For local development
	// only: anyone who reaches the listener can publish.
	Insecure bool
	// MaxAckTimeout caps the "ack_timeout_ms" of an emit. Default 60s.
	MaxAckTimeout time.Duration
	// BodyTimeout bounds reading a request body: a client that trickles
	// one is answered 408 and cut off. Default 30s. (Headers are bounded
	// by the http.Server's ReadHeaderTimeout.)
	BodyTimeout time.Duration
	// Logger; default disabled. Keys, tokens and cookies are never logged.
	Logger *zerolog.Logger
	// Lifecycle, when set, reports the node's phase to /healthz and
	// /readyz: serving once its listeners serve, draining from the start
	// of a shutdown (which may begin before the broker's own, see
	// node's shutdown_delay). Nil: serving from New, draining when the
	// broker is.
	Lifecycle func() (serving, draining bool)
	// Nodes gathers GET /api/v1/nodes (and the dashboard's data). Nil:
	// New builds one with NewNodes(srv, nil), which answers the other
	// nodes with the broker's own figures.
	Nodes *Nodes
}

// Error codes of the JSON error body. Values are stable: clients branch
// on them.
const (
	CodeBadRequest        = "BAD_REQUEST"         // 400: malformed JSON, missing or invalid field
	CodeReservedEvent     = "RESERVED_EVENT"      // 400: event name reserved by Socket.IO
	CodeUnauthorized      = "UNAUTHORIZED"        // 401: missing or wrong API key
	CodeNotFound          = "NOT_FOUND"           // 404: unknown route
	CodeNamespaceNotFound = "NAMESPACE_NOT_FOUND" // 404: the namespace does not exist on this node
	CodeMethodNotAllowed  = "METHOD_NOT_ALLOWED"  // 405
	CodePayloadTooLarge   = "PAYLOAD_TOO_LARGE"   // 413: body over MaxBodyBytes
	CodeClusterError      = "CLUSTER_ERROR"       // 502: applied locally, the adapter failed for other nodes
	CodeInternal          = "INTERNAL"            // 500
)

type handler struct {
	cfg    Config
	srv    *broker.Server
	log    zerolog.Logger
	keySum [sha256.Size]byte
	routes map[string]route
	// cluster is Config.Nodes, or the one New built.
	cluster *Nodes
}

type route struct {
	method string
	serve  func(w http.ResponseWriter, r *http.Request)
}

// New returns the API handler for srv. It is safe for concurrent use.
func New(cfg Config, srv *broker.Server) http.Handler {
	if cfg.MaxAckTimeout <= 0 {
		cfg.MaxAckTimeout = time.Minute
	}
	log := zerolog.Nop()
	if cfg.Logger != nil {
		log = *cfg.Logger
	}
	h := &handler{
		cfg:    cfg,
		srv:    srv,
		log:    log.With().Str("component", "api").Logger(),
		keySum: sha256.Sum256([]byte(cfg.Key)),
	}
	if h.cluster = cfg.Nodes; h.cluster == nil {
		h.cluster = NewNodes(srv, nil)
	}
	h.routes = map[string]route{
		"/api/v1/emit":       {http.MethodPost, h.emit},
		"/api/v1/stats":      {http.MethodGet, h.stats},
		"/api/v1/sockets":    {http.MethodGet, h.sockets},
		"/api/v1/disconnect": {http.MethodPost, h.disconnect},
		"/api/v1/nodes":      {http.MethodGet, h.nodes},
	}
	return h
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
	if r.ContentLength != 0 { // a body to read: within BodyTimeout (decodeBody lifts it)
		_ = http.NewResponseController(w).SetReadDeadline(start.Add(h.bodyTimeout()))
	}
	h.route(rw, r)
	ev := h.log.Debug()
	if rw.status >= 500 {
		ev = h.log.Warn()
	}
	ev.Str("method", r.Method).Str("path", r.URL.Path).Int("status", rw.status).
		Dur("duration", time.Since(start)).Msg("api request")
}

func (h *handler) bodyTimeout() time.Duration {
	if h.cfg.BodyTimeout > 0 {
		return h.cfg.BodyTimeout
	}
	return 30 * time.Second
}

func (h *handler) route(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case PathHealth:
		h.probe(w, r, h.healthz)
		return
	case PathReady:
		h.probe(w, r, h.readyz)
		return
	}
	if r.URL.Path == PathDashboard || strings.HasPrefix(r.URL.Path, PathDashboard+"/") {
		h.dashboard(w, r) // its own sign-in: the key once, then a cookie
		return
	}
	// Authenticate before routing so unknown paths reveal nothing.
	if !h.authorized(r) {
		h.log.Warn().Str("remote", r.RemoteAddr).Str("path", r.URL.Path).Msg("api: unauthorized request")
		w.Header().Set("WWW-Authenticate", `Bearer realm="ionbus"`)
		msg := "missing or invalid API key (Authorization: Bearer <key>)"
		if h.cfg.Key == "" {
			msg = "the API key is not configured (api.key / IONBUS_API_KEY); set api.insecure only for local development"
		}
		writeError(w, http.StatusUnauthorized, CodeUnauthorized, msg)
		return
	}
	rt, ok := h.routes[r.URL.Path]
	if !ok {
		writeError(w, http.StatusNotFound, CodeNotFound, "no route "+r.URL.Path)
		return
	}
	if r.Method != rt.method {
		methodNotAllowed(w, rt.method)
		return
	}
	rt.serve(w, r)
}

func (h *handler) authorized(r *http.Request) bool {
	if h.cfg.Insecure {
		return true
	}
	if h.cfg.Key == "" {
		return false
	}
	scheme, token, ok := strings.Cut(strings.TrimSpace(r.Header.Get("Authorization")), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	// Comparing digests keeps the comparison constant-time in the key
	// length as well as its content.
	sum := sha256.Sum256([]byte(strings.TrimSpace(token)))
	return subtle.ConstantTimeCompare(sum[:], h.keySum[:]) == 1
}

// Probe routes on the API listener; they need no key. Package node also
// serves them on the public listener (health_path, ready_path).
const (
	PathHealth = "/healthz"
	PathReady  = "/readyz"
)

// Probe statuses in the "status" field of /healthz and /readyz.
const (
	StatusOK       = "ok"       // 200
	StatusDegraded = "degraded" // 503: the adapter lost its backend; local delivery continues
	StatusDraining = "draining" // 503: shutting down
	StatusStarting = "starting" // 503: not serving yet
)

// Probes returns the /healthz and /readyz handlers alone, without the
// rest of the API and without a key, for a load balancer on another
// listener. GET and HEAD only.
func Probes(cfg Config, srv *broker.Server) (health, ready http.Handler) {
	h := New(cfg, srv).(*handler)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.probe(w, r, h.healthz) }),
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.probe(w, r, h.readyz) })
}

// healthReporter is implemented by adapters that can lose their backend
// (Redis) while the node keeps serving local sockets.
type healthReporter interface{ Degraded() bool }

// degradedReasoner optionally explains a degraded state.
type degradedReasoner interface{ DegradedReason() string }

// probeAnswer is the body of /healthz and /readyz.
type probeAnswer struct {
	Status string `json:"status"`
	Reason string `json:"reason,omitempty"`
}

func (h *handler) probe(w http.ResponseWriter, r *http.Request, answer func() probeAnswer) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		methodNotAllowed(w, http.MethodGet)
		return
	}
	a := answer()
	status := http.StatusOK
	if a.Status != StatusOK {
		status = http.StatusServiceUnavailable
	}
	writeJSON(w, status, a)
}

// phase is the node's lifecycle as the probes see it.
func (h *handler) phase() (serving, draining bool) {
	serving = true
	if h.cfg.Lifecycle != nil {
		serving, draining = h.cfg.Lifecycle()
	}
	return serving, draining || h.srv.Draining()
}

// healthz: 200 ok, or 503 while degraded (a load balancer moves clients
// to a node that reaches the cluster) or draining.
func (h *handler) healthz() probeAnswer {
	if _, draining := h.phase(); draining {
		return probeAnswer{Status: StatusDraining, Reason: "the node is shutting down"}
	}
	if a, ok := h.srv.Adapter().(healthReporter); ok && a.Degraded() {
		out := probeAnswer{Status: StatusDegraded, Reason: "adapter degraded: cluster delivery unavailable, local delivery continues"}
		if d, ok := a.(degradedReasoner); ok {
			if reason := d.DegradedReason(); reason != "" {
				out.Reason = reason
			}
		}
		return out
	}
	return probeAnswer{Status: StatusOK}
}

// readyz: 200 once the node serves and until its shutdown begins; a
// degraded node is still ready (it serves its own sockets).
func (h *handler) readyz() probeAnswer {
	serving, draining := h.phase()
	switch {
	case draining:
		return probeAnswer{Status: StatusDraining, Reason: "the node is shutting down"}
	case !serving:
		return probeAnswer{Status: StatusStarting, Reason: "the node is not serving yet"}
	}
	return probeAnswer{Status: StatusOK}
}

// EmitRequest is the body of POST /api/v1/emit.
type EmitRequest struct {
	// Namespace defaults to "/". It must exist on this node.
	Namespace string `json:"namespace"`
	Event     string `json:"event"`
	// Data are the event arguments, each forwarded verbatim.
	Data   []json.RawMessage `json:"data"`
	Rooms  []string          `json:"rooms"`
	Except []string          `json:"except"`
	// Volatile lets congested sockets drop the event.
	Volatile bool `json:"volatile"`
	// AckTimeoutMS > 0 asks every client for an acknowledgement and waits
	// up to that many milliseconds for them.
	AckTimeoutMS int64 `json:"ack_timeout_ms"`
}

// EmitResponse answers POST /api/v1/emit without ack_timeout_ms (202).
type EmitResponse struct {
	OK bool `json:"ok"`
	// Partial: the broadcast was published, but Reached of the Expected
	// live nodes (this one included) were subscribed to receive it — as
	// while nodes resubscribe after a Redis restart. The others missed
	// it; resend if it matters. Classic mode on one Redis only.
	Partial  bool `json:"partial,omitempty"`
	Reached  *int `json:"reached,omitempty"`
	Expected *int `json:"expected,omitempty"`
}

// AckResponse answers POST /api/v1/emit with ack_timeout_ms (200).
type AckResponse struct {
	OK bool `json:"ok"`
	// Responses holds one argument list per client that acknowledged.
	// Binary values appear base64-encoded.
	Responses [][]any `json:"responses"`
	// TimedOut is true when some clients did not acknowledge in time.
	TimedOut bool `json:"timed_out"`
}

func (h *handler) emit(w http.ResponseWriter, r *http.Request) {
	var req EmitRequest
	if !decodeBody(w, r, &req) {
		return
	}
	if req.Event == "" {
		writeError(w, http.StatusBadRequest, CodeBadRequest, `"event" is required`)
		return
	}
	if broker.IsReservedEvent(req.Event) {
		writeError(w, http.StatusBadRequest, CodeReservedEvent, fmt.Sprintf("%q is reserved by Socket.IO", req.Event))
		return
	}
	maxAck := h.cfg.MaxAckTimeout.Milliseconds()
	if req.AckTimeoutMS < 0 || req.AckTimeoutMS > maxAck {
		writeError(w, http.StatusBadRequest, CodeBadRequest, fmt.Sprintf(`"ack_timeout_ms" must be between 0 and %d`, maxAck))
		return
	}
	ns, ok := h.namespace(w, req.Namespace)
	if !ok {
		return
	}
	args := make([]any, len(req.Data))
	for i, d := range req.Data {
		args[i] = d
	}
	b := ns.To(req.Rooms...).Except(req.Except...)
	if req.Volatile {
		b = b.Volatile()
	}
	if req.AckTimeoutMS == 0 {
		err := b.Emit(req.Event, args...)
		if pe, ok := errors.AsType[*adapter.PartialError](err); ok {
			writeJSON(w, http.StatusAccepted, EmitResponse{OK: true, Partial: true, Reached: &pe.Reached, Expected: &pe.Expected})
			return
		}
		if err != nil {
			h.broadcastError(w, err)
			return
		}
		writeJSON(w, http.StatusAccepted, EmitResponse{OK: true})
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), time.Duration(req.AckTimeoutMS)*time.Millisecond)
	defer cancel()
	responses, err := b.EmitWithAck(ctx, req.Event, args...)
	if err != nil && !errors.Is(err, broker.ErrAckTimeout) {
		h.broadcastError(w, err)
		return
	}
	if responses == nil {
		responses = [][]any{}
	}
	writeJSON(w, http.StatusOK, AckResponse{OK: true, Responses: responses, TimedOut: err != nil})
}

func (h *handler) broadcastError(w http.ResponseWriter, err error) {
	if errors.Is(err, broker.ErrReservedEvent) {
		writeError(w, http.StatusBadRequest, CodeReservedEvent, err.Error())
		return
	}
	if errors.Is(err, broker.ErrPublish) {
		h.log.Warn().Err(err).Msg("api: cluster operation failed")
		writeError(w, http.StatusBadGateway, CodeClusterError,
			"applied to this node's sockets; the adapter failed for other nodes: "+err.Error())
		return
	}
	writeError(w, http.StatusBadRequest, CodeBadRequest, err.Error())
}

// namespace finds an existing namespace; it never creates one.
func (h *handler) namespace(w http.ResponseWriter, name string) (*broker.Namespace, bool) {
	if name == "" {
		name = "/"
	} else if name[0] != '/' {
		name = "/" + name
	}
	if ns := h.srv.Resolve(name); ns != nil { // a dynamic child may live on other nodes only
		return ns, true
	}
	writeError(w, http.StatusNotFound, CodeNamespaceNotFound, fmt.Sprintf("namespace %q does not exist", name))
	return nil, false
}

// StatsResponse answers GET /api/v1/stats.
type StatsResponse struct {
	Broker  broker.Stats `json:"broker"`
	Engine  EngineStats  `json:"engine"`
	Runtime RuntimeStats `json:"runtime"`
}

// EngineStats is connection.Stats in a JSON-friendly shape.
type EngineStats struct {
	Open             int               `json:"open_sessions"`
	SessionsOpened   uint64            `json:"sessions_opened_total"`
	SessionsClosed   map[string]uint64 `json:"sessions_closed_total"`  // by close reason, snake_case ("ping_timeout")
	HandshakeErrors  map[string]uint64 `json:"handshake_errors_total"` // by Engine.IO error, named ("transport_unknown"); "shutdown" during Shutdown
	SlowConsumers    uint64            `json:"slow_consumers_total"`
	VolatileDrops    uint64            `json:"volatile_drops_total"`
	ParseErrors      uint64            `json:"parse_errors_total"`
	Upgrades         uint64            `json:"upgrades_total"`
	UpgradesFailed   uint64            `json:"upgrades_failed_total"`
	MessagesReceived uint64            `json:"messages_received_total"`
	PostsTooLarge    uint64            `json:"posts_too_large_total"`
	PostsCut         uint64            `json:"posts_cut_total"`        // polling POST bodies not read within engine.body_timeout or cut by their session's close
	PollsCompressed  uint64            `json:"polls_compressed_total"` // polling responses sent gzip/deflate-encoded
	PollBytesSaved   uint64            `json:"poll_bytes_saved_total"` // bytes compression saved on them
	WSDeflated       uint64            `json:"ws_deflated_total"`      // websocket messages sent compressed (permessage-deflate)
	WSInflated       uint64            `json:"ws_inflated_total"`      // and received compressed
}

func engineStats(st connection.Stats) EngineStats {
	out := EngineStats{
		Open:             st.Open,
		SessionsOpened:   st.SessionsOpened,
		SessionsClosed:   make(map[string]uint64),
		HandshakeErrors:  make(map[string]uint64),
		SlowConsumers:    st.SlowConsumers,
		VolatileDrops:    st.VolatileDrops,
		ParseErrors:      st.ParseErrors,
		Upgrades:         st.Upgrades,
		UpgradesFailed:   st.UpgradesFailed,
		MessagesReceived: st.MessagesReceived,
		PostsTooLarge:    st.PostsTooLarge,
		PostsCut:         st.PostsCut,
		PollsCompressed:  st.PollsCompressed,
		PollBytesSaved:   st.PollBytesSaved,
		WSDeflated:       st.FramesDeflated,
		WSInflated:       st.FramesInflated,
	}
	for i, n := range st.SessionsClosed {
		if i == int(connection.CloseNone) {
			continue
		}
		out.SessionsClosed[snakeCase(connection.CloseReason(i).String())] = n
	}
	for i, n := range st.HandshakeErrors {
		key := "shutdown"
		if i < len(handshakeErrors) {
			key = snakeCase(handshakeErrors[i].Message)
		}
		out.HandshakeErrors[key] = n
	}
	return out
}

// handshakeErrors are the Engine.IO errors by code, the index of
// connection.Stats.HandshakeErrors (its last slot counts shutdowns).
var handshakeErrors = []*connection.Error{
	connection.ErrUnknownTransport, connection.ErrUnknownSid, connection.ErrBadHandshakeMethod,
	connection.ErrBadRequest, connection.ErrForbidden, connection.ErrUnsupportedVersion,
}

// snakeCase turns "Session ID unknown" into "session_id_unknown", the key
// style of every stats field.
func snakeCase(s string) string { return strings.ReplaceAll(strings.ToLower(s), " ", "_") }

func (h *handler) stats(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, StatsResponse{
		Broker: h.srv.Stats(), Engine: engineStats(h.srv.Engine().Stats()), Runtime: readRuntime(),
	})
}

// SocketView is one socket in GET /api/v1/sockets.
type SocketView struct {
	ID        string          `json:"id"`
	Node      string          `json:"node"`
	Rooms     []string        `json:"rooms"`
	Data      json.RawMessage `json:"data"`
	Handshake HandshakeView   `json:"handshake"`
}

// HandshakeView is the part of a socket's handshake the API exposes.
// The auth payload, the URL and query (which commonly carry tokens) and
// the Cookie and Authorization headers are left out.
type HandshakeView struct {
	Address string            `json:"address"`
	Time    string            `json:"time"`
	Issued  int64             `json:"issued"`
	Secure  bool              `json:"secure"`
	XDomain bool              `json:"xdomain"`
	Headers map[string]string `json:"headers"`
}

// SocketsResponse answers GET /api/v1/sockets.
type SocketsResponse struct {
	Sockets []SocketView `json:"sockets"`
	Count   int          `json:"count"`
	// Complete is false when some nodes did not answer in time; their
	// sockets are missing.
	Complete bool   `json:"complete"`
	Error    string `json:"error,omitempty"`
}

var hiddenHeaders = map[string]bool{"cookie": true, "authorization": true, "proxy-authorization": true}

func (h *handler) sockets(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	ns, ok := h.namespace(w, q.Get("namespace"))
	if !ok {
		return
	}
	list, err := ns.To(splitList(q["room"])...).Except(splitList(q["except"])...).FetchSockets(r.Context())
	out := SocketsResponse{Sockets: make([]SocketView, 0, len(list)), Complete: err == nil}
	if err != nil {
		out.Error = err.Error()
	}
	for _, s := range list {
		node := s.Node // "" when a peer (a Node.js node) does not name itself
		headers := make(map[string]string, len(s.Handshake.Headers))
		for k, v := range s.Handshake.Headers {
			if !hiddenHeaders[strings.ToLower(k)] {
				headers[k] = v
			}
		}
		rooms := append([]string(nil), s.Rooms...)
		sort.Strings(rooms)
		data := s.Data
		if len(data) == 0 {
			data = json.RawMessage("null")
		}
		out.Sockets = append(out.Sockets, SocketView{
			ID: s.ID, Node: node, Rooms: rooms, Data: data,
			Handshake: HandshakeView{
				Address: s.Handshake.Address, Time: s.Handshake.Time, Issued: s.Handshake.Issued,
				Secure: s.Handshake.Secure, XDomain: s.Handshake.XDomain, Headers: headers,
			},
		})
	}
	sort.Slice(out.Sockets, func(i, j int) bool { return out.Sockets[i].ID < out.Sockets[j].ID })
	out.Count = len(out.Sockets)
	writeJSON(w, http.StatusOK, out)
}

// splitList accepts both repeated parameters and comma-separated values.
func splitList(values []string) []string {
	var out []string
	for _, v := range values {
		for part := range strings.SplitSeq(v, ",") {
			if part = strings.TrimSpace(part); part != "" {
				out = append(out, part)
			}
		}
	}
	return out
}

// DisconnectRequest is the body of POST /api/v1/disconnect. Empty Rooms
// selects every socket of the namespace.
type DisconnectRequest struct {
	Namespace string   `json:"namespace"`
	Rooms     []string `json:"rooms"`
	Except    []string `json:"except"`
	// Close also closes the clients' transports (all their namespaces).
	Close bool `json:"close"`
}

func (h *handler) disconnect(w http.ResponseWriter, r *http.Request) {
	var req DisconnectRequest
	if !decodeBody(w, r, &req) {
		return
	}
	ns, ok := h.namespace(w, req.Namespace)
	if !ok {
		return
	}
	if err := ns.To(req.Rooms...).Except(req.Except...).DisconnectSockets(r.Context(), req.Close); err != nil {
		h.broadcastError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]bool{"ok": true})
}

// decodeBody reads one JSON object of at most MaxBodyBytes with no
// unknown fields. On failure it has written the error answer.
func decodeBody(w http.ResponseWriter, r *http.Request, v any) bool {
	body := http.MaxBytesReader(w, r.Body, MaxBodyBytes)
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil {
		if _, extra := dec.Token(); extra != io.EOF {
			err = errors.New("unexpected data after the JSON object")
		}
	}
	if err == nil {
		// Read: lift Config.BodyTimeout's deadline, so a long answer (an
		// emit waiting for acks) does not meet it.
		_ = http.NewResponseController(w).SetReadDeadline(time.Time{})
		return true
	}
	if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() {
		writeError(w, http.StatusRequestTimeout, CodeBadRequest, "request body too slow")
		return false
	}
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		writeError(w, http.StatusRequestEntityTooLarge, CodePayloadTooLarge, fmt.Sprintf("body exceeds %d bytes", MaxBodyBytes))
		return false
	}
	if errors.Is(err, io.EOF) {
		err = errors.New("empty body")
	}
	writeError(w, http.StatusBadRequest, CodeBadRequest, "invalid JSON body: "+err.Error())
	return false
}

// ErrorBody is the JSON body of every error answer.
type ErrorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

func writeError(w http.ResponseWriter, status int, code, message string) {
	var body ErrorBody
	body.Error.Code = code
	body.Error.Message = message
	writeJSON(w, status, body)
}

func methodNotAllowed(w http.ResponseWriter, allow string) {
	w.Header().Set("Allow", allow)
	writeError(w, http.StatusMethodNotAllowed, CodeMethodNotAllowed, "use "+allow)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	data, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		data = []byte(`{"error":{"code":"` + CodeInternal + `","message":"cannot encode the response"}}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(append(data, '\n'))
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(status int) {
	w.status = status
	w.ResponseWriter.WriteHeader(status)
}

// Unwrap lets http.ResponseController reach the connection (read
// deadlines).
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
