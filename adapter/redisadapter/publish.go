package redisadapter

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ionbus/ionbus/adapter"
	"github.com/ionbus/ionbus/internal/wire"
)

// Publish sends m to the other servers of the namespace. Sequential calls
// reach every subscriber in call order (Redis keeps per-connection order
// across channels on one subscriber connection).
func (a *Adapter) Publish(ctx context.Context, m adapter.Message) error {
	if a.closed.Load() {
		return adapter.ErrClosed
	}
	if m.Opts.Local {
		return nil
	}
	channel, payload, err := a.encodeMessage(m)
	if err != nil {
		a.stats.publishErrors.Add(1)
		a.log.Warn().Err(err).Str("nsp", m.Namespace).Uint8("kind", uint8(m.Kind)).Msg("encode failed; message not published")
		return err
	}
	ns := m.Namespace
	if ns == "" {
		ns = "/"
	}
	if m.Kind == adapter.KindBroadcast && a.cfg.Mode == ModeClassic && a.cluster == nil {
		return a.publishChecked(ctx, channel, payload)
	}
	return a.publishNS(ctx, ns, channel, payload)
}

// publishChecked publishes a broadcast in classic mode on one Redis,
// where every node subscribes the namespace's broadcast pattern on one
// connection: PUBLISH answers how many nodes received it, compared with
// the live ionbus nodes counted in the node set in the same round trip
// (ZCOUNT pipelined; a node that closed has left it, one that crashed
// stays until its liveness lapses). Fewer is an *adapter.PartialError:
// the message went out, some nodes were not subscribed, e.g. still
// resubscribing after a Redis restart. Node.js servers in the cluster
// only add receivers. The other modes do not check: their receivers are
// per room or per shard.
func (a *Adapter) publishChecked(ctx context.Context, channel string, payload []byte) error {
	start := time.Now()
	var pub, live *redis.IntCmd
	var self *redis.FloatCmd
	nodes := a.name(wire.KeyNodes, "", "")
	_, err := a.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		pub = p.Publish(ctx, channel, payload)
		live = p.ZCount(ctx, nodes, strconv.FormatInt(start.UnixMilli(), 10), "+inf")
		self = p.ZScore(ctx, nodes, a.uid)
		return nil
	})
	a.observePublish(start)
	if err == nil || errors.Is(err, redis.Nil) { // redis.Nil: ZSCORE found no entry
		err = pub.Err()
	}
	if err := a.finishPublish(channel, err); err != nil {
		return err
	}
	// This node's own entry missing: Redis lost the node set (a restart)
	// and the count is not to be trusted until every node beat again.
	lost := errors.Is(self.Err(), redis.Nil)
	if want := a.expectedNodes(int(live.Val()), lost); int(pub.Val()) < want {
		a.stats.partial.Add(1)
		return &adapter.PartialError{Reached: int(pub.Val()), Expected: want}
	}
	return nil
}

// publishNS publishes a message of namespace ns. On a Redis Cluster in
// classic mode every PUBLISH of a namespace goes through the master
// owning its request channel, so that the cluster bus forwards them in
// publish order (joins and broadcasts travel on different channels).
func (a *Adapter) publishNS(ctx context.Context, ns, channel string, payload []byte) error {
	if a.cluster != nil && a.cfg.Mode != ModeSharded {
		master, err := a.cluster.MasterForKey(ctx, a.name(wire.ChanRequest, ns, ""))
		if err == nil {
			start := time.Now()
			err = master.Publish(ctx, channel, payload).Err()
			a.observePublish(start)
			return a.finishPublish(channel, err)
		}
	}
	return a.publish(ctx, channel, payload)
}

func (a *Adapter) publish(ctx context.Context, channel string, payload []byte) error {
	var err error
	start := time.Now()
	if a.cfg.Mode == ModeSharded {
		err = a.client.SPublish(ctx, channel, payload).Err()
	} else {
		err = a.client.Publish(ctx, channel, payload).Err()
	}
	a.observePublish(start)
	return a.finishPublish(channel, err)
}

// observePublish reports one publish's round trip to Config.ObservePublish.
func (a *Adapter) observePublish(start time.Time) {
	if a.cfg.ObservePublish != nil {
		a.cfg.ObservePublish(time.Since(start))
	}
}

func (a *Adapter) finishPublish(channel string, err error) error {
	if err != nil {
		a.stats.publishErrors.Add(1)
		if a.cluster != nil && TopologyChanged(a.ctx, err) {
			// The channel's master may have failed over: go-redis would
			// keep dialing the dead one until its periodic reload.
			a.cluster.ReloadState(a.ctx)
		}
		if !a.closed.Load() { // failures during shutdown are expected
			a.log.Warn().Err(err).Str("channel", channel).Msg("redis publish failed")
		}
		return fmt.Errorf("redisadapter: publish: %w", err)
	}
	a.stats.published.Add(1)
	return nil
}

// EncodeMessage returns the channel and payload Publish would send for m.
// Exposed for golden tests and tools.
func (a *Adapter) EncodeMessage(m adapter.Message) (channel string, payload []byte, err error) {
	return a.encodeMessage(m)
}

func (a *Adapter) encodeMessage(m adapter.Message) (string, []byte, error) {
	ns := m.Namespace
	if ns == "" {
		ns = "/"
	}
	if a.cfg.Mode == ModeSharded {
		return a.encodeCluster(m, ns)
	}
	uid := wire.F("uid", wire.S(a.uid))
	opts := optsValue(m.Opts, false)
	switch m.Kind {
	case adapter.KindBroadcast:
		pkt, err := packetValue(m.Packet, ns)
		if err != nil {
			return "", nil, err
		}
		ch := a.name(wire.ChanBroadcast, ns, "")
		if len(m.Opts.Rooms) == 1 {
			ch = a.name(wire.ChanRoom, ns, m.Opts.Rooms[0])
		}
		buf := make([]byte, 0, len(m.Packet.Data)+64+len(a.uid)+16*(len(m.Opts.Rooms)+len(m.Opts.Except)))
		return ch, wire.A(wire.S(a.uid), pkt, optsValue(m.Opts, true)).AppendMsgpack(buf), nil
	case adapter.KindSocketsJoin, adapter.KindSocketsLeave:
		t := reqRemoteJoin
		if m.Kind == adapter.KindSocketsLeave {
			t = reqRemoteLeave
		}
		v := wire.M(uid, wire.F("type", wire.N(float64(t))), wire.F("opts", opts), wire.F("rooms", strs(m.Rooms)))
		return a.name(wire.ChanRequest, ns, ""), v.JSON(), nil
	case adapter.KindDisconnectSockets:
		v := wire.M(uid, wire.F("type", wire.N(reqRemoteDisconnect)), wire.F("opts", opts), wire.F("close", wire.B(m.Close)))
		return a.name(wire.ChanRequest, ns, ""), v.JSON(), nil
	case adapter.KindServerSideEmit:
		data, err := dataValue(m.Packet.Data, m.Packet.Attachments)
		if err != nil {
			return "", nil, err
		}
		v := wire.M(uid, wire.F("type", wire.N(reqServerSideEmit)), wire.F("data", data))
		return a.name(wire.ChanRequest, ns, ""), v.JSON(), nil
	}
	return "", nil, fmt.Errorf("redisadapter: unknown message kind %d", m.Kind)
}

// encodeCluster builds a ClusterAdapter message {type, data, uid, nsp}.
func (a *Adapter) encodeCluster(m adapter.Message, ns string) (string, []byte, error) {
	opts := optsValue(m.Opts, true)
	var t int
	var data wire.Value
	switch m.Kind {
	case adapter.KindBroadcast:
		pkt, err := packetValue(m.Packet, "")
		if err != nil {
			return "", nil, err
		}
		t, data = msgBroadcast, wire.M(wire.F("packet", pkt), wire.F("opts", opts))
	case adapter.KindSocketsJoin:
		t, data = msgSocketsJoin, wire.M(wire.F("opts", opts), wire.F("rooms", strs(m.Rooms)))
	case adapter.KindSocketsLeave:
		t, data = msgSocketsLeave, wire.M(wire.F("opts", opts), wire.F("rooms", strs(m.Rooms)))
	case adapter.KindDisconnectSockets:
		t, data = msgDisconnectSockets, wire.M(wire.F("opts", opts), wire.F("close", wire.B(m.Close)))
	case adapter.KindServerSideEmit:
		d, err := dataValue(m.Packet.Data, m.Packet.Attachments)
		if err != nil {
			return "", nil, err
		}
		t, data = msgServerSideEmit, wire.M(wire.F("packet", d))
	default:
		return "", nil, fmt.Errorf("redisadapter: unknown message kind %d", m.Kind)
	}
	ch := a.name(wire.ChanBroadcast, ns, "")
	if m.Kind == adapter.KindBroadcast && len(m.Opts.Rooms) == 1 {
		room := m.Opts.Rooms[0]
		if (a.cfg.Subscription == SubscriptionDynamic && !looksLikeSocketID(room)) || a.cfg.Subscription == SubscriptionDynamicPrivate {
			ch = a.name(wire.ChanRoom, ns, room)
		}
	}
	return ch, a.clusterPayload(t, data, ns), nil
}

// clusterPayload encodes like ShardedRedisAdapter.encode: msgpack when a
// type that may carry binary does, JSON otherwise.
func (a *Adapter) clusterPayload(t int, data wire.Value, ns string) []byte {
	v := wire.M(wire.F("type", wire.N(float64(t))), wire.F("data", data), wire.F("uid", wire.S(a.uid)), wire.F("nsp", wire.S(ns)))
	switch t {
	case msgBroadcast, msgBroadcastAck, msgFetchSocketsResponse, msgServerSideEmit, msgServerSideEmitResponse:
		if hasBinary(data) {
			return v.Msgpack()
		}
	}
	return v.JSON()
}

// TopologyChanged reports whether err may mean the slot map is stale: a
// connection-level failure, or a reply that says the cluster is
// reconfiguring. Ordinary command errors (WRONGTYPE, NOSCRIPT, ...) and
// the caller's own cancellation do not. A redis.ClusterClient reloads its
// slot map on MOVED only; callers that share one with the adapter can
// reload it on these too (ionbus's node does, for every command).
func TopologyChanged(ctx context.Context, err error) bool {
	if err == nil || errors.Is(err, redis.Nil) || ctx.Err() != nil {
		return false
	}
	var rerr redis.Error
	if !errors.As(err, &rerr) {
		return true // EOF, refused, reset, timeout, closed pool
	}
	for _, p := range []string{"MOVED ", "CLUSTERDOWN ", "TRYAGAIN ", "MASTERDOWN ", "READONLY ", "LOADING "} {
		if strings.HasPrefix(rerr.Error(), p) {
			return true
		}
	}
	return false
}
