package node

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"net/url"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"
	"go.yaml.in/yaml/v3"

	"github.com/ionbus/ionbus/adapter/redisadapter"
	"github.com/ionbus/ionbus/broker/access"
	"github.com/ionbus/ionbus/broker/adminui"
	"github.com/ionbus/ionbus/broker/auth"
	"github.com/ionbus/ionbus/broker/bridge"
)

// Config is the configuration file format of `ionbus serve`: a contract
// users write. Every key is documented in README.md (key, environment
// variable, flag, default, unit). Sources apply in this order, each
// overriding the previous one: defaults, --profile, the YAML file
// (--config), IONBUS_* environment variables, command-line flags.
type Config struct {
	// NodeID names this process in the cluster (adapter uid, owner of
	// limit slots and presence entries). Empty: random per process start.
	// A fixed value must be unique among live nodes and should change on
	// every restart, or a crashed node's slots and presence are not swept.
	NodeID string `yaml:"node_id"`
	Listen string `yaml:"listen"`
	Path   string `yaml:"path"`
	// Parser is the packet encoding of every client: "json" (the default
	// socket.io-parser) or "msgpack" (socket.io-msgpack-parser).
	Parser string `yaml:"parser"`
	// HealthPath and ReadyPath serve the API's /healthz and /readyz on
	// the public listener too, for load balancers (no key). Empty: not
	// served there.
	HealthPath string `yaml:"health_path"`
	ReadyPath  string `yaml:"ready_path"`
	// ShutdownTimeout bounds the graceful shutdown on SIGTERM/SIGINT.
	ShutdownTimeout Duration `yaml:"shutdown_timeout"`
	// ShutdownDelay is how long a shutdown keeps serving with /readyz
	// (and /healthz) answering 503 draining, before the listeners close,
	// so load balancers stop routing here first. 0: close at once. Not
	// part of ShutdownTimeout.
	ShutdownDelay Duration          `yaml:"shutdown_delay"`
	Engine        EngineConfig      `yaml:"engine"`
	CORS          CORSConfig        `yaml:"cors"`
	Namespaces    []NamespaceConfig `yaml:"namespaces"`
	Recovery      RecoveryConfig    `yaml:"recovery"`
	API           APIConfig         `yaml:"api"`
	Redis         RedisConfig       `yaml:"redis"`
	Auth          AuthConfig        `yaml:"auth"`
	Limits        LimitsConfig      `yaml:"limits"`
	Presence      PresenceConfig    `yaml:"presence"`
	Backend       BackendConfig     `yaml:"backend"`
	Log           LogConfig         `yaml:"log"`
	TLS           TLSConfig         `yaml:"tls"`
	AdminUI       AdminUIConfig     `yaml:"admin_ui"`

	// DynamicNamespaces bounds the children of pattern namespaces.
	DynamicNamespaces DynamicNamespacesConfig `yaml:"dynamic_namespaces"`

	// SystemEvents are periodic events ionbus emits to clients itself
	// (system:health, system:metrics, system_status_update); one node
	// emits each per interval for the whole cluster. Empty: none.
	SystemEvents []SystemEventConfig `yaml:"system_events"`
}

// SystemEventConfig is one built-in system event (package broker/system).
type SystemEventConfig struct {
	Namespace string   `yaml:"namespace"` // a configured, non-pattern namespace; empty is "/"
	Event     string   `yaml:"event"`     // the name clients listen to
	Kind      string   `yaml:"kind"`      // health | metrics | status
	Interval  Duration `yaml:"interval"`  // 100ms..24h; 0 is 30s
	Room      string   `yaml:"room"`      // only this room (e.g. "role:admin"); empty: every client of the namespace
	Component string   `yaml:"component"` // status events; empty is "websocket_server"
}

// AdminUIConfig serves the @socket.io/admin-ui protocol (package
// broker/adminui) on its own namespace, so the official Admin UI shows
// the cluster, one server per node. Off by default.
type AdminUIConfig struct {
	Enabled bool `yaml:"enabled"`
	// Namespace the UI connects to; not one of namespaces[].
	Namespace string `yaml:"namespace"`
	// Mode is "production" (server stats only) or "development" (also
	// every socket, room and event: one broadcast per event).
	Mode string `yaml:"mode"`
	// Username and PasswordHash (bcrypt) of the UI's login form; prefer
	// IONBUS_ADMIN_UI_PASSWORD_HASH.
	Username     string `yaml:"username"`
	PasswordHash string `yaml:"password_hash"`
	// Insecure admits any UI without credentials (upstream's auth: false).
	Insecure bool `yaml:"insecure"`
	// ReadOnly refuses the UI's commands (emit, join, leave, disconnect).
	ReadOnly bool `yaml:"readonly"`
	// AllowOrigins are the origins of the UI pages: allowed beside
	// cors.origins, and granted credentials (the UI sends them).
	AllowOrigins []string `yaml:"allow_origins"`
	// SessionTTL is how long a login is remembered (in Redis with a
	// cluster, so any node accepts it).
	SessionTTL Duration `yaml:"session_ttl"`
}

// TLSConfig makes the public listener speak TLS. Both files empty: plain
// TCP (terminate TLS in a proxy in front; TLS websockets cannot use the
// epoll path and cost a goroutine each).
type TLSConfig struct {
	CertFile string `yaml:"cert_file"` // PEM certificate chain
	KeyFile  string `yaml:"key_file"`  // PEM private key
}

// EngineConfig is the Engine.IO layer.
type EngineConfig struct {
	PingInterval   Duration `yaml:"ping_interval"`
	PingTimeout    Duration `yaml:"ping_timeout"`
	MaxPayload     int      `yaml:"max_payload"`     // bytes
	Transports     []string `yaml:"transports"`      // polling, websocket
	MaxQueueBytes  int      `yaml:"max_queue_bytes"` // bytes per session
	ConnectTimeout Duration `yaml:"connect_timeout"`
	BodyTimeout    Duration `yaml:"body_timeout"` // reading one polling POST body
	// HTTPCompression of polling responses (gzip/deflate as accepted).
	HTTPCompression CompressionConfig `yaml:"http_compression"`
	// PerMessageDeflate for websockets (RFC 7692, no context takeover).
	PerMessageDeflate CompressionConfig `yaml:"per_message_deflate"`
}

// CompressionConfig turns a compression on and sets the smallest payload,
// in bytes, it applies to.
type CompressionConfig struct {
	Enabled   bool `yaml:"enabled"`
	Threshold int  `yaml:"threshold"`
}

// CORSConfig is the CORS policy of the polling transport, and the Origin
// allow-list of the access guard (both transports).
type CORSConfig struct {
	Origins     []string `yaml:"origins"`
	Credentials bool     `yaml:"credentials"`
}

// NamespaceConfig declares one namespace and its rules. A '*' in Name
// makes a pattern (dynamic) namespace; its rules apply to every child.
type NamespaceConfig struct {
	Name string `yaml:"name"`
	// Access is "public", "authenticated" or "role:<name>[,role:<name>]".
	// Empty means public.
	Access string `yaml:"access"`
	// AutoJoin room templates joined on connect ("user:{user}",
	// "role:{role}").
	AutoJoin []string `yaml:"auto_join"`
	// Rooms are the built-in join_room/leave_room events.
	Rooms RoomsConfig `yaml:"rooms"`
	// CompatEvents answers a refused socket with auth_required /
	// auth_error events instead of a CONNECT_ERROR.
	CompatEvents bool `yaml:"compat_events"`
	// RedirectURL is put in the compatibility events.
	RedirectURL string `yaml:"redirect_url"`
	// CSRF: a token carried by a cookie needs the CONNECT auth "csrf" to
	// equal the token's "csrf" claim.
	CSRF bool `yaml:"csrf"`
	// Presence tracking in this namespace; all empty = off.
	Presence NamespacePresence `yaml:"presence"`
	// Authenticate is how sockets are identified: "jwt" (default),
	// "backend" (the backend's connect hook) or "jwt_or_backend" (the
	// hook when no valid token came).
	Authenticate string `yaml:"authenticate"`
	// Events forward matching client events to the backend; the first
	// rule that matches routes the event.
	Events []EventRuleConfig `yaml:"events"`
	// ErrorCodes rename error codes on the wire in this namespace
	// ({RATE_LIMIT_EXCEEDED: RATE_LIMITED}); keys are ionbus's codes.
	ErrorCodes map[string]string `yaml:"error_codes"`
}

// EventRuleConfig forwards the client events whose name matches one of
// Match (names, or globs with '*') to the backend.
type EventRuleConfig struct {
	Match []string `yaml:"match"`
	// Via is "http" (default: synchronous POST, the answer acks, emits,
	// joins) or "stream" (XADD to backend.stream.key, at least once).
	Via string `yaml:"via"`
}

// usesBackend reports whether the namespace needs the backend bridge.
func (ns NamespaceConfig) usesBackend() bool {
	return len(ns.Events) > 0 || (ns.Authenticate != "" && ns.Authenticate != "jwt")
}

// RoomsConfig lists the rooms clients may join themselves.
type RoomsConfig struct {
	// Allow patterns: '*' matches any run of characters, {user} and
	// {role} are the socket's identity. Empty turns the room events off.
	Allow []string `yaml:"allow"`
}

// NamespacePresence selects what presence a namespace records.
type NamespacePresence struct {
	Namespace bool     `yaml:"namespace"` // namespace-wide presence (room "")
	Rooms     []string `yaml:"rooms"`     // tracked room patterns ('*', {user})
	Visible   []string `yaml:"visible"`   // rooms listable without being in them
}

// enabled reports whether the namespace tracks anything.
func (p NamespacePresence) enabled() bool { return p.Namespace || len(p.Rooms) > 0 }

// RecoveryConfig is connection state recovery; MaxDisconnection 0
// disables it.
type RecoveryConfig struct {
	MaxDisconnection Duration `yaml:"max_disconnection"`
	SkipMiddlewares  bool     `yaml:"skip_middlewares"`
}

// DynamicNamespacesConfig bounds the namespaces created on demand for
// pattern names (`/tenant-*`): an empty one is removed after EmptyTTL
// (0 keeps them), at most Max exist on a node (0: no bound).
type DynamicNamespacesConfig struct {
	EmptyTTL Duration `yaml:"empty_ttl"`
	Max      int      `yaml:"max"`
}

// APIConfig is the HTTP server API (package broker/api).
type APIConfig struct {
	Listen   string `yaml:"listen"` // empty disables the API listener
	Key      string `yaml:"key"`
	Insecure bool   `yaml:"insecure"`
	// MetricsAuth makes GET /metrics need the bearer key as /api/v1 does.
	// False (default): /metrics answers without a key, like /healthz.
	MetricsAuth bool `yaml:"metrics_auth"`
	// PProf serves net/http/pprof under /debug/pprof/, always behind the
	// key (it needs api.key, even with api.insecure). Default false.
	PProf bool `yaml:"pprof"`
}

// RedisConfig selects the cluster adapter; an empty URL (and no
// ClusterAddrs) means a single node with in-memory adapter, limits and
// presence.
type RedisConfig struct {
	URL string `yaml:"url"`
	// ClusterAddrs are Redis Cluster seed addresses (host:port). When set,
	// a cluster client is used; URL then only contributes its user,
	// password and TLS (its host is ignored, its db must be 0).
	ClusterAddrs   []string `yaml:"cluster_addrs"`
	Mode           string   `yaml:"mode"` // classic | sharded | room
	Key            string   `yaml:"key"`  // channel prefix, as @socket.io/redis-adapter's "key"
	RequestTimeout Duration `yaml:"request_timeout"`
	// MaxBackoff caps the wait between resubscription attempts after the
	// subscriber lost Redis (a successful heartbeat also ends it).
	MaxBackoff Duration `yaml:"max_backoff"`
}

// enabled reports whether the node joins a cluster through Redis.
func (r RedisConfig) enabled() bool { return r.URL != "" || len(r.ClusterAddrs) > 0 }

// AuthConfig is client authentication (package broker/auth).
type AuthConfig struct {
	JWT JWTConfig `yaml:"jwt"`
}

// JWTConfig says how client tokens are found and verified. No key source
// (secret, public_key_file, jwks_url) means no authentication: every
// socket is anonymous and only public namespaces admit it.
type JWTConfig struct {
	Secret        string   `yaml:"secret"` // HMAC; prefer IONBUS_AUTH_JWT_SECRET
	PublicKeyFile string   `yaml:"public_key_file"`
	JWKSURL       string   `yaml:"jwks_url"`
	Algorithms    []string `yaml:"algorithms"` // empty: derived from the key type
	Cookie        string   `yaml:"cookie"`     // empty: tokens in cookies are not read
	QueryParam    string   `yaml:"query_param"`
	UserClaim     string   `yaml:"user_claim"`
	NameClaim     string   `yaml:"name_claim"`
	RolesClaim    string   `yaml:"roles_claim"`
	Issuer        string   `yaml:"issuer"`
	Audience      string   `yaml:"audience"`
	Leeway        Duration `yaml:"leeway"` // 0: exact exp/nbf/iat
}

// enabled reports whether a verification key is configured.
func (j JWTConfig) enabled() bool { return j.Secret != "" || j.PublicKeyFile != "" || j.JWKSURL != "" }

// LimitsConfig is admission and rate control (package limits). A count
// of 0 turns that one limit off; Enabled false turns them all off.
type LimitsConfig struct {
	Enabled               bool     `yaml:"enabled"`
	MaxConnectionsPerUser int      `yaml:"max_connections_per_user"`
	MaxConnectionsPerIP   int      `yaml:"max_connections_per_ip"`
	ConnectAttemptsPerIP  int      `yaml:"connect_attempts_per_ip"`
	ConnectAttemptsWindow Duration `yaml:"connect_attempts_window"`
	MessagesPerUser       int      `yaml:"messages_per_user"`
	MessagesWindow        Duration `yaml:"messages_window"`
	// RateAlgorithm is "window" (at most N in any window) or "gcra"
	// (smooth refill: a burst of N, then one every window/N).
	RateAlgorithm        string   `yaml:"rate_algorithm"`
	MaxMessageBytes      int      `yaml:"max_message_bytes"` // bytes
	MaxRoomsPerSocket    int      `yaml:"max_rooms_per_socket"`
	TrustedProxies       []string `yaml:"trusted_proxies"` // CIDRs (a bare address is a /32 or /128)
	ProxyHeader          string   `yaml:"proxy_header"`    // X-Forwarded-For | Forwarded | "" (either)
	NodeTTL              Duration `yaml:"node_ttl"`
	AbuseDisconnectAfter int      `yaml:"abuse_disconnect_after"` // consecutive rate-limited messages
}

// PresenceConfig is who-is-online tracking (packages presence and
// broker/online); namespaces[].presence says where it applies.
type PresenceConfig struct {
	Grace        Duration `yaml:"grace"` // 0: leaves are immediate
	NodeTTL      Duration `yaml:"node_ttl"`
	MaxMetaBytes int      `yaml:"max_meta_bytes"` // bytes of JSON
	PageSize     int      `yaml:"page_size"`
	MaxPageSize  int      `yaml:"max_page_size"`
}

// BackendConfig is the backend bridge (package broker/bridge): the
// connect hook, forwarded client events and lifecycle events. An empty
// URL turns it off.
type BackendConfig struct {
	URL            string   `yaml:"url"`
	Secret         string   `yaml:"secret"` // HMAC key of X-Ionbus-Signature; prefer IONBUS_BACKEND_SECRET
	Timeout        Duration `yaml:"timeout"`
	ForwardHeaders []string `yaml:"forward_headers"` // lower-case names; [] forwards none
	MaxInflight    int      `yaml:"max_inflight"`    // hook requests per node
	// MaxInflightPerSocket bounds one socket's forwarded events queued or
	// in flight; past it the event is refused with BACKEND_BUSY.
	MaxInflightPerSocket int                    `yaml:"max_inflight_per_socket"`
	CacheTTL             Duration               `yaml:"cache_ttl"`        // connect answers; 0 turns the cache off
	CacheSize            int                    `yaml:"cache_size"`       // cached connect answers
	RefreshInterval      Duration               `yaml:"refresh_interval"` // 0: no refresh calls
	MaxBodyBytes         int                    `yaml:"max_body_bytes"`   // bytes, requests and answers
	NodeTTL              Duration               `yaml:"node_ttl"`         // a dead node's disconnects come within ~4/3 of it
	Stream               BackendStreamConfig    `yaml:"stream"`
	Lifecycle            BackendLifecycleConfig `yaml:"lifecycle"`
}

// BackendStreamConfig is the Redis Stream of events routed via stream.
type BackendStreamConfig struct {
	Key    string `yaml:"key"`
	MaxLen int64  `yaml:"max_len"` // XADD MAXLEN ~
}

// BackendLifecycleConfig is the stream of lifecycle events (connect,
// disconnect, join, leave, online, offline). An empty Stream turns them
// off; they need Redis.
type BackendLifecycleConfig struct {
	Stream        string   `yaml:"stream"`
	MaxLen        int64    `yaml:"max_len"` // XADD MAXLEN ~
	Webhook       bool     `yaml:"webhook"` // also POST batches to backend.url
	BatchSize     int      `yaml:"batch_size"`
	FlushInterval Duration `yaml:"flush_interval"`
	RetryFor      Duration `yaml:"retry_for"` // webhook retries of one batch
}

// LogConfig is the process log.
type LogConfig struct {
	Level  string `yaml:"level"`  // trace, debug, info, warn, error
	Format string `yaml:"format"` // json | console
}

// Default is what a node runs with when nothing is set (`ionbus serve`
// with no file, environment or flags).
func Default() Config {
	return Config{
		Listen:          ":4000",
		Path:            "/socket.io/",
		Parser:          "json",
		HealthPath:      "/healthz",
		ReadyPath:       "/readyz",
		ShutdownTimeout: Duration(10 * time.Second),
		Engine: EngineConfig{
			PingInterval:   Duration(25 * time.Second),
			PingTimeout:    Duration(20 * time.Second),
			MaxPayload:     1_000_000,
			Transports:     []string{"polling", "websocket"},
			MaxQueueBytes:  1 << 20,
			ConnectTimeout: Duration(45 * time.Second),
			BodyTimeout:    Duration(20 * time.Second),
			// Node's httpCompression default: on above 1 KiB.
			HTTPCompression:   CompressionConfig{Enabled: true, Threshold: 1024},
			PerMessageDeflate: CompressionConfig{Threshold: 1024},
		},
		Namespaces: []NamespaceConfig{{Name: "/"}},
		Recovery:   RecoveryConfig{SkipMiddlewares: true},
		API:        APIConfig{Listen: "127.0.0.1:4001"},
		Redis:      RedisConfig{Mode: "classic", Key: "socket.io", RequestTimeout: Duration(5 * time.Second), MaxBackoff: Duration(time.Second)},
		Auth: AuthConfig{JWT: JWTConfig{
			Cookie: "token", UserClaim: "sub", NameClaim: "name", RolesClaim: "roles",
			Leeway: Duration(30 * time.Second),
		}},
		Limits: LimitsConfig{
			Enabled:               true,
			MaxConnectionsPerUser: 10,
			MaxConnectionsPerIP:   100,
			ConnectAttemptsPerIP:  100,
			ConnectAttemptsWindow: Duration(time.Hour),
			MessagesPerUser:       100,
			MessagesWindow:        Duration(time.Minute),
			RateAlgorithm:         "window",
			MaxMessageBytes:       10240,
			MaxRoomsPerSocket:     50,
			NodeTTL:               Duration(30 * time.Second),
			AbuseDisconnectAfter:  20,
		},
		Presence: PresenceConfig{
			Grace:        Duration(5 * time.Second),
			NodeTTL:      Duration(30 * time.Second),
			MaxMetaBytes: 1024,
			PageSize:     100,
			MaxPageSize:  1000,
		},
		Backend: BackendConfig{
			Timeout:              Duration(bridge.DefaultTimeout),
			ForwardHeaders:       append([]string(nil), bridge.DefaultForwardHeaders...),
			MaxInflight:          bridge.DefaultMaxInflight,
			MaxInflightPerSocket: bridge.DefaultMaxInflightPerSocket,
			CacheTTL:             Duration(bridge.DefaultCacheTTL),
			CacheSize:            bridge.DefaultCacheSize,
			MaxBodyBytes:         bridge.DefaultMaxBodyBytes,
			NodeTTL:              Duration(bridge.DefaultNodeTTL),
			Stream:               BackendStreamConfig{Key: bridge.DefaultStreamKey, MaxLen: bridge.DefaultMaxLen},
			Lifecycle: BackendLifecycleConfig{
				MaxLen:        bridge.DefaultMaxLen,
				BatchSize:     bridge.DefaultBatchSize,
				FlushInterval: Duration(bridge.DefaultFlushInterval),
				RetryFor:      Duration(bridge.DefaultRetryFor),
			},
		},
		Log: LogConfig{Level: "info", Format: "json"},
		AdminUI: AdminUIConfig{
			Namespace: "/admin", Mode: "production",
			AllowOrigins: []string{"https://admin.socket.io"}, SessionTTL: Duration(24 * time.Hour),
		},
		DynamicNamespaces: DynamicNamespacesConfig{EmptyTTL: Duration(30 * time.Second), Max: 10_000},
	}
}

// Duration is a time.Duration written as Go syntax ("25s", "1m30s") or
// as a plain integer of milliseconds (25000).
type Duration time.Duration

// D returns the time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// UnmarshalYAML accepts a Go duration string or an integer (ms).
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: a duration must be a scalar like \"25s\" or milliseconds", n.Line)
	}
	v, err := ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML writes Go syntax.
func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

// ParseDuration reads a Go duration ("25s") or an integer of milliseconds.
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, errors.New("empty duration")
	}
	if ms, err := strconv.ParseInt(s, 10, 64); err == nil {
		if ms < 0 {
			return 0, fmt.Errorf("negative duration %q", s)
		}
		return time.Duration(ms) * time.Millisecond, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("invalid duration %q (use Go syntax like \"25s\" or an integer of milliseconds)", s)
	}
	if d < 0 {
		return 0, fmt.Errorf("negative duration %q", s)
	}
	return d, nil
}

// LoadFile decodes a YAML file over c. Unknown keys and values of the
// wrong kind are errors, all reported at once with their key path and
// line (`unknown key "bogus" at line 3`).
func LoadFile(c *Config, path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config file: %w", err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return fmt.Errorf("config file %s: %w", path, err) // syntax: yaml's message has the line
	}
	if problems := checkYAML(&doc, reflect.TypeFor[Config]()); len(problems) > 0 {
		return errFileProblems(path, problems)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("config file %s: %w", path, err)
	}
	return nil
}

// envVar binds one IONBUS_* variable to a config field.
type envVar struct {
	name string
	set  func(c *Config, v string) error
}

func setString(field func(*Config) *string) func(*Config, string) error {
	return func(c *Config, v string) error { *field(c) = v; return nil }
}

func setInt(field func(*Config) *int) func(*Config, string) error {
	return func(c *Config, v string) error {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil {
			return fmt.Errorf("invalid integer %q", v)
		}
		*field(c) = n
		return nil
	}
}

func setBool(field func(*Config) *bool) func(*Config, string) error {
	return func(c *Config, v string) error {
		b, err := strconv.ParseBool(strings.TrimSpace(v))
		if err != nil {
			return fmt.Errorf("invalid boolean %q", v)
		}
		*field(c) = b
		return nil
	}
}

func setDuration(field func(*Config) *Duration) func(*Config, string) error {
	return func(c *Config, v string) error {
		d, err := ParseDuration(v)
		if err != nil {
			return err
		}
		*field(c) = Duration(d)
		return nil
	}
}

func setList(field func(*Config) *[]string) func(*Config, string) error {
	return func(c *Config, v string) error { *field(c) = splitComma(v); return nil }
}

func splitComma(v string) []string {
	var out []string
	for part := range strings.SplitSeq(v, ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out
}

// envVars is every environment variable a node reads. Empty values are
// ignored. The README table lists the same names (a test checks it).
var envVars = []envVar{
	{"IONBUS_LISTEN", setString(func(c *Config) *string { return &c.Listen })},
	{"IONBUS_PATH", setString(func(c *Config) *string { return &c.Path })},
	{"IONBUS_PARSER", setString(func(c *Config) *string { return &c.Parser })},
	{"IONBUS_HEALTH_PATH", setString(func(c *Config) *string { return &c.HealthPath })},
	{"IONBUS_READY_PATH", setString(func(c *Config) *string { return &c.ReadyPath })},
	{"IONBUS_SHUTDOWN_TIMEOUT", setDuration(func(c *Config) *Duration { return &c.ShutdownTimeout })},
	{"IONBUS_SHUTDOWN_DELAY", setDuration(func(c *Config) *Duration { return &c.ShutdownDelay })},
	{"IONBUS_TLS_CERT_FILE", setString(func(c *Config) *string { return &c.TLS.CertFile })},
	{"IONBUS_TLS_KEY_FILE", setString(func(c *Config) *string { return &c.TLS.KeyFile })},
	{"IONBUS_ENGINE_PING_INTERVAL", setDuration(func(c *Config) *Duration { return &c.Engine.PingInterval })},
	{"IONBUS_ENGINE_PING_TIMEOUT", setDuration(func(c *Config) *Duration { return &c.Engine.PingTimeout })},
	{"IONBUS_ENGINE_MAX_PAYLOAD", setInt(func(c *Config) *int { return &c.Engine.MaxPayload })},
	{"IONBUS_ENGINE_TRANSPORTS", setList(func(c *Config) *[]string { return &c.Engine.Transports })},
	{"IONBUS_ENGINE_MAX_QUEUE_BYTES", setInt(func(c *Config) *int { return &c.Engine.MaxQueueBytes })},
	{"IONBUS_ENGINE_CONNECT_TIMEOUT", setDuration(func(c *Config) *Duration { return &c.Engine.ConnectTimeout })},
	{"IONBUS_ENGINE_BODY_TIMEOUT", setDuration(func(c *Config) *Duration { return &c.Engine.BodyTimeout })},
	{"IONBUS_ENGINE_HTTP_COMPRESSION_ENABLED", setBool(func(c *Config) *bool { return &c.Engine.HTTPCompression.Enabled })},
	{"IONBUS_ENGINE_HTTP_COMPRESSION_THRESHOLD", setInt(func(c *Config) *int { return &c.Engine.HTTPCompression.Threshold })},
	{"IONBUS_ENGINE_PER_MESSAGE_DEFLATE_ENABLED", setBool(func(c *Config) *bool { return &c.Engine.PerMessageDeflate.Enabled })},
	{"IONBUS_ENGINE_PER_MESSAGE_DEFLATE_THRESHOLD", setInt(func(c *Config) *int { return &c.Engine.PerMessageDeflate.Threshold })},
	{"IONBUS_CORS_ORIGINS", setList(func(c *Config) *[]string { return &c.CORS.Origins })},
	{"IONBUS_CORS_CREDENTIALS", setBool(func(c *Config) *bool { return &c.CORS.Credentials })},
	{"IONBUS_NAMESPACES", func(c *Config, v string) error {
		// Names only: a namespace already declared (file, profile) keeps
		// its rules; a new one is public with no rules.
		old := c.Namespaces
		c.Namespaces = nil
		for _, name := range splitComma(v) {
			ns := NamespaceConfig{Name: name}
			for _, o := range old {
				if o.Name == name {
					ns = o
				}
			}
			c.Namespaces = append(c.Namespaces, ns)
		}
		return nil
	}},
	{"IONBUS_RECOVERY_MAX_DISCONNECTION", setDuration(func(c *Config) *Duration { return &c.Recovery.MaxDisconnection })},
	{"IONBUS_RECOVERY_SKIP_MIDDLEWARES", setBool(func(c *Config) *bool { return &c.Recovery.SkipMiddlewares })},
	{"IONBUS_DYNAMIC_NAMESPACES_EMPTY_TTL", setDuration(func(c *Config) *Duration { return &c.DynamicNamespaces.EmptyTTL })},
	{"IONBUS_DYNAMIC_NAMESPACES_MAX", setInt(func(c *Config) *int { return &c.DynamicNamespaces.Max })},
	{"IONBUS_API_LISTEN", setString(func(c *Config) *string { return &c.API.Listen })},
	{"IONBUS_API_KEY", setString(func(c *Config) *string { return &c.API.Key })},
	{"IONBUS_API_INSECURE", setBool(func(c *Config) *bool { return &c.API.Insecure })},
	{"IONBUS_API_METRICS_AUTH", setBool(func(c *Config) *bool { return &c.API.MetricsAuth })},
	{"IONBUS_API_PPROF", setBool(func(c *Config) *bool { return &c.API.PProf })},
	{"IONBUS_NODE_ID", setString(func(c *Config) *string { return &c.NodeID })},
	{"IONBUS_REDIS_URL", setString(func(c *Config) *string { return &c.Redis.URL })},
	{"IONBUS_REDIS_CLUSTER_ADDRS", setList(func(c *Config) *[]string { return &c.Redis.ClusterAddrs })},
	{"IONBUS_REDIS_MODE", setString(func(c *Config) *string { return &c.Redis.Mode })},
	{"IONBUS_REDIS_KEY", setString(func(c *Config) *string { return &c.Redis.Key })},
	{"IONBUS_REDIS_REQUEST_TIMEOUT", setDuration(func(c *Config) *Duration { return &c.Redis.RequestTimeout })},
	{"IONBUS_REDIS_MAX_BACKOFF", setDuration(func(c *Config) *Duration { return &c.Redis.MaxBackoff })},
	{"IONBUS_AUTH_JWT_SECRET", setString(func(c *Config) *string { return &c.Auth.JWT.Secret })},
	{"IONBUS_AUTH_JWT_PUBLIC_KEY_FILE", setString(func(c *Config) *string { return &c.Auth.JWT.PublicKeyFile })},
	{"IONBUS_AUTH_JWT_JWKS_URL", setString(func(c *Config) *string { return &c.Auth.JWT.JWKSURL })},
	{"IONBUS_AUTH_JWT_ALGORITHMS", setList(func(c *Config) *[]string { return &c.Auth.JWT.Algorithms })},
	{"IONBUS_AUTH_JWT_COOKIE", setString(func(c *Config) *string { return &c.Auth.JWT.Cookie })},
	{"IONBUS_AUTH_JWT_QUERY_PARAM", setString(func(c *Config) *string { return &c.Auth.JWT.QueryParam })},
	{"IONBUS_AUTH_JWT_USER_CLAIM", setString(func(c *Config) *string { return &c.Auth.JWT.UserClaim })},
	{"IONBUS_AUTH_JWT_NAME_CLAIM", setString(func(c *Config) *string { return &c.Auth.JWT.NameClaim })},
	{"IONBUS_AUTH_JWT_ROLES_CLAIM", setString(func(c *Config) *string { return &c.Auth.JWT.RolesClaim })},
	{"IONBUS_AUTH_JWT_ISSUER", setString(func(c *Config) *string { return &c.Auth.JWT.Issuer })},
	{"IONBUS_AUTH_JWT_AUDIENCE", setString(func(c *Config) *string { return &c.Auth.JWT.Audience })},
	{"IONBUS_AUTH_JWT_LEEWAY", setDuration(func(c *Config) *Duration { return &c.Auth.JWT.Leeway })},
	{"IONBUS_LIMITS_ENABLED", setBool(func(c *Config) *bool { return &c.Limits.Enabled })},
	{"IONBUS_LIMITS_MAX_CONNECTIONS_PER_USER", setInt(func(c *Config) *int { return &c.Limits.MaxConnectionsPerUser })},
	{"IONBUS_LIMITS_MAX_CONNECTIONS_PER_IP", setInt(func(c *Config) *int { return &c.Limits.MaxConnectionsPerIP })},
	{"IONBUS_LIMITS_CONNECT_ATTEMPTS_PER_IP", setInt(func(c *Config) *int { return &c.Limits.ConnectAttemptsPerIP })},
	{"IONBUS_LIMITS_CONNECT_ATTEMPTS_WINDOW", setDuration(func(c *Config) *Duration { return &c.Limits.ConnectAttemptsWindow })},
	{"IONBUS_LIMITS_MESSAGES_PER_USER", setInt(func(c *Config) *int { return &c.Limits.MessagesPerUser })},
	{"IONBUS_LIMITS_MESSAGES_WINDOW", setDuration(func(c *Config) *Duration { return &c.Limits.MessagesWindow })},
	{"IONBUS_LIMITS_RATE_ALGORITHM", setString(func(c *Config) *string { return &c.Limits.RateAlgorithm })},
	{"IONBUS_LIMITS_MAX_MESSAGE_BYTES", setInt(func(c *Config) *int { return &c.Limits.MaxMessageBytes })},
	{"IONBUS_LIMITS_MAX_ROOMS_PER_SOCKET", setInt(func(c *Config) *int { return &c.Limits.MaxRoomsPerSocket })},
	{"IONBUS_LIMITS_TRUSTED_PROXIES", setList(func(c *Config) *[]string { return &c.Limits.TrustedProxies })},
	{"IONBUS_LIMITS_PROXY_HEADER", setString(func(c *Config) *string { return &c.Limits.ProxyHeader })},
	{"IONBUS_LIMITS_NODE_TTL", setDuration(func(c *Config) *Duration { return &c.Limits.NodeTTL })},
	{"IONBUS_LIMITS_ABUSE_DISCONNECT_AFTER", setInt(func(c *Config) *int { return &c.Limits.AbuseDisconnectAfter })},
	{"IONBUS_PRESENCE_GRACE", setDuration(func(c *Config) *Duration { return &c.Presence.Grace })},
	{"IONBUS_PRESENCE_NODE_TTL", setDuration(func(c *Config) *Duration { return &c.Presence.NodeTTL })},
	{"IONBUS_PRESENCE_MAX_META_BYTES", setInt(func(c *Config) *int { return &c.Presence.MaxMetaBytes })},
	{"IONBUS_PRESENCE_PAGE_SIZE", setInt(func(c *Config) *int { return &c.Presence.PageSize })},
	{"IONBUS_PRESENCE_MAX_PAGE_SIZE", setInt(func(c *Config) *int { return &c.Presence.MaxPageSize })},
	{"IONBUS_BACKEND_URL", setString(func(c *Config) *string { return &c.Backend.URL })},
	{"IONBUS_BACKEND_SECRET", setString(func(c *Config) *string { return &c.Backend.Secret })},
	{"IONBUS_BACKEND_TIMEOUT", setDuration(func(c *Config) *Duration { return &c.Backend.Timeout })},
	{"IONBUS_BACKEND_FORWARD_HEADERS", setList(func(c *Config) *[]string { return &c.Backend.ForwardHeaders })},
	{"IONBUS_BACKEND_MAX_INFLIGHT", setInt(func(c *Config) *int { return &c.Backend.MaxInflight })},
	{"IONBUS_BACKEND_MAX_INFLIGHT_PER_SOCKET", setInt(func(c *Config) *int { return &c.Backend.MaxInflightPerSocket })},
	{"IONBUS_BACKEND_CACHE_TTL", setDuration(func(c *Config) *Duration { return &c.Backend.CacheTTL })},
	{"IONBUS_BACKEND_CACHE_SIZE", setInt(func(c *Config) *int { return &c.Backend.CacheSize })},
	{"IONBUS_BACKEND_REFRESH_INTERVAL", setDuration(func(c *Config) *Duration { return &c.Backend.RefreshInterval })},
	{"IONBUS_BACKEND_MAX_BODY_BYTES", setInt(func(c *Config) *int { return &c.Backend.MaxBodyBytes })},
	{"IONBUS_BACKEND_NODE_TTL", setDuration(func(c *Config) *Duration { return &c.Backend.NodeTTL })},
	{"IONBUS_BACKEND_STREAM_KEY", setString(func(c *Config) *string { return &c.Backend.Stream.Key })},
	{"IONBUS_BACKEND_LIFECYCLE_STREAM", setString(func(c *Config) *string { return &c.Backend.Lifecycle.Stream })},
	{"IONBUS_BACKEND_LIFECYCLE_WEBHOOK", setBool(func(c *Config) *bool { return &c.Backend.Lifecycle.Webhook })},
	{"IONBUS_ADMIN_UI_ENABLED", setBool(func(c *Config) *bool { return &c.AdminUI.Enabled })},
	{"IONBUS_ADMIN_UI_NAMESPACE", setString(func(c *Config) *string { return &c.AdminUI.Namespace })},
	{"IONBUS_ADMIN_UI_MODE", setString(func(c *Config) *string { return &c.AdminUI.Mode })},
	{"IONBUS_ADMIN_UI_USERNAME", setString(func(c *Config) *string { return &c.AdminUI.Username })},
	{"IONBUS_ADMIN_UI_PASSWORD_HASH", setString(func(c *Config) *string { return &c.AdminUI.PasswordHash })},
	{"IONBUS_ADMIN_UI_INSECURE", setBool(func(c *Config) *bool { return &c.AdminUI.Insecure })},
	{"IONBUS_ADMIN_UI_READONLY", setBool(func(c *Config) *bool { return &c.AdminUI.ReadOnly })},
	{"IONBUS_ADMIN_UI_ALLOW_ORIGINS", setList(func(c *Config) *[]string { return &c.AdminUI.AllowOrigins })},
	{"IONBUS_ADMIN_UI_SESSION_TTL", setDuration(func(c *Config) *Duration { return &c.AdminUI.SessionTTL })},
	{"IONBUS_LOG_LEVEL", setString(func(c *Config) *string { return &c.Log.Level })},
	{"IONBUS_LOG_FORMAT", setString(func(c *Config) *string { return &c.Log.Format })},
}

// EnvNames lists every IONBUS_* variable ApplyEnv reads, in a stable
// order (the README documents each; a test checks it).
func EnvNames() []string {
	names := make([]string, len(envVars))
	for i, ev := range envVars {
		names[i] = ev.name
	}
	return names
}

// ApplyEnv sets the fields of the IONBUS_* variables getenv returns
// (EnvNames lists them); empty values are ignored. Every bad value is
// reported, at once.
func ApplyEnv(c *Config, getenv func(string) (string, bool)) error {
	var errs []error
	for _, ev := range envVars {
		v, ok := getenv(ev.name)
		if !ok || v == "" {
			continue
		}
		if err := ev.set(c, v); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", ev.name, err))
		}
	}
	return errors.Join(errs...)
}

// Validate reports every problem of the configuration at once (joined
// errors, one line each). New validates too.
func (c *Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.Listen == "" {
		bad("listen: required")
	}
	if !strings.HasPrefix(c.Path, "/") || !strings.HasSuffix(c.Path, "/") {
		bad("path: %q must start and end with '/'", c.Path)
	}
	if c.Parser != "json" && c.Parser != "msgpack" {
		bad("parser: %q is not json or msgpack", c.Parser)
	}
	c.validateProbePaths(bad)
	if (c.TLS.CertFile == "") != (c.TLS.KeyFile == "") {
		bad("tls: cert_file and key_file go together")
	}
	if c.ShutdownTimeout <= 0 {
		bad("shutdown_timeout: must be positive")
	}
	e := c.Engine
	if e.PingInterval <= 0 || e.PingTimeout <= 0 || e.ConnectTimeout <= 0 || e.BodyTimeout <= 0 {
		bad("engine: ping_interval, ping_timeout, connect_timeout and body_timeout must be positive")
	}
	if e.HTTPCompression.Threshold < 0 || e.PerMessageDeflate.Threshold < 0 {
		bad("engine: http_compression.threshold and per_message_deflate.threshold must not be negative")
	}
	if e.MaxPayload <= 0 || e.MaxQueueBytes <= 0 {
		bad("engine: max_payload and max_queue_bytes must be positive")
	}
	if d := c.DynamicNamespaces; d.EmptyTTL < 0 || d.Max < 0 {
		bad("dynamic_namespaces: empty_ttl and max must not be negative (0 keeps empty namespaces, 0 max is no bound)")
	}
	if len(e.Transports) == 0 {
		bad("engine.transports: at least one of polling, websocket")
	}
	for _, t := range e.Transports {
		if t != "polling" && t != "websocket" {
			bad("engine.transports: unknown transport %q (polling, websocket)", t)
		}
	}
	seen := map[string]bool{}
	for _, ns := range c.Namespaces {
		if !strings.HasPrefix(ns.Name, "/") {
			bad("namespaces: name %q must start with '/'", ns.Name)
			continue
		}
		if seen[ns.Name] {
			bad("namespaces: %q declared twice", ns.Name)
		}
		seen[ns.Name] = true
		if a, err := access.ParseAccess(ns.Access); err != nil {
			bad("namespaces[%s].access: %v", ns.Name, err)
		} else if mode, _ := access.ParseAuthMode(ns.Authenticate); a.Level != access.Public && mode == access.AuthJWT && !c.Auth.JWT.enabled() {
			// Without a key every socket is anonymous: the namespace
			// would refuse them all with AUTH_REQUIRED.
			bad("namespaces[%s].access: %q needs a JWT key to identify sockets, and none is set: set IONBUS_AUTH_JWT_SECRET "+
				"(auth.jwt.secret), auth.jwt.public_key_file or auth.jwt.jwks_url, or authenticate: backend", ns.Name, a.String())
		}
		if len(ns.Presence.Visible) > 0 && !ns.Presence.enabled() {
			bad("namespaces[%s].presence.visible: set namespace or rooms too", ns.Name)
		}
		c.validateNamespaceBackend(ns, bad)
		for code, alias := range ns.ErrorCodes {
			if !access.KnownCode(code) {
				bad("namespaces[%s].error_codes: %q is not an ionbus error code", ns.Name, code)
			}
			if alias == "" {
				bad("namespaces[%s].error_codes[%s]: empty name", ns.Name, code)
			}
		}
	}
	if c.API.Listen != "" && c.API.Listen == c.Listen && !strings.HasSuffix(c.Listen, ":0") {
		bad("api.listen: must differ from listen (the API is never served on the public listener)")
	}
	if c.API.MetricsAuth && c.API.Key == "" && !c.API.Insecure {
		bad("api.metrics_auth: needs api.key (every scrape would get 401)")
	}
	if c.API.PProf && c.API.Key == "" {
		bad("api.pprof: needs api.key (pprof is never served without a key, api.insecure or not)")
	}
	c.validateRedis(bad)
	if c.Auth.JWT.enabled() {
		// auth.New checks the key file, algorithms against key types,
		// and the claims; its errors never contain the secret.
		if _, err := auth.New(authConfig(c.Auth.JWT)); err != nil {
			bad("auth.jwt: %v", err)
		}
	} else if len(c.Auth.JWT.Algorithms) > 0 {
		bad("auth.jwt.algorithms: set without a key (secret, public_key_file or jwks_url)")
	}
	c.validateLimits(bad)
	c.validateBackend(bad)
	c.validateSystemEvents(bad)
	c.validateAdminUI(bad)
	p := c.Presence
	if p.NodeTTL <= 0 || p.MaxMetaBytes <= 0 || p.PageSize <= 0 || p.MaxPageSize <= 0 {
		bad("presence: node_ttl, max_meta_bytes, page_size and max_page_size must be positive")
	}
	if p.PageSize > p.MaxPageSize {
		bad("presence.page_size: %d exceeds max_page_size %d", p.PageSize, p.MaxPageSize)
	}
	if _, err := zerolog.ParseLevel(c.Log.Level); err != nil || c.Log.Level == "" {
		bad("log.level: %q (trace, debug, info, warn, error)", c.Log.Level)
	}
	if c.Log.Format != "json" && c.Log.Format != "console" {
		bad("log.format: %q (json, console)", c.Log.Format)
	}
	return errors.Join(errs...)
}

// validateAdminUI checks admin_ui.* when enabled: its namespace is none
// of the application's (nor matched by a pattern), and the UI is
// authenticated unless insecure says otherwise, with a bcrypt hash.
func (c *Config) validateAdminUI(bad func(string, ...any)) {
	a := c.AdminUI
	if !a.Enabled {
		return
	}
	if err := adminui.ValidateNamespace(a.Namespace); err != nil {
		bad("admin_ui.namespace: %v", err)
	}
	for _, ns := range c.Namespaces {
		re, pattern := namespacePattern(ns.Name)
		if ns.Name == a.Namespace || (pattern && re.MatchString(a.Namespace)) {
			bad("admin_ui.namespace: %q is also namespaces[%s]; the Admin UI needs a namespace of its own (set admin_ui.namespace, e.g. /ionbus-admin)", a.Namespace, ns.Name)
		}
	}
	if _, err := adminui.ParseMode(a.Mode); err != nil {
		bad("admin_ui.mode: %q (production, development)", a.Mode)
	}
	switch {
	case a.Insecure && (a.Username != "" || a.PasswordHash != ""):
		bad("admin_ui.insecure: set together with username/password_hash; choose one")
	case !a.Insecure && (a.Username == "" || a.PasswordHash == ""):
		bad("admin_ui: username and password_hash (bcrypt) are required; admin_ui.insecure: true admits anyone (development only)")
	case !a.Insecure:
		if err := adminui.ValidatePasswordHash(a.PasswordHash); err != nil {
			bad("admin_ui.password_hash: %v", err)
		}
	}
	for _, o := range a.AllowOrigins {
		if u, err := url.Parse(o); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
			bad("admin_ui.allow_origins: %q is not an origin like https://admin.socket.io", o)
		}
	}
	if a.SessionTTL <= 0 {
		bad("admin_ui.session_ttl: must be positive")
	}
}

// validateProbePaths checks health_path and ready_path: exact paths of
// the public listener, apart from the Engine.IO path and each other.
func (c *Config) validateProbePaths(bad func(string, ...any)) {
	for _, p := range []struct{ key, path string }{{"health_path", c.HealthPath}, {"ready_path", c.ReadyPath}} {
		switch {
		case p.path == "":
		case !strings.HasPrefix(p.path, "/") || p.path == "/" || strings.HasSuffix(p.path, "/") ||
			strings.ContainsAny(p.path, " \t{}?#"):
			bad("%s: %q must be a path like /healthz (no trailing '/'), or empty to serve none", p.key, p.path)
		case strings.HasPrefix(p.path+"/", c.Path):
			bad("%s: %q is inside path %q (the Engine.IO endpoint)", p.key, p.path, c.Path)
		}
	}
	if c.HealthPath != "" && c.HealthPath == c.ReadyPath {
		bad("ready_path: %q is health_path too", c.ReadyPath)
	}
}

func (c *Config) validateRedis(bad func(string, ...any)) {
	r := c.Redis
	if r.URL != "" {
		opt, err := redis.ParseURL(r.URL)
		if err != nil {
			// The URL may carry a password: never echo it.
			bad("redis.url: %s", strings.ReplaceAll(err.Error(), r.URL, "<redacted>"))
		} else if len(r.ClusterAddrs) > 0 && opt.DB != 0 {
			bad("redis.url: database %d with cluster_addrs (Redis Cluster has only database 0)", opt.DB)
		}
	}
	for _, addr := range r.ClusterAddrs {
		if _, _, err := net.SplitHostPort(addr); err != nil {
			bad("redis.cluster_addrs: %q is not host:port", addr)
		}
	}
	if _, err := redisMode(r.Mode); err != nil {
		bad("redis.mode: %v", err)
	}
	if r.Key == "" {
		bad("redis.key: required")
	} else if strings.ContainsAny(r.Key, "{}") {
		bad("redis.key: %q must not contain braces (limits and presence keys derive from it)", r.Key)
	}
	if r.RequestTimeout <= 0 {
		bad("redis.request_timeout: must be positive")
	}
	if r.MaxBackoff <= 0 {
		bad("redis.max_backoff: must be positive")
	}
}

// validateNamespaceBackend checks a namespace's authenticate and events.
func (c *Config) validateNamespaceBackend(ns NamespaceConfig, bad func(string, ...any)) {
	if _, err := access.ParseAuthMode(ns.Authenticate); err != nil {
		bad("namespaces[%s].authenticate: %v", ns.Name, err)
	}
	if ns.usesBackend() && c.Backend.URL == "" {
		bad("namespaces[%s]: authenticate %q and events need backend.url", ns.Name, ns.Authenticate)
	}
	for i, rule := range ns.Events {
		if len(rule.Match) == 0 || slices.Contains(rule.Match, "") {
			bad("namespaces[%s].events[%d].match: list event names or globs", ns.Name, i)
		}
		via, err := eventVia(rule.Via)
		if err != nil {
			bad("namespaces[%s].events[%d].via: %v", ns.Name, i, err)
		} else if via == bridge.ViaStream && !c.Redis.enabled() {
			bad("namespaces[%s].events[%d].via: stream needs redis.url", ns.Name, i)
		}
	}
}

// eventVia reads events[].via; empty is http.
func eventVia(s string) (bridge.Via, error) {
	if s == "" {
		return bridge.ViaHTTP, nil
	}
	v, err := bridge.ParseVia(s)
	if err != nil {
		return 0, fmt.Errorf("%q: want http or stream", s)
	}
	return v, nil
}

func (c *Config) validateBackend(bad func(string, ...any)) {
	b := c.Backend
	if b.URL == "" {
		if b.Lifecycle.Stream != "" {
			bad("backend.lifecycle.stream: set backend.url too")
		}
		return
	}
	if u, err := url.Parse(b.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		bad("backend.url: want an absolute http or https URL") // never echo: it may carry credentials
	}
	if b.Timeout <= 0 || b.NodeTTL <= 0 || b.Lifecycle.FlushInterval <= 0 || b.Lifecycle.RetryFor <= 0 {
		bad("backend: timeout, node_ttl, lifecycle.flush_interval and lifecycle.retry_for must be positive")
	}
	for name, n := range map[string]int{
		"max_inflight": b.MaxInflight, "max_inflight_per_socket": b.MaxInflightPerSocket,
		"cache_size": b.CacheSize, "max_body_bytes": b.MaxBodyBytes, "lifecycle.batch_size": b.Lifecycle.BatchSize,
	} {
		if n < 1 {
			bad("backend.%s: must be positive", name)
		}
	}
	if b.Stream.Key == "" || b.Stream.MaxLen < 1 || b.Lifecycle.MaxLen < 1 {
		bad("backend.stream.key is required; stream.max_len and lifecycle.max_len must be positive")
	}
	if b.Lifecycle.Stream != "" && !c.Redis.enabled() {
		bad("backend.lifecycle.stream: needs redis.url (lifecycle events are tracked in Redis)")
	}
	if b.Lifecycle.Webhook && b.Lifecycle.Stream == "" {
		bad("backend.lifecycle.webhook: set backend.lifecycle.stream too")
	}
}

func (c *Config) validateLimits(bad func(string, ...any)) {
	l := c.Limits
	for name, n := range map[string]int{
		"max_connections_per_user": l.MaxConnectionsPerUser, "max_connections_per_ip": l.MaxConnectionsPerIP,
		"connect_attempts_per_ip": l.ConnectAttemptsPerIP, "messages_per_user": l.MessagesPerUser,
		"max_message_bytes": l.MaxMessageBytes, "max_rooms_per_socket": l.MaxRoomsPerSocket,
	} {
		if n < 0 {
			bad("limits.%s: negative (0 turns the limit off)", name)
		}
	}
	if l.ConnectAttemptsPerIP > 0 && l.ConnectAttemptsWindow <= 0 {
		bad("limits.connect_attempts_window: must be positive")
	}
	if l.MessagesPerUser > 0 && l.MessagesWindow <= 0 {
		bad("limits.messages_window: must be positive")
	}
	if l.RateAlgorithm != "window" && l.RateAlgorithm != "gcra" {
		bad("limits.rate_algorithm: %q (window, gcra)", l.RateAlgorithm)
	}
	if l.NodeTTL <= 0 {
		bad("limits.node_ttl: must be positive")
	}
	if l.AbuseDisconnectAfter <= 0 {
		bad("limits.abuse_disconnect_after: must be positive")
	}
	if _, err := parsePrefixes(l.TrustedProxies); err != nil {
		bad("limits.trusted_proxies: %v", err)
	}
	if _, err := proxyHeader(l.ProxyHeader); err != nil {
		bad("limits.proxy_header: %v", err)
	}
}

// parsePrefixes reads CIDRs; a bare address is a one-address network.
func parsePrefixes(list []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range list {
		s = strings.TrimSpace(s)
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("%q is not a CIDR (e.g. 10.0.0.0/8) or an address", s)
		}
		out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
	}
	return out, nil
}

// proxyHeader canonicalises limits.proxy_header.
func proxyHeader(s string) (string, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "":
		return "", nil
	case "x-forwarded-for":
		return "X-Forwarded-For", nil
	case "forwarded":
		return "Forwarded", nil
	}
	return "", fmt.Errorf("%q (X-Forwarded-For, Forwarded, or empty for either)", s)
}

// redisMode maps redis.mode to the adapter's mode.
func redisMode(s string) (redisadapter.Mode, error) {
	switch s {
	case "classic":
		return redisadapter.ModeClassic, nil
	case "sharded":
		return redisadapter.ModeSharded, nil
	case "room":
		return redisadapter.ModeRoom, nil
	}
	return 0, fmt.Errorf("%q (classic, sharded, room)", s)
}

// namespacePattern turns a name with '*' into the regexp of a dynamic
// namespace: each '*' matches one or more characters other than '/'.
func namespacePattern(name string) (*regexp.Regexp, bool) {
	if !strings.Contains(name, "*") {
		return nil, false
	}
	parts := strings.Split(name, "*")
	for i, p := range parts {
		parts[i] = regexp.QuoteMeta(p)
	}
	return regexp.MustCompile("^" + strings.Join(parts, "[^/]+") + "$"), true
}
