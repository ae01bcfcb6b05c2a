package connection

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Conn is one Engine.IO session as seen from above: a message pipe with a
// heartbeat. The transport (polling, websocket, an upgrade between them) is
// invisible through it.
//
// All methods are safe for concurrent use and never block on the network.
type Conn interface {
	// ID is the Engine.IO session id (sid).
	ID() string
	// Send enqueues messages for delivery, atomically and in order: no
	// other Send interleaves with them. It never blocks. When the
	// session's outbound queue would exceed Config.MaxQueueBytes the
	// session is closed with CloseSlowConsumer and ErrQueueFull is
	// returned; volatile messages are dropped instead (ErrDropped). After
	// the session closed it returns ErrClosed.
	Send(msgs ...*Message) error
	// Close ends the session: queued messages are flushed (best effort,
	// bounded by the write timeout), then the transport is closed and
	// Handler.OnClose runs once with reason.
	Close(reason CloseReason) error
	// RemoteAddr is the peer address of the request that opened the
	// session ("ip:port").
	RemoteAddr() string
	// Transport is the current transport name: "polling" or "websocket".
	Transport() string
	// SetValue attaches the handler's per-session state to the session,
	// and Value returns it: a field in the session rather than a map keyed
	// by Conn that every message would look up. Call SetValue in OnOpen;
	// Value is then safe in the session's later callbacks.
	SetValue(v any)
	Value() any
	// Do runs fn on the session's callbacks: after those already running
	// or queued, never beside an OnMessage or OnClose of the session, on
	// a goroutine of its own when none is running. It returns false, and
	// fn never runs, when OnClose has run or is queued. Work that must
	// not hold a reader (a network call) runs elsewhere and comes back
	// through Do.
	Do(fn func()) bool
}

// Handshake is what the opening HTTP request carried. It is immutable and
// may be kept after OnOpen returns.
//
// The request's header and query are kept in compact form (the header
// lines in one string, the query inside RequestURI) and parsed on demand:
// http.Header and url.Values maps would cost an idle session ~1.3 KB more,
// and they are read only at CONNECT time and by introspection.
type Handshake struct {
	// RequestURI is the request target as the client sent it: the path
	// and the raw query ("/socket.io/?EIO=4&transport=websocket").
	RequestURI string
	RemoteAddr string // peer "ip:port", as seen by the listener
	Secure     bool   // TLS terminated by this process
	Time       time.Time
	Transport  string // transport of the opening request

	header string // one "Key:value\n" line per value; keys canonical
}

// NewHandshake captures what a handshake keeps of r.
func NewHandshake(r *http.Request, transport string, now time.Time) *Handshake {
	uri := strings.Clone(r.RequestURI) // not a substring of the request line: only the URI stays live
	if uri == "" {
		uri = r.URL.RequestURI()
	}
	n := 0
	for k, vs := range r.Header {
		for _, v := range vs {
			n += len(k) + len(v) + 2
		}
	}
	var b strings.Builder
	b.Grow(n)
	for k, vs := range r.Header {
		for _, v := range vs {
			b.WriteString(k)
			b.WriteByte(':')
			b.WriteString(v)
			b.WriteByte('\n')
		}
	}
	return &Handshake{
		RequestURI: uri,
		RemoteAddr: r.RemoteAddr,
		Secure:     r.TLS != nil,
		Time:       now,
		Transport:  transport,
		header:     b.String(),
	}
}

// Header returns a new map of the request's headers.
func (h *Handshake) Header() http.Header {
	out := make(http.Header, strings.Count(h.header, "\n"))
	h.eachHeader(func(k, v string) bool {
		out[k] = append(out[k], v)
		return true
	})
	return out
}

// HeaderValue returns the first value of the named header, or "".
func (h *Handshake) HeaderValue(key string) string {
	key = http.CanonicalHeaderKey(key)
	val := ""
	h.eachHeader(func(k, v string) bool {
		if k == key {
			val = v
			return false
		}
		return true
	})
	return val
}

func (h *Handshake) eachHeader(f func(k, v string) bool) {
	rest := h.header
	for rest != "" {
		line, tail, _ := strings.Cut(rest, "\n")
		rest = tail
		k, v, _ := strings.Cut(line, ":")
		if !f(k, v) {
			return
		}
	}
}

// Query returns a new map of the request's query parameters (malformed
// pairs are skipped, as url.URL.Query does).
func (h *Handshake) Query() url.Values {
	_, raw, _ := strings.Cut(h.RequestURI, "?")
	q, _ := url.ParseQuery(raw)
	return q
}

// Handler receives the events of every session of a Server.
//
// Calls for one session are serialized: OnOpen happens before any
// OnMessage, OnMessage calls never overlap, and OnClose is the last call.
// Calls for different sessions run concurrently on the worker pool, so
// a handler must not block for long: it delays other sessions.
type Handler interface {
	// OnOpen is called once the handshake is accepted and before the open
	// packet is sent. Returning an error refuses the session; an *Error
	// chooses the code and status the client sees.
	OnOpen(c Conn, hs *Handshake) error
	// OnMessage is called for each Engine.IO "message" packet. m.Data is
	// valid only during the call; copy it to keep it.
	OnMessage(c Conn, m Message)
	// OnClose is called exactly once per opened session.
	OnClose(c Conn, reason CloseReason)
}

// Message is one Engine.IO message packet payload. Text payloads are UTF-8
// (validated by the transport on input); Binary payloads are raw bytes.
//
// A Message built with NewMessage may be sent to any number of sessions:
// its wire encodings (the websocket frame, the polling form) are built once,
// on first use, and shared. It must not be modified after the first Send.
type Message struct {
	Binary   bool
	Data     []byte
	Volatile bool // may be dropped instead of queued when the session is congested

	enc  encodings // lazily built wire forms, shared between recipients
	kind msgKind   // zero: an application message; else an internal control packet
}

// NewMessage returns a message ready to be sent to many sessions.
func NewMessage(binary bool, data []byte) *Message {
	return &Message{Binary: binary, Data: data}
}

// CloseReason says why a session ended. Values are stable: they appear
// in logs and metric labels, and broker maps them to Socket.IO disconnect
// reasons.
type CloseReason uint8

const (
	CloseNone           CloseReason = 0
	CloseServerShutdown CloseReason = 1  // Server.Shutdown
	CloseServerClose    CloseReason = 2  // Conn.Close called from above ("forced close")
	CloseTransportClose CloseReason = 3  // peer closed the transport cleanly
	CloseTransportError CloseReason = 4  // read/write error
	ClosePingTimeout    CloseReason = 5  // no pong within pingInterval+pingTimeout
	CloseParseError     CloseReason = 6  // malformed Engine.IO input
	CloseClientClose    CloseReason = 7  // client sent an Engine.IO close packet
	CloseSlowConsumer   CloseReason = 8  // outbound queue exceeded MaxQueueBytes
	CloseTooLarge       CloseReason = 9  // inbound payload exceeded MaxPayload
	CloseDoubleGet      CloseReason = 10 // a second concurrent polling GET
)

var closeReasonNames = [...]string{
	CloseNone:           "none",
	CloseServerShutdown: "server shutting down",
	CloseServerClose:    "forced close",
	CloseTransportClose: "transport close",
	CloseTransportError: "transport error",
	ClosePingTimeout:    "ping timeout",
	CloseParseError:     "parse error",
	CloseClientClose:    "client close",
	CloseSlowConsumer:   "slow consumer",
	CloseTooLarge:       "payload too large",
	CloseDoubleGet:      "overlapping polling request",
}

func (r CloseReason) String() string {
	if int(r) < len(closeReasonNames) {
		return closeReasonNames[r]
	}
	return "unknown"
}

var (
	ErrClosed    = errors.New("connection: closed")
	ErrQueueFull = errors.New("connection: outbound queue full")
	ErrDropped   = errors.New("connection: volatile message dropped")
)

// Error is a handshake refusal: the Engine.IO error code and message the
// client receives in the JSON body, and the HTTP status. Handler.OnOpen
// may return one to refuse a session with a chosen answer.
type Error struct {
	Code    int
	Message string
	Status  int
	// Context is optional extra JSON-serializable detail put in the
	// response body under "context" (the reference server's shape).
	Context map[string]any
}

func (e *Error) Error() string { return "connection: " + e.Message }

// Engine.IO handshake errors, with the codes, messages and statuses of the
// reference server (engine.io lib/server.ts).
var (
	ErrUnknownTransport   = &Error{Code: 0, Message: "Transport unknown", Status: http.StatusBadRequest}
	ErrUnknownSid         = &Error{Code: 1, Message: "Session ID unknown", Status: http.StatusBadRequest}
	ErrBadHandshakeMethod = &Error{Code: 2, Message: "Bad handshake method", Status: http.StatusBadRequest}
	ErrBadRequest         = &Error{Code: 3, Message: "Bad request", Status: http.StatusBadRequest}
	ErrForbidden          = &Error{Code: 4, Message: "Forbidden", Status: http.StatusForbidden}
	ErrUnsupportedVersion = &Error{Code: 5, Message: "Unsupported protocol version", Status: http.StatusBadRequest}
)
