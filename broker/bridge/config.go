package bridge

import (
	"errors"
	"fmt"
	"net/http"
	"net/textproto"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/rs/zerolog"
)

// Config configures a Bridge. The zero value of each field means the
// default stated in its comment.
type Config struct {
	// URL receives every hook as a JSON POST (connect, refresh, event,
	// lifecycle). Required; http or https.
	URL string
	// Secret is the HMAC-SHA256 key that signs every request
	// (X-Ionbus-Signature, see Sign). Empty: requests are not signed.
	Secret string
	// Timeout bounds one hook call, the wait for a MaxInflight slot
	// included, and one XADD of a client event. Zero: 3s.
	Timeout time.Duration
	// ForwardHeaders names the handshake request headers sent to the
	// backend with connect and refresh (case-insensitive; sent with
	// lower-case names). Nil: cookie, authorization, user-agent,
	// x-forwarded-for. Empty but non-nil: none.
	ForwardHeaders []string
	// MaxInflight bounds the hook requests in flight on this node, all
	// types together. Zero: 256.
	MaxInflight int
	// MaxInflightPerSocket bounds the forwarded events of one socket that
	// are queued or in flight; past it the event is refused with
	// BACKEND_BUSY. Zero: 16.
	MaxInflightPerSocket int
	// CacheTTL is how long a connect answer (admission or refusal) is
	// reused for identical connects. Zero: 10s. See DisableCache.
	CacheTTL time.Duration
	// CacheSize bounds the number of cached connect answers (least
	// recently used evicted). Zero: 10,000.
	CacheSize int
	// DisableCache turns the connect cache off (identical concurrent
	// connects are still coalesced into one request).
	DisableCache bool
	// RefreshInterval is the period of the "refresh" call for each socket
	// the backend authenticated. Zero: no refresh.
	RefreshInterval time.Duration
	// MaxBodyBytes bounds request and answer bodies, in bytes. Zero: 1 MiB.
	MaxBodyBytes int
	// MaxJSONDepth bounds the nesting of answers. Zero: 32.
	MaxJSONDepth int

	// Stream configures the stream of client events routed ViaStream.
	Stream StreamConfig
	// Lifecycle configures connection lifecycle events.
	Lifecycle LifecycleConfig

	// NodeID names this node in requests (X-Ionbus-Node, "node") and in
	// Redis keys. Required.
	NodeID string
	// NodeTTL is how long this node's heartbeat lives in Redis; it is
	// refreshed, and dead nodes are swept, every NodeTTL/3. A node that
	// dies has its sockets' disconnects emitted within about
	// NodeTTL*4/3. Zero: 30s.
	NodeTTL time.Duration
	// KeyPrefix starts every Redis key of the bridge (see keys.go). It
	// must not contain '{' or '}': the bridge adds the hash tag. Zero:
	// "ionbus:bridge".
	KeyPrefix string

	// HTTPClient sends the hooks. Nil: a client of its own (redirects not
	// followed, MaxInflight idle connections kept to the backend).
	HTTPClient *http.Client
	// Logger; zero value discards.
	Logger zerolog.Logger
	// Now is the clock. Nil: time.Now.
	Now func() time.Time
	// ObserveHook, if set, is called once per hook request (connect,
	// refresh, event, lifecycle: the X-Ionbus-Type) with its duration on
	// the wall clock, the wait for a MaxInflight slot included, failures
	// included. It must not block. Nil: not measured.
	ObserveHook func(hook string, d time.Duration)
}

// StreamConfig configures the Redis Stream of client events.
type StreamConfig struct {
	// Key of the stream. Zero: "ionbus:events".
	Key string
	// MaxLen caps the stream approximately (XADD MAXLEN ~). Zero: 100,000.
	MaxLen int64
}

// LifecycleConfig configures lifecycle events (connect, disconnect,
// join, leave, online, offline). They need Redis.
type LifecycleConfig struct {
	// Stream is the stream key lifecycle events are added to. Empty:
	// lifecycle events are off.
	Stream string
	// MaxLen caps the stream approximately (XADD MAXLEN ~). Zero: 100,000.
	MaxLen int64
	// Webhook also POSTs every batch to URL as {"type":"lifecycle",
	// "events":[...]}.
	Webhook bool
	// BatchSize is the most events written in one Redis round trip or
	// one webhook POST. Zero: 100.
	BatchSize int
	// FlushInterval is the longest an event waits in the buffer for its
	// batch to fill. Zero: 1s.
	FlushInterval time.Duration
	// RetryFor bounds the retries of one webhook batch (exponential
	// backoff from 100ms to 10s); then the batch is dropped and counted.
	// Zero: 1m.
	RetryFor time.Duration
	// BufferSize bounds the events waiting to be written; past it events
	// are dropped and counted. Zero: 10,000.
	BufferSize int
}

// Default values.
const (
	DefaultTimeout              = 3 * time.Second
	DefaultMaxInflight          = 256
	DefaultMaxInflightPerSocket = 16
	DefaultCacheTTL             = 10 * time.Second
	DefaultCacheSize            = 10000
	DefaultMaxBodyBytes         = 1 << 20
	DefaultMaxJSONDepth         = 32
	DefaultStreamKey            = "ionbus:events"
	DefaultMaxLen               = 100000
	DefaultBatchSize            = 100
	DefaultFlushInterval        = time.Second
	DefaultRetryFor             = time.Minute
	DefaultBufferSize           = 10000
	DefaultNodeTTL              = 30 * time.Second
	DefaultKeyPrefix            = "ionbus:bridge"
)

// DefaultForwardHeaders are forwarded when Config.ForwardHeaders is nil.
var DefaultForwardHeaders = []string{"cookie", "authorization", "user-agent", "x-forwarded-for"}

var (
	// ErrInvalidConfig wraps every configuration error of New and Attach.
	ErrInvalidConfig = errors.New("bridge: invalid config")
	// ErrNeedsRedis: the configuration uses a stream but New got no
	// Redis client.
	ErrNeedsRedis = errors.New("bridge: streams need a Redis client")
	// ErrClosed: Start or Attach after Shutdown.
	ErrClosed = errors.New("bridge: closed")
	// ErrBackendUnavailable wraps every failure to get a usable answer
	// from the backend (the client sees BACKEND_UNAVAILABLE).
	ErrBackendUnavailable = errors.New("bridge: backend unavailable")
)

func (c *Config) withDefaults() {
	setDur := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	setInt := func(n *int, v int) {
		if *n == 0 {
			*n = v
		}
	}
	setDur(&c.Timeout, DefaultTimeout)
	setInt(&c.MaxInflight, DefaultMaxInflight)
	setInt(&c.MaxInflightPerSocket, DefaultMaxInflightPerSocket)
	setDur(&c.CacheTTL, DefaultCacheTTL)
	setInt(&c.CacheSize, DefaultCacheSize)
	setInt(&c.MaxBodyBytes, DefaultMaxBodyBytes)
	setInt(&c.MaxJSONDepth, DefaultMaxJSONDepth)
	if c.ForwardHeaders == nil {
		c.ForwardHeaders = DefaultForwardHeaders
	}
	names := make([]string, 0, len(c.ForwardHeaders))
	for _, h := range c.ForwardHeaders {
		if h = strings.ToLower(strings.TrimSpace(h)); h != "" && !slices.Contains(names, h) {
			names = append(names, h)
		}
	}
	c.ForwardHeaders = names
	if c.Stream.Key == "" {
		c.Stream.Key = DefaultStreamKey
	}
	if c.Stream.MaxLen == 0 {
		c.Stream.MaxLen = DefaultMaxLen
	}
	l := &c.Lifecycle
	if l.MaxLen == 0 {
		l.MaxLen = DefaultMaxLen
	}
	setInt(&l.BatchSize, DefaultBatchSize)
	setDur(&l.FlushInterval, DefaultFlushInterval)
	setDur(&l.RetryFor, DefaultRetryFor)
	setInt(&l.BufferSize, DefaultBufferSize)
	setDur(&c.NodeTTL, DefaultNodeTTL)
	if c.KeyPrefix == "" {
		c.KeyPrefix = DefaultKeyPrefix
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

func (c *Config) validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrInvalidConfig}, args...)...))
	}
	if u, err := url.Parse(c.URL); c.URL == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		bad("URL %q: want an absolute http or https URL", redactURL(c.URL))
	}
	if c.NodeID == "" {
		bad("NodeID is required")
	}
	for name, d := range map[string]time.Duration{
		"Timeout": c.Timeout, "CacheTTL": c.CacheTTL, "RefreshInterval": c.RefreshInterval,
		"Lifecycle.FlushInterval": c.Lifecycle.FlushInterval, "Lifecycle.RetryFor": c.Lifecycle.RetryFor,
	} {
		if d < 0 {
			bad("%s %v is negative", name, d)
		}
	}
	if c.NodeTTL < 3*time.Millisecond {
		bad("NodeTTL %v is too short", c.NodeTTL)
	}
	for name, n := range map[string]int{
		"MaxInflight": c.MaxInflight, "MaxInflightPerSocket": c.MaxInflightPerSocket, "CacheSize": c.CacheSize,
		"MaxBodyBytes": c.MaxBodyBytes, "MaxJSONDepth": c.MaxJSONDepth,
		"Lifecycle.BatchSize": c.Lifecycle.BatchSize, "Lifecycle.BufferSize": c.Lifecycle.BufferSize,
	} {
		if n < 1 {
			bad("%s %d < 1", name, n)
		}
	}
	if c.Stream.MaxLen < 1 || c.Lifecycle.MaxLen < 1 {
		bad("stream MaxLen must be positive")
	}
	for _, h := range c.ForwardHeaders {
		if textproto.CanonicalMIMEHeaderKey(h) == "" || strings.ContainsAny(h, " :\r\n") {
			bad("ForwardHeaders: %q is not a header name", h)
		}
	}
	if strings.ContainsAny(c.KeyPrefix, "{}") {
		bad("KeyPrefix %q must not contain '{' or '}' (the bridge adds its own hash tag)", c.KeyPrefix)
	}
	if c.Lifecycle.Stream != "" {
		if _, err := hashTag(c.Lifecycle.Stream); err != nil {
			bad("Lifecycle.Stream: %v", err)
		}
	} else if c.Lifecycle.Webhook {
		bad("Lifecycle.Webhook needs Lifecycle.Stream (lifecycle events are tracked in Redis)")
	}
	return errors.Join(errs...)
}

// redactURL drops the user info and query of u, for error messages.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable)"
	}
	u.User, u.RawQuery, u.Fragment = nil, "", ""
	return u.String()
}

// Via says how events matching a rule reach the backend.
type Via uint8

const (
	// ViaHTTP: one synchronous POST per event; the answer can ack, emit,
	// join, leave or refuse.
	ViaHTTP Via = 1
	// ViaStream: XADD to Config.Stream.Key, at least once; the ack (when
	// asked) confirms the enqueue.
	ViaStream Via = 2
)

// ParseVia reads "http" or "stream".
func ParseVia(s string) (Via, error) {
	switch strings.TrimSpace(s) {
	case "http":
		return ViaHTTP, nil
	case "stream":
		return ViaStream, nil
	}
	return 0, fmt.Errorf("%w: via %q: want http or stream", ErrInvalidConfig, s)
}

func (v Via) String() string {
	switch v {
	case ViaHTTP:
		return "http"
	case ViaStream:
		return "stream"
	}
	return "unknown"
}

// EventRule routes the client events whose name matches one of Match
// (exact names, or globs where '*' matches any run of characters).
type EventRule struct {
	Match []string
	Via   Via
}

// NamespaceRules configure the bridge in one namespace.
type NamespaceRules struct {
	// Events are tried in order; the first rule that matches routes the
	// event. Events with a handler of their own (built-in events such as
	// join_room or presence:list, application handlers) are never
	// forwarded.
	Events []EventRule
}
