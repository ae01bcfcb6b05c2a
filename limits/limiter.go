package limits

import (
	"context"
	"errors"
	"net/http"
	"net/netip"
	"sync/atomic"
	"time"
)

// Limiter applies Config's policy through a Slots and a Rate backend,
// names every refusal with a Reason and counts it. It is what the broker
// calls; safe for concurrent use.
//
// Cost per accepted connection: AllowConnectAttempt (one Rate call) plus
// AcquireConnection (one Slots call) and, on disconnect,
// ReleaseConnection; with Redis each is one round trip (EVALSHA).
type Limiter struct {
	cfg   Config
	slots Slots
	rate  Rate

	refused       [reasonCount]atomic.Uint64
	backendErrors atomic.Uint64
}

// New validates cfg. slots and rate are the backends (NewMemorySlots /
// NewRedisSlots, NewMemoryWindowRate / NewRedisWindowRate, or the GCRA
// NewMemoryRate / NewRedisRate); either may be nil when the
// limits that need it are disabled.
func New(cfg Config, slots Slots, rate Rate) (*Limiter, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if slots == nil && !(cfg.DisableConnectionsPerUser && cfg.DisableConnectionsPerIP) {
		return nil, errors.New("limits: connection limits enabled without a Slots backend")
	}
	if rate == nil && !(cfg.DisableConnectAttempts && cfg.DisableMessageRate) {
		return nil, errors.New("limits: rate limits enabled without a Rate backend")
	}
	return &Limiter{cfg: cfg, slots: slots, rate: rate}, nil
}

// Config returns the effective configuration (defaults applied).
func (l *Limiter) Config() Config { return l.cfg }

// ClientIP is ClientIP with Config.TrustedProxies and Config.ProxyHeader.
func (l *Limiter) ClientIP(remoteAddr string, header http.Header) netip.Addr {
	return clientIP(remoteAddr, header, l.cfg.TrustedProxies, l.cfg.ProxyHeader)
}

// connectionKeys are the slot keys of one connection. An empty userID
// (anonymous) or an invalid ip skips that key.
func (l *Limiter) connectionKeys(userID string, ip netip.Addr) []SlotKey {
	keys := make([]SlotKey, 0, 2)
	if userID != "" && !l.cfg.DisableConnectionsPerUser {
		keys = append(keys, SlotKey{Key: UserSlotKey(userID), Limit: l.cfg.MaxConnectionsPerUser})
	}
	if ip.IsValid() && !l.cfg.DisableConnectionsPerIP {
		keys = append(keys, SlotKey{Key: IPSlotKey(ipKey(ip, l.cfg.IPv6PrefixBits)), Limit: l.cfg.MaxConnectionsPerIP})
	}
	return keys
}

// AcquireConnection takes a connection slot for userID and ip, named
// slotID (the Engine.IO sid), atomically: a refusal takes nothing and
// carries ReasonUserConnections or ReasonIPConnections. On a backend
// error the error is returned and Decision.Allowed follows
// Config.FailClosed.
func (l *Limiter) AcquireConnection(ctx context.Context, userID string, ip netip.Addr, slotID string) (Decision, error) {
	keys := l.connectionKeys(userID, ip)
	if len(keys) == 0 {
		return Decision{Allowed: true}, nil
	}
	d, err := l.slots.Acquire(ctx, keys, slotID)
	if err != nil {
		return l.backendFailed(err)
	}
	if !d.Allowed {
		d.Reason = ReasonIPConnections
		if userID != "" && d.Key == UserSlotKey(userID) {
			d.Reason = ReasonUserConnections
		}
		l.refused[d.Reason].Add(1)
	}
	return d, nil
}

// ReleaseConnection gives back the slot taken by AcquireConnection with
// the same arguments.
func (l *Limiter) ReleaseConnection(ctx context.Context, userID string, ip netip.Addr, slotID string) error {
	keys := l.connectionKeys(userID, ip)
	if len(keys) == 0 {
		return nil
	}
	if err := l.slots.Release(ctx, keys, slotID); err != nil {
		l.backendErrors.Add(1)
		return err
	}
	return nil
}

// Connection names one live connection for RestoreConnections: the
// arguments its AcquireConnection was called with.
type Connection struct {
	UserID string
	IP     netip.Addr
	SlotID string
}

// RestoreConnections puts back the slots of live connections after the
// Slots backend lost them (RedisSlots reports ErrLapsed: Redis restarted
// empty, or this node's heartbeat expired and its slots were swept). The
// slots are restored even when a key then exceeds its limit — e.g. a
// connection admitted while the slots were missing: the limit holds again
// for new connections, and the excess lasts until enough of the live ones
// end. A no-op (nil) when the backend does not implement Restorer
// (MemorySlots never loses slots). Returns how many slots were missing.
func (l *Limiter) RestoreConnections(ctx context.Context, conns []Connection) (int, error) {
	r, ok := l.slots.(Restorer)
	if !ok {
		return 0, nil
	}
	claims := make([]Claim, 0, len(conns))
	for _, c := range conns {
		if keys := l.connectionKeys(c.UserID, c.IP); len(keys) > 0 {
			claims = append(claims, Claim{Keys: keys, SlotID: c.SlotID})
		}
	}
	if len(claims) == 0 {
		return 0, nil
	}
	n, err := r.Restore(ctx, claims)
	if err != nil {
		l.backendErrors.Add(1)
	}
	return n, err
}

// AllowConnectAttempt counts one connection attempt from ip (call it
// before verifying credentials, so failed logins count too).
func (l *Limiter) AllowConnectAttempt(ctx context.Context, ip netip.Addr) (Decision, error) {
	if l.cfg.DisableConnectAttempts || !ip.IsValid() {
		return Decision{Allowed: true}, nil
	}
	return l.allow(ctx, connectRateKey(ipKey(ip, l.cfg.IPv6PrefixBits)), l.cfg.ConnectAttemptsPerIP, l.cfg.ConnectAttemptsWindow, ReasonConnectRate)
}

// AllowMessage checks one client message of size bytes from subject
// (the user ID, or the socket ID for anonymous sockets): the size limit
// first (no backend call), then the message rate.
func (l *Limiter) AllowMessage(ctx context.Context, subject string, size int) (Decision, error) {
	if !l.cfg.DisableMessageSize && size > l.cfg.MaxMessageBytes {
		l.refused[ReasonMessageSize].Add(1)
		return Decision{Reason: ReasonMessageSize, Key: subject, Limit: l.cfg.MaxMessageBytes}, nil
	}
	if l.cfg.DisableMessageRate || subject == "" {
		return Decision{Allowed: true}, nil
	}
	return l.allow(ctx, messageRateKey(subject), l.cfg.MessagesPerUser, l.cfg.MessagesWindow, ReasonMessageRate)
}

func (l *Limiter) allow(ctx context.Context, key string, limit int, window time.Duration, reason Reason) (Decision, error) {
	d, err := l.rate.Allow(ctx, key, limit, window)
	if err != nil {
		return l.backendFailed(err)
	}
	if !d.Allowed {
		d.Reason = reason
		l.refused[reason].Add(1)
	}
	return d, nil
}

// AllowMessageSize checks only the size limit (no backend call).
func (l *Limiter) AllowMessageSize(size int) Decision {
	if !l.cfg.DisableMessageSize && size > l.cfg.MaxMessageBytes {
		l.refused[ReasonMessageSize].Add(1)
		return Decision{Reason: ReasonMessageSize, Limit: l.cfg.MaxMessageBytes}
	}
	return Decision{Allowed: true}
}

// AllowJoin says whether a socket already in currentRooms rooms (its sid
// room excluded) may join one more. Pure; no backend call.
func (l *Limiter) AllowJoin(currentRooms int) Decision {
	if l.cfg.DisableRoomLimit || currentRooms < l.cfg.MaxRoomsPerSocket {
		return Decision{Allowed: true, Limit: l.cfg.MaxRoomsPerSocket, Remaining: max(l.cfg.MaxRoomsPerSocket-currentRooms-1, 0)}
	}
	l.refused[ReasonRooms].Add(1)
	return Decision{Reason: ReasonRooms, Limit: l.cfg.MaxRoomsPerSocket}
}

func (l *Limiter) backendFailed(err error) (Decision, error) {
	l.backendErrors.Add(1)
	if errors.Is(err, ErrInvalidKey) || errors.Is(err, ErrInvalidLimit) {
		return Decision{}, err
	}
	return Decision{Allowed: !l.cfg.FailClosed}, err
}

// Stats are the Limiter's counters since New.
type Stats struct {
	// Refused counts refusals by reason; every Reason except ReasonNone
	// is present, zero included.
	// In JSON the keys are the reasons' names (Reason.MarshalText).
	Refused map[Reason]uint64 `json:"refused"`
	// BackendErrors counts failed backend calls (the decision then
	// followed Config.FailClosed).
	BackendErrors uint64 `json:"backend_errors_total"`
}

// Stats returns a snapshot of the counters.
func (l *Limiter) Stats() Stats {
	s := Stats{Refused: make(map[Reason]uint64, reasonCount-1), BackendErrors: l.backendErrors.Load()}
	for r := Reason(1); r < reasonCount; r++ {
		s.Refused[r] = l.refused[r].Load()
	}
	return s
}
