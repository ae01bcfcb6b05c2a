package redisadapter

import (
	"errors"
	"fmt"
	"time"
)

// Mode selects the Redis pub/sub scheme.
type Mode uint8

const (
	// ModeClassic is @socket.io/redis-adapter's createAdapter: PSUBSCRIBE
	// "<key>#<ns>#*" for broadcasts plus plain SUBSCRIBE of the request and
	// response channels.
	ModeClassic Mode = 0
	// ModeSharded is createShardedAdapter (Redis 7 SPUBLISH/SSUBSCRIBE,
	// socket.io-adapter ClusterAdapter messages).
	ModeSharded Mode = 1
	// ModeRoom speaks the classic wire format but replaces the pattern
	// subscription by SUBSCRIBE of "<key>#<ns>#" plus one channel per local
	// room, kept in step through adapter.RoomWatcher. The broker must
	// report socket-id rooms too: a Node server publishes a broadcast to a
	// single socket on that socket's channel.
	ModeRoom Mode = 2
)

func (m Mode) String() string {
	switch m {
	case ModeClassic:
		return "classic"
	case ModeSharded:
		return "sharded"
	case ModeRoom:
		return "room"
	}
	return fmt.Sprintf("Mode(%d)", uint8(m))
}

// SubscriptionMode is the sharded adapter's subscriptionMode option.
type SubscriptionMode uint8

const (
	// SubscriptionDynamic (the Node default): one channel per public room,
	// socket-id rooms (20 characters) travel on the namespace channel.
	SubscriptionDynamic SubscriptionMode = 0
	// SubscriptionStatic: everything on the namespace channel.
	SubscriptionStatic SubscriptionMode = 1
	// SubscriptionDynamicPrivate: one channel per room, socket ids included.
	SubscriptionDynamicPrivate SubscriptionMode = 2
)

// Config configures an Adapter. Zero values take the documented default.
type Config struct {
	// Key is the channel prefix (Node: key / channelPrefix). Default "socket.io".
	Key string
	// Mode is the pub/sub scheme. Default ModeClassic.
	Mode Mode
	// Subscription applies to ModeSharded. Default SubscriptionDynamic.
	Subscription SubscriptionMode
	// RequestTimeout bounds a Request when its ctx has no earlier deadline.
	// Default 5s.
	RequestTimeout time.Duration
	// PublishOnSpecificResponseChannel answers classic requests on
	// "<key>-response#<ns>#<uid>#" instead of the shared response channel
	// (Node option of the same name). Default false, as in Node.
	PublishOnSpecificResponseChannel bool
	// QueueSize bounds the inbound queue between the Redis receive loop
	// and the handler, in messages. Overflow drops and counts. Default 65536.
	QueueSize int
	// HeartbeatInterval is how often the node refreshes its liveness key
	// "<key>-node#<uid>" (TTL three intervals) and probes Redis. Default 2s.
	HeartbeatInterval time.Duration
	// Default: a random 12-character id.
	NodeID string
	// MaxBackoff caps the delay between resubscription attempts. Default
	// 1s; a successful heartbeat after a failure also ends the wait.
	MaxBackoff time.Duration
	// ObservePublish, if set, is called after every PUBLISH/SPUBLISH with
	// its round-trip time (failed ones included). It must not block.
	// Nil: not measured.
	ObservePublish func(d time.Duration)
	// ObserveRequest, if set, is called when a Request that reached Redis
	// returns, with its duration (serverCount, publish and the wait for
	// the answers; timeouts included). It must not block. Nil: not
	// measured.
	ObserveRequest func(d time.Duration)
}

func (c Config) withDefaults() Config {
	if c.Key == "" {
		c.Key = "socket.io"
	}
	if c.RequestTimeout == 0 {
		c.RequestTimeout = 5 * time.Second
	}
	if c.QueueSize == 0 {
		c.QueueSize = 65536
	}
	if c.HeartbeatInterval == 0 {
		c.HeartbeatInterval = 2 * time.Second
	}
	if c.MaxBackoff == 0 {
		c.MaxBackoff = time.Second
	}
	if c.NodeID == "" {
		c.NodeID = randomID()
	}
	return c
}

func (c Config) validate() error {
	switch {
	case c.Mode > ModeRoom:
		return fmt.Errorf("redisadapter: unknown mode %d", c.Mode)
	case c.Subscription > SubscriptionDynamicPrivate:
		return fmt.Errorf("redisadapter: unknown subscription mode %d", c.Subscription)
	case c.RequestTimeout < 0, c.HeartbeatInterval < 0, c.MaxBackoff < 0:
		return errors.New("redisadapter: negative duration")
	case c.QueueSize < 0:
		return errors.New("redisadapter: negative QueueSize")
	}
	return nil
}
