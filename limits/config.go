package limits

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/rs/zerolog"
)

// Config is the admission policy and the backend settings. Zero values
// take the defaults named on each field; use the Disable… booleans to
// turn a limit off.
type Config struct {
	// MaxConnectionsPerUser is the number of concurrent connections one
	// user ID may hold across the cluster. Zero means 10.
	MaxConnectionsPerUser int
	// DisableConnectionsPerUser turns the per-user connection limit off.
	DisableConnectionsPerUser bool
	// MaxConnectionsPerIP is the number of concurrent connections one
	// client IP (IPv6: one /IPv6PrefixBits network) may hold across the
	// cluster. Zero means 100.
	MaxConnectionsPerIP int
	// DisableConnectionsPerIP turns the per-IP connection limit off.
	DisableConnectionsPerIP bool

	// ConnectAttemptsPerIP is the number of connection attempts (Socket.IO
	// CONNECTs, successful or not) allowed per IP per
	// ConnectAttemptsWindow. Zero means 100.
	ConnectAttemptsPerIP int
	// ConnectAttemptsWindow is the window of ConnectAttemptsPerIP. Zero
	// means 1 hour.
	ConnectAttemptsWindow time.Duration
	// DisableConnectAttempts turns the connection-attempt rate off.
	DisableConnectAttempts bool

	// MessagesPerUser is the number of client messages (events and acks)
	// allowed per user per MessagesWindow. Zero means 100.
	MessagesPerUser int
	// MessagesWindow is the window of MessagesPerUser. Zero means 1 minute.
	MessagesWindow time.Duration
	// DisableMessageRate turns the message rate off.
	DisableMessageRate bool

	// MaxMessageBytes is the largest client message in bytes (the decoded
	// Socket.IO packet including binary attachments). Zero means 10 KiB.
	MaxMessageBytes int
	// DisableMessageSize turns the message size check off.
	DisableMessageSize bool

	// MaxRoomsPerSocket is the number of rooms one socket may be in,
	// its own sid room excluded. Zero means 50.
	MaxRoomsPerSocket int
	// DisableRoomLimit turns the room limit off.
	DisableRoomLimit bool

	// TrustedProxies are the networks whose forwarding headers are
	// believed. Nil means none: the TCP peer is the client.
	TrustedProxies []netip.Prefix
	// ProxyHeader is the forwarding header the trusted proxies set:
	// "X-Forwarded-For" or "Forwarded" (RFC 7239). Empty means
	// X-Forwarded-For, or Forwarded when a request has no X-Forwarded-For.
	// Pin it when you can: a client may send the header your proxy does
	// not manage.
	ProxyHeader string
	// IPv6PrefixBits groups IPv6 clients by network for the per-IP limits
	// (one host usually owns a whole /64). Zero means 64; 128 means per
	// address.
	IPv6PrefixBits int

	// NodeID identifies this node as owner of Redis slots. Empty means a
	// random ID per process, which is what you want: if you set one, make
	// it unique per process start (hostname+pid+start time), because
	// slots left by a crashed process are only reclaimed once no live
	// node heartbeats under its ID.
	NodeID string
	// NodeTTL bounds how long a crashed node's slots stay held: its
	// heartbeat key lives NodeTTL and RedisSlots.Run refreshes it every
	// NodeTTL/3. Zero means 30 s.
	NodeTTL time.Duration
	// KeyPrefix starts every Redis key; it must not contain braces (it
	// becomes the Redis Cluster hash tag of the slot keys). Empty means
	// "ionbus:limits".
	KeyPrefix string

	// FailClosed makes Limiter refuse when the backend fails. Zero (false)
	// means fail open: the error is returned and counted, and the
	// Decision is Allowed, so a Redis outage does not lock every client
	// out.
	FailClosed bool

	// Now is the clock for rate windows. Nil means time.Now.
	Now func() time.Time
	// Logger receives backend failures (heartbeat, sweep). The zero
	// Logger discards everything.
	Logger zerolog.Logger
}

// withDefaults fills the zero fields.
func (c Config) withDefaults() Config {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	defDur := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	def(&c.MaxConnectionsPerUser, 10)
	def(&c.MaxConnectionsPerIP, 100)
	def(&c.ConnectAttemptsPerIP, 100)
	defDur(&c.ConnectAttemptsWindow, time.Hour)
	def(&c.MessagesPerUser, 100)
	defDur(&c.MessagesWindow, time.Minute)
	def(&c.MaxMessageBytes, 10<<10)
	def(&c.MaxRoomsPerSocket, 50)
	def(&c.IPv6PrefixBits, 64)
	defDur(&c.NodeTTL, 30*time.Second)
	if c.KeyPrefix == "" {
		c.KeyPrefix = "ionbus:limits"
	}
	if c.NodeID == "" {
		var b [8]byte
		_, _ = rand.Read(b[:])
		c.NodeID = hex.EncodeToString(b[:])
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// validate checks a Config after withDefaults.
func (c Config) validate() error {
	var errs []error
	pos := func(name string, v int) {
		if v < 0 {
			errs = append(errs, fmt.Errorf("%s is negative (%d)", name, v))
		}
	}
	pos("MaxConnectionsPerUser", c.MaxConnectionsPerUser)
	pos("MaxConnectionsPerIP", c.MaxConnectionsPerIP)
	pos("ConnectAttemptsPerIP", c.ConnectAttemptsPerIP)
	pos("MessagesPerUser", c.MessagesPerUser)
	pos("MaxMessageBytes", c.MaxMessageBytes)
	pos("MaxRoomsPerSocket", c.MaxRoomsPerSocket)
	if c.ConnectAttemptsWindow < 0 || c.MessagesWindow < 0 {
		errs = append(errs, errors.New("windows must not be negative"))
	}
	if c.NodeTTL < 3*time.Millisecond {
		errs = append(errs, fmt.Errorf("NodeTTL %v is too short", c.NodeTTL))
	}
	if c.IPv6PrefixBits < 1 || c.IPv6PrefixBits > 128 {
		errs = append(errs, fmt.Errorf("IPv6PrefixBits %d out of 1..128", c.IPv6PrefixBits))
	}
	switch c.ProxyHeader {
	case "", "X-Forwarded-For", "Forwarded":
	default:
		errs = append(errs, fmt.Errorf("ProxyHeader %q: want X-Forwarded-For or Forwarded", c.ProxyHeader))
	}
	if strings.ContainsAny(c.KeyPrefix, "{}") {
		errs = append(errs, fmt.Errorf("KeyPrefix %q must not contain braces", c.KeyPrefix))
	}
	if err := validKey(c.NodeID); err != nil {
		errs = append(errs, fmt.Errorf("NodeID: %w", err))
	}
	for _, p := range c.TrustedProxies {
		if !p.IsValid() {
			errs = append(errs, fmt.Errorf("TrustedProxies: invalid prefix %v", p))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("limits: config: %w", errors.Join(errs...))
	}
	return nil
}
