package redisadapter

import (
	"context"
	"fmt"
	"time"

	"github.com/ionbus/ionbus/adapter"
	"github.com/ionbus/ionbus/adapter/internal/wire"
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
	return a.publishNS(ctx, ns, channel, payload)
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
