package node

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"strings"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/ionbus/ionbus/adapter"
	"github.com/ionbus/ionbus/adapter/redisadapter"
	"github.com/ionbus/ionbus/broker"
	"github.com/ionbus/ionbus/broker/access"
	"github.com/ionbus/ionbus/broker/adminui"
	"github.com/ionbus/ionbus/broker/api"
	"github.com/ionbus/ionbus/broker/auth"
	"github.com/ionbus/ionbus/broker/bridge"
	"github.com/ionbus/ionbus/broker/online"
	"github.com/ionbus/ionbus/connection"
	"github.com/ionbus/ionbus/limits"
	"github.com/ionbus/ionbus/node/metrics"
	"github.com/ionbus/ionbus/presence"
)

// components are the package configurations of one node, and the
// dependencies mapConfig built for them. Redis, when set, is shared by
// the adapter, the limits and presence, and closed last (serve.go).
type components struct {
	NodeID string
	Broker broker.Config // Broker.Engine is the Engine.IO config
	API    api.Config

	Redis   redis.UniversalClient   // nil: single node
	Adapter *redisadapter.Adapter   // nil: in-memory adapter
	Guard   *access.Guard           // always set: access rules, origins, limits
	Rules   map[string]access.Rules // namespace name -> rules, for Guard.Attach
	Limiter *limits.Limiter         // nil when limits.enabled is false
	Slots   *limits.RedisSlots      // nil without Redis: Run and ReleaseAll
	Online  online.Config           // for online.New on the broker (newApp)
	// PresencePatterns are the presence rules of pattern namespaces, by
	// configured name in file order; newApp adds them to Online.Patterns
	// once the pattern parents exist.
	PresencePatterns []namedRules
	Store            presence.Store // nil when no namespace tracks presence
	// Bridge carries connects, client events and lifecycle events to the
	// backend; nil when backend.url is empty. BridgeRules are the event
	// rules by namespace name, for Bridge.Attach.
	Bridge      *bridge.Bridge
	BridgeRules map[string]bridge.NamespaceRules
	// Metrics is the node's Prometheus registry; its Observe methods are
	// the latency hooks of the broker, the adapter and the bridge.
	Metrics *metrics.Metrics
	// AdminUI is the Admin UI server's configuration (adminui.New on the
	// broker in New); nil when admin_ui.enabled is false.
	AdminUI *adminui.Config
}

// mapConfig is the one place where the application configuration becomes
// package configurations (and where cluster dependencies are built). The
// configuration has been validated. On error nothing is left open.
func mapConfig(c Config, log *zerolog.Logger) (comp components, err error) {
	comp.NodeID = c.NodeID
	if comp.NodeID == "" {
		comp.NodeID = randomNodeID()
	}
	comp.Metrics = metrics.New()
	if c.Redis.enabled() {
		// go-redis logs through a package-level logger; route it into
		// ours so every line keeps the configured format.
		redis.SetLogger(redisLogger{log.With().Str("component", "go-redis").Logger()})
		if comp.Redis, err = newRedisClient(c.Redis); err != nil {
			return components{}, err
		}
		defer func() {
			if err != nil {
				comp.Redis.Close()
			}
		}()
	}
	if comp.Adapter, err = newAdapter(c.Redis, comp.NodeID, comp.Redis, comp.Metrics, log); err != nil {
		return components{}, err
	}

	var verifier *auth.Verifier
	if c.Auth.JWT.enabled() {
		if verifier, err = auth.New(authConfig(c.Auth.JWT)); err != nil {
			return components{}, fmt.Errorf("auth.jwt: %w", err)
		}
	}
	if c.Limits.Enabled {
		lcfg, err := limitsConfig(c.Limits, comp.NodeID, log)
		if err != nil {
			return components{}, err
		}
		lcfg.KeyPrefix = keyPrefix(c.Redis.Key, "limits")
		var slots limits.Slots = limits.NewMemorySlots()
		gcra := c.Limits.RateAlgorithm == "gcra"
		var rate limits.Rate = limits.NewMemoryWindowRate(nil)
		if gcra {
			rate = limits.NewMemoryRate(nil)
		}
		if comp.Redis != nil {
			if comp.Slots, err = limits.NewRedisSlots(comp.Redis, lcfg); err != nil {
				return components{}, fmt.Errorf("limits: %w", err)
			}
			if gcra {
				rate, err = limits.NewRedisRate(comp.Redis, lcfg)
			} else {
				rate, err = limits.NewRedisWindowRate(comp.Redis, lcfg)
			}
			if err != nil {
				return components{}, fmt.Errorf("limits: %w", err)
			}
			slots = comp.Slots
		}
		if comp.Limiter, err = limits.New(lcfg, slots, rate); err != nil {
			return components{}, fmt.Errorf("limits: %w", err)
		}
	}
	if c.Backend.URL != "" {
		if comp.Bridge, comp.BridgeRules, err = newBridge(c, comp.NodeID, comp.Redis, comp.Metrics, log); err != nil {
			return components{}, err
		}
	}
	guardCfg := access.Config{
		Verifier:             verifier,
		AbuseDisconnectAfter: c.Limits.AbuseDisconnectAfter,
		Logger:               log.With().Str("component", "access").Logger(),
	}
	if comp.Limiter != nil { // a typed nil would read as "limits configured"
		guardCfg.Limiter = comp.Limiter
	}
	if comp.Bridge != nil {
		guardCfg.Authenticator = comp.Bridge
	}
	if comp.Guard, err = access.New(guardCfg); err != nil {
		return components{}, fmt.Errorf("access: %w", err)
	}
	if comp.Slots != nil { // slots lost in Redis (restart, lapse): the guard restores its sessions'
		comp.Slots.SetOnLapsed(comp.Guard.Resync)
	}
	comp.Rules = make(map[string]access.Rules, len(c.Namespaces))
	for _, ns := range c.Namespaces {
		rules, err := accessRules(ns)
		if err != nil {
			return components{}, err
		}
		comp.Rules[ns.Name] = rules
	}

	if err := presenceConfig(c, &comp, log); err != nil {
		return components{}, err
	}

	engine := connection.Config{
		Path:          c.Path,
		PingInterval:  c.Engine.PingInterval.D(),
		PingTimeout:   c.Engine.PingTimeout.D(),
		MaxPayload:    c.Engine.MaxPayload,
		MaxQueueBytes: c.Engine.MaxQueueBytes,
		BodyTimeout:   c.Engine.BodyTimeout.D(),
		HTTPCompression: connection.HTTPCompression{
			Disabled:  !c.Engine.HTTPCompression.Enabled,
			Threshold: max(c.Engine.HTTPCompression.Threshold, 1), // 0 = every body (the library's 0 is its default)
		},
		PerMessageDeflate: connection.PerMessageDeflate{
			Enabled:   c.Engine.PerMessageDeflate.Enabled,
			Threshold: max(c.Engine.PerMessageDeflate.Threshold, 1),
		},
		Transports: append([]string(nil), c.Engine.Transports...),
		CORS: connection.CORSConfig{
			Origins:     append([]string(nil), c.CORS.Origins...),
			Credentials: c.CORS.Credentials,
			// The Admin UI's pages: allowed, with credentials (its client
			// sends withCredentials), whatever cors.* says for the app.
			CredentialOrigins: adminOrigins(c.AdminUI),
			Refused:           comp.Guard.OriginRefused,
		},
		Logger: log,
	}
	comp.Broker = broker.Config{
		Engine:         engine,
		Parser:         broker.Parser(c.Parser),
		NodeID:         comp.NodeID,
		ConnectTimeout: c.Engine.ConnectTimeout.D(),
		RequestTimeout: c.Redis.RequestTimeout.D(),
		Recovery: broker.RecoveryConfig{
			MaxDisconnection: c.Recovery.MaxDisconnection.D(),
			SkipMiddlewares:  c.Recovery.SkipMiddlewares,
		},
		Logger:           log,
		ObserveConnect:   comp.Metrics.ObserveConnect,
		ObserveBroadcast: comp.Metrics.ObserveBroadcast,

		EmptyChildTTL:        c.DynamicNamespaces.EmptyTTL.D(),
		MaxDynamicNamespaces: c.DynamicNamespaces.Max,
		NamespaceLimitError:  comp.Guard.NamespaceLimit,
	}
	if comp.Adapter != nil { // nil: the in-memory single-node adapter
		comp.Broker.Adapter = comp.Adapter
	}
	comp.API = api.Config{Key: c.API.Key, Insecure: c.API.Insecure, Logger: log}
	if c.AdminUI.Enabled {
		mode, err := adminui.ParseMode(c.AdminUI.Mode)
		if err != nil {
			return components{}, fmt.Errorf("admin_ui.mode: %w", err)
		}
		comp.AdminUI = &adminui.Config{
			Namespace:      c.AdminUI.Namespace,
			Mode:           mode,
			Username:       c.AdminUI.Username,
			PasswordHash:   c.AdminUI.PasswordHash,
			DisableAuth:    c.AdminUI.Insecure,
			ReadOnly:       c.AdminUI.ReadOnly,
			SessionTTL:     c.AdminUI.SessionTTL.D(),
			CommandTimeout: c.Redis.RequestTimeout.D(),
			KeyPrefix:      keyPrefix(c.Redis.Key, "adminui"),
			Logger:         *log,
		}
	}
	return comp, nil
}

// adminOrigins are admin_ui.allow_origins when the Admin UI is on, as
// browsers send them (no trailing '/').
func adminOrigins(a AdminUIConfig) []string {
	if !a.Enabled {
		return nil
	}
	out := make([]string, 0, len(a.AllowOrigins))
	for _, o := range a.AllowOrigins {
		out = append(out, strings.TrimSuffix(o, "/"))
	}
	return out
}

// redisLogger adapts zerolog to go-redis's logging interface. go-redis
// only logs failures (dial errors, pool trouble), so they go out at warn.
type redisLogger struct{ log zerolog.Logger }

func (l redisLogger) Printf(_ context.Context, format string, v ...any) {
	l.log.Warn().Msgf(format, v...)
}

// newRedisClient builds the one client of the node: a Redis Cluster
// client for redis.cluster_addrs (redis.url then lends its user, password
// and TLS settings), else a client for redis.url. It does not dial.
func newRedisClient(c RedisConfig) (redis.UniversalClient, error) {
	opt := &redis.Options{}
	if c.URL != "" {
		var err error
		if opt, err = redis.ParseURL(c.URL); err != nil {
			return nil, fmt.Errorf("redis.url: invalid URL") // never echo a password
		}
	}
	if len(c.ClusterAddrs) > 0 {
		cc := redis.NewClusterClient(&redis.ClusterOptions{
			Addrs:                      append([]string(nil), c.ClusterAddrs...),
			Username:                   opt.Username,
			Password:                   opt.Password,
			TLSConfig:                  opt.TLSConfig,
			ClusterStateReloadInterval: clusterStateMaxAge,
		})
		followFailover(cc)
		return cc, nil
	}
	return redis.NewClient(opt), nil
}

// clusterStateMaxAge bounds how stale the slot map gets without any error
// (go-redis reloads it on the first use after this age; 60 s by default).
const clusterStateMaxAge = 5 * time.Second

// followFailover makes cc reload its slot map as soon as a node stops
// answering or Redis reports a topology change. go-redis reloads on MOVED
// only: after a master is killed it would keep dialing the dead address
// until its periodic refresh, long after a replica took over. The reload
// is coalesced by go-redis (one at a time, 200 ms apart), so a burst of
// failures costs one CLUSTER SLOTS round trip per 200 ms.
func followFailover(cc *redis.ClusterClient) {
	h := reloadHook{cc}
	cc.OnNewNode(func(c *redis.Client) { c.AddHook(h) })
}

type reloadHook struct{ cc *redis.ClusterClient }

func (h reloadHook) DialHook(next redis.DialHook) redis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := next(ctx, network, addr)
		if err != nil && ctx.Err() == nil {
			h.cc.ReloadState(ctx)
		}
		return conn, err
	}
}

func (h reloadHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		if redisadapter.TopologyChanged(ctx, err) {
			h.cc.ReloadState(ctx)
		}
		return err
	}
}

func (h reloadHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		err := next(ctx, cmds)
		changed := redisadapter.TopologyChanged(ctx, err)
		for _, c := range cmds {
			changed = changed || redisadapter.TopologyChanged(ctx, c.Err())
		}
		if changed {
			h.cc.ReloadState(ctx)
		}
		return err
	}
}

// newAdapter builds the Redis cluster adapter, or nil (the broker then
// uses its in-memory single-node adapter) without a Redis client.
func newAdapter(c RedisConfig, nodeID string, client redis.UniversalClient, m *metrics.Metrics, log *zerolog.Logger) (*redisadapter.Adapter, error) {
	if client == nil {
		return nil, nil
	}
	mode, err := redisMode(c.Mode)
	if err != nil {
		return nil, fmt.Errorf("redis.mode: %w", err)
	}
	a, err := redisadapter.New(redisadapter.Config{
		Key:            c.Key,
		Mode:           mode,
		RequestTimeout: c.RequestTimeout.D(),
		MaxBackoff:     c.MaxBackoff.D(),
		NodeID:         nodeID,
		ObservePublish: m.ObservePublish,
		ObserveRequest: m.ObserveRequest,
	}, client, log.With().Str("component", "adapter").Logger())
	if err != nil {
		return nil, fmt.Errorf("redis adapter: %w", err)
	}
	return a, nil
}

// authConfig maps auth.jwt. An empty cookie name turns cookies off; a
// zero leeway makes exp/nbf/iat exact.
func authConfig(j JWTConfig) auth.Config {
	cfg := auth.Config{
		PublicKeyFile: j.PublicKeyFile,
		JWKSURL:       j.JWKSURL,
		Algorithms:    append([]string(nil), j.Algorithms...),
		Cookie:        j.Cookie,
		DisableCookie: j.Cookie == "",
		QueryParam:    j.QueryParam,
		UserClaim:     j.UserClaim,
		NameClaim:     j.NameClaim,
		RolesClaim:    j.RolesClaim,
		Issuer:        j.Issuer,
		Audience:      j.Audience,
		Leeway:        j.Leeway.D(),
		DisableLeeway: j.Leeway == 0,
	}
	if j.Secret != "" {
		cfg.Secret = []byte(j.Secret)
	}
	return cfg
}

// limitsConfig maps limits.*: a count of 0 turns that limit off.
func limitsConfig(l LimitsConfig, nodeID string, log *zerolog.Logger) (limits.Config, error) {
	proxies, err := parsePrefixes(l.TrustedProxies)
	if err != nil {
		return limits.Config{}, fmt.Errorf("limits.trusted_proxies: %w", err)
	}
	header, err := proxyHeader(l.ProxyHeader)
	if err != nil {
		return limits.Config{}, fmt.Errorf("limits.proxy_header: %w", err)
	}
	return limits.Config{
		MaxConnectionsPerUser:     l.MaxConnectionsPerUser,
		DisableConnectionsPerUser: l.MaxConnectionsPerUser == 0,
		MaxConnectionsPerIP:       l.MaxConnectionsPerIP,
		DisableConnectionsPerIP:   l.MaxConnectionsPerIP == 0,
		ConnectAttemptsPerIP:      l.ConnectAttemptsPerIP,
		ConnectAttemptsWindow:     l.ConnectAttemptsWindow.D(),
		DisableConnectAttempts:    l.ConnectAttemptsPerIP == 0,
		MessagesPerUser:           l.MessagesPerUser,
		MessagesWindow:            l.MessagesWindow.D(),
		DisableMessageRate:        l.MessagesPerUser == 0,
		MaxMessageBytes:           l.MaxMessageBytes,
		DisableMessageSize:        l.MaxMessageBytes == 0,
		MaxRoomsPerSocket:         l.MaxRoomsPerSocket,
		DisableRoomLimit:          l.MaxRoomsPerSocket == 0,
		TrustedProxies:            proxies,
		ProxyHeader:               header,
		NodeID:                    nodeID,
		NodeTTL:                   l.NodeTTL.D(),
		Logger:                    log.With().Str("component", "limits").Logger(),
	}, nil
}

// accessRules maps one namespace's rules.
func accessRules(ns NamespaceConfig) (access.Rules, error) {
	acc, err := access.ParseAccess(ns.Access)
	if err != nil {
		return access.Rules{}, fmt.Errorf("namespaces[%s].access: %w", ns.Name, err)
	}
	mode, err := access.ParseAuthMode(ns.Authenticate)
	if err != nil {
		return access.Rules{}, fmt.Errorf("namespaces[%s].authenticate: %w", ns.Name, err)
	}
	return access.Rules{
		Access:       acc,
		Authenticate: mode,
		AutoJoin:     append([]string(nil), ns.AutoJoin...),
		RoomsAllow:   append([]string(nil), ns.Rooms.Allow...),
		CompatEvents: ns.CompatEvents,
		RedirectURL:  ns.RedirectURL,
		RequireCSRF:  ns.CSRF,
		ErrorCodes:   maps.Clone(ns.ErrorCodes),
	}, nil
}

// newBridge maps backend.* and namespaces[].events. The secret comes
// from the configuration (IONBUS_BACKEND_SECRET overrides it like any
// key); it is never logged.
func newBridge(c Config, nodeID string, rdb redis.UniversalClient, m *metrics.Metrics, log *zerolog.Logger) (*bridge.Bridge, map[string]bridge.NamespaceRules, error) {
	b := c.Backend
	cfg := bridge.Config{
		URL:                  b.URL,
		Secret:               b.Secret,
		Timeout:              b.Timeout.D(),
		ForwardHeaders:       append([]string{}, b.ForwardHeaders...), // non-nil: [] forwards none
		MaxInflight:          b.MaxInflight,
		MaxInflightPerSocket: b.MaxInflightPerSocket,
		CacheTTL:             b.CacheTTL.D(),
		CacheSize:            b.CacheSize,
		DisableCache:         b.CacheTTL == 0,
		RefreshInterval:      b.RefreshInterval.D(),
		MaxBodyBytes:         b.MaxBodyBytes,
		Stream:               bridge.StreamConfig{Key: b.Stream.Key, MaxLen: b.Stream.MaxLen},
		Lifecycle: bridge.LifecycleConfig{
			Stream:        b.Lifecycle.Stream,
			MaxLen:        b.Lifecycle.MaxLen,
			Webhook:       b.Lifecycle.Webhook,
			BatchSize:     b.Lifecycle.BatchSize,
			FlushInterval: b.Lifecycle.FlushInterval.D(),
			RetryFor:      b.Lifecycle.RetryFor.D(),
		},
		NodeID:      nodeID,
		NodeTTL:     b.NodeTTL.D(),
		KeyPrefix:   keyPrefix(c.Redis.Key, "bridge"),
		Logger:      log.With().Str("component", "bridge").Logger(),
		ObserveHook: m.ObserveHook,
	}
	rules := make(map[string]bridge.NamespaceRules, len(c.Namespaces))
	for _, ns := range c.Namespaces {
		var r bridge.NamespaceRules
		for i, e := range ns.Events {
			via, err := eventVia(e.Via)
			if err != nil {
				return nil, nil, fmt.Errorf("namespaces[%s].events[%d].via: %w", ns.Name, i, err)
			}
			r.Events = append(r.Events, bridge.EventRule{Match: append([]string(nil), e.Match...), Via: via})
		}
		rules[ns.Name] = r
	}
	var client redis.UniversalClient
	if rdb != nil { // a typed nil would read as "Redis configured"
		client = rdb
	}
	br, err := bridge.New(cfg, client)
	if err != nil {
		return nil, nil, fmt.Errorf("backend: %w", err)
	}
	return br, rules, nil
}

// presenceConfig maps presence.* and namespaces[].presence, and builds
// the store (memory, or Redis on the shared client) when at least one
// namespace tracks presence.
func presenceConfig(c Config, comp *components, log *zerolog.Logger) error {
	rules := map[string]online.NamespaceRules{}
	for _, ns := range c.Namespaces {
		if !ns.Presence.enabled() {
			continue
		}
		r := online.NamespaceRules{
			Track:   presence.Rules{Namespace: ns.Presence.Namespace, Rooms: append([]string(nil), ns.Presence.Rooms...)},
			Visible: append([]string(nil), ns.Presence.Visible...),
		}
		if _, pattern := namespacePattern(ns.Name); pattern {
			comp.PresencePatterns = append(comp.PresencePatterns, namedRules{ns.Name, r})
			continue
		}
		rules[ns.Name] = r
	}
	if len(rules) == 0 && len(comp.PresencePatterns) == 0 {
		return nil
	}
	p := c.Presence
	pcfg := presence.Config{
		NodeID:       comp.NodeID,
		KeyPrefix:    keyPrefix(c.Redis.Key, "presence"),
		MaxMetaBytes: p.MaxMetaBytes,
		NodeTTL:      p.NodeTTL.D(),
		PageSize:     p.PageSize,
		MaxPageSize:  p.MaxPageSize,
		Grace:        p.Grace.D(),
		DisableGrace: p.Grace == 0,
		Logger:       log.With().Str("component", "presence").Logger(),
	}
	var err error
	if comp.Redis != nil {
		comp.Store, err = presence.NewRedis(comp.Redis, pcfg)
	} else {
		comp.Store, err = presence.NewMemory(pcfg)
	}
	if err != nil {
		return fmt.Errorf("presence: %w", err)
	}
	comp.Online = online.Config{
		Presence:   pcfg,
		Namespaces: rules,
		Identify:   identify,
		Logger:     log.With().Str("component", "online").Logger(),
	}
	return nil
}

// namedRules are the presence rules of one configured namespace name.
type namedRules struct {
	name  string
	rules online.NamespaceRules
}

// keyPrefix is the Redis key prefix of limits or presence: the packages'
// default ("ionbus:limits", "ionbus:presence") for the default channel
// prefix, else one derived from redis.key, so that clusters sharing a
// Redis with different keys do not share slots or presence.
func keyPrefix(redisKey, what string) string {
	if redisKey == "socket.io" {
		return "ionbus:" + what
	}
	return "ionbus:" + redisKey + ":" + what
}

// identify counts a socket under the user of its verified token, or
// anonymously.
func identify(s *broker.Socket) (userID, name string) {
	if id := access.Identity(s); id != nil {
		return id.UserID, id.Name
	}
	return "", ""
}

// registerNamespaces creates the configured namespaces; a name with '*'
// becomes a pattern parent (srv.OfPattern). "/" always exists. It returns
// each configured name's namespace (the parent for patterns).
func registerNamespaces(srv *broker.Server, list []NamespaceConfig) map[string]*broker.Namespace {
	out := make(map[string]*broker.Namespace, len(list))
	for _, ns := range list {
		if re, ok := namespacePattern(ns.Name); ok {
			out[ns.Name] = srv.OfPattern(re)
			continue
		}
		out[ns.Name] = srv.Of(ns.Name)
	}
	return out
}

// randomNodeID is a fresh node id per process start (12 characters, as
// the broker's and the adapter's own defaults).
func randomNodeID() string {
	b := make([]byte, 9)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// colourful reports whether console logs on w may use colour: a
// terminal, and NO_COLOR (no-color.org) unset.
func colourful(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && isatty.IsTerminal(f.Fd()) && os.Getenv("NO_COLOR") == ""
}

// NewLogger builds the process logger of log.* (level, json or console
// format) on w. The node and its components log through children of it.
func NewLogger(c LogConfig, w io.Writer) (zerolog.Logger, error) {
	level, err := zerolog.ParseLevel(c.Level)
	if err != nil {
		return zerolog.Nop(), fmt.Errorf("log.level: %w", err)
	}
	if c.Format == "console" {
		w = zerolog.ConsoleWriter{Out: w, TimeFormat: time.RFC3339, NoColor: !colourful(w)}
	}
	return zerolog.New(w).Level(level).With().Timestamp().Logger(), nil
}

var _ adapter.Adapter = (*redisadapter.Adapter)(nil)
