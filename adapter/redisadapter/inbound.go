package redisadapter

import (
	"context"
	"sync"

	"github.com/ionbus/ionbus/adapter"
	"github.com/ionbus/ionbus/internal/wire"
)

// onBroadcast handles a classic broadcast: msgpack [uid, packet, opts].
func (a *Adapter) onBroadcast(in inbound) error {
	v, err := wire.DecodeMsgpack([]byte(in.payload))
	if err != nil {
		return err
	}
	if v.Type != wire.Array || len(v.Arr) < 3 {
		return errMalformed
	}
	if v.Arr[0].Type == wire.String && v.Arr[0].Str == a.uid {
		a.stats.ignored.Add(1) // our own broadcast
		return nil
	}
	pkt, ns, err := decodePacket(v.Arr[1])
	if err != nil {
		return err
	}
	if !a.watching(ns) {
		a.stats.ignored.Add(1)
		return nil
	}
	a.handler.HandleMessage(a.ctx, adapter.Message{
		Kind: adapter.KindBroadcast, Namespace: ns, Opts: decodeOpts(v.Arr[2]),
		Packet: pkt, Origin: v.Arr[0].JSString(),
	})
	return nil
}

// onRequest handles the classic request channel.
func (a *Adapter) onRequest(in inbound) error {
	ns, ok := a.namespaceOf(in.channel, a.cfg.Key+"-request#")
	if !ok {
		a.stats.ignored.Add(1)
		return nil
	}
	v, err := decodePayload(in.payload)
	if err != nil {
		return err
	}
	if v.Type != wire.Map {
		return errMalformed
	}
	uidV, _ := v.Get("uid")
	uid := uidV.JSString()
	if uidV.Type == wire.String && uid == a.uid {
		a.stats.ignored.Add(1)
		return nil
	}
	if uidV.Type == wire.Nil {
		uid = ""
	}
	t, _ := v.Get("type")
	ridV, hasRID := v.Get("requestId")
	optsV, hasOpts := v.Get("opts")
	opts := decodeOpts(optsV)
	msg := adapter.Message{Namespace: ns, Opts: opts, Origin: uid}
	req := adapter.Request{Namespace: ns, Opts: opts, Origin: uid}
	respond := func(val wire.Value, msgpack bool) {
		a.respond(ns, uid, val, msgpack)
	}
	switch t.Int() {
	case reqSockets:
		rooms, _ := v.Get("rooms")
		req.Kind, req.Opts = adapter.RequestFetchSockets, adapter.BroadcastOptions{Rooms: rooms.StringSlice()}
		a.ask(req, func(r adapter.Reply) {
			ids := make([]string, 0, len(r.Sockets))
			for _, s := range r.Sockets {
				ids = append(ids, s.ID)
			}
			respond(wire.M(wire.F("requestId", ridV), wire.F("sockets", strs(ids))), false)
		})
	case reqAllRooms:
		req.Kind = adapter.RequestAllRooms
		a.ask(req, func(r adapter.Reply) {
			respond(wire.M(wire.F("requestId", ridV), wire.F("rooms", strs(r.Rooms))), false)
		})
	case reqRemoteJoin, reqRemoteLeave, reqRemoteDisconnect:
		msg.Kind = map[int64]adapter.Kind{reqRemoteJoin: adapter.KindSocketsJoin, reqRemoteLeave: adapter.KindSocketsLeave, reqRemoteDisconnect: adapter.KindDisconnectSockets}[t.Int()]
		if hasOpts {
			rooms, _ := v.Get("rooms")
			msg.Rooms = rooms.StringSlice()
		} else { // legacy form: one socket id and one room
			sid, _ := v.Get("sid")
			room, _ := v.Get("room")
			msg.Opts = adapter.BroadcastOptions{Rooms: []string{sid.JSString()}}
			msg.Rooms = []string{room.JSString()}
		}
		c, _ := v.Get("close")
		msg.Close = c.Truthy()
		a.handler.HandleMessage(a.ctx, msg)
	case reqRemoteFetch:
		req.Kind = adapter.RequestFetchSockets
		a.ask(req, func(r adapter.Reply) {
			socks := make([]wire.Value, 0, len(r.Sockets))
			for _, s := range r.Sockets {
				socks = append(socks, socketValue(s))
			}
			respond(wire.M(wire.F("requestId", ridV), wire.F("sockets", wire.A(socks...))), false)
		})
	case reqServerSideEmit:
		data, _ := v.Get("data")
		raw, att := data.JSONWithPlaceholders()
		pkt := adapter.Packet{Type: 2, Data: raw, Attachments: att, ID: -1}
		if !hasRID || ridV.Type == wire.Nil {
			msg.Kind, msg.Packet = adapter.KindServerSideEmit, pkt
			a.handler.HandleMessage(a.ctx, msg)
			return nil
		}
		req.Kind, req.Packet = adapter.RequestServerSideEmit, pkt
		a.ask(req, func(r adapter.Reply) {
			resp := wire.M(wire.F("type", wire.N(reqServerSideEmit)), wire.F("requestId", ridV))
			if arg, ok := firstArg(r.Data, r.Attachments); ok {
				resp.Fields = append(resp.Fields, wire.F("data", arg))
			}
			// Node answers server-side emits on the shared channel.
			a.publishReply(a.name(wire.ChanResponse, ns, ""), resp.JSON())
		})
	case reqBroadcast:
		pv, _ := v.Get("packet")
		pkt, _, err := decodePacket(pv)
		if err != nil {
			return err
		}
		req.Kind, req.Packet = adapter.RequestBroadcastAck, pkt
		a.ackAsk(req, func(n int) {
			respond(wire.M(wire.F("type", wire.N(reqBroadcastClientCount)), wire.F("requestId", ridV), wire.F("clientCount", wire.N(float64(n)))), false)
		}, func(arg wire.Value, ok bool) {
			resp := wire.M(wire.F("type", wire.N(reqBroadcastAck)), wire.F("requestId", ridV))
			if ok {
				resp.Fields = append(resp.Fields, wire.F("packet", arg))
			}
			respond(resp, true)
		})
	case reqBroadcastClientCount, reqBroadcastAck:
		a.stats.ignored.Add(1)
	default:
		return errMalformed
	}
	return nil
}

// ask calls HandleRequest and forwards only the first reply (one answer
// per node, as the Node adapters expect).
func (a *Adapter) ask(r adapter.Request, send func(adapter.Reply)) {
	var once sync.Once
	a.handler.HandleRequest(a.ctx, r, func(rep adapter.Reply) {
		once.Do(func() { send(rep) })
	})
}

// ackAsk asks the handler for a broadcast with acks: its first reply is
// the local client count (onCount), every later one an ack (onAck, with
// its first argument: the Node adapters carry only that one).
func (a *Adapter) ackAsk(r adapter.Request, onCount func(n int), onAck func(arg wire.Value, ok bool)) {
	first := true
	var mu sync.Mutex
	a.handler.HandleRequest(a.ctx, r, func(rep adapter.Reply) {
		mu.Lock()
		isCount := first
		first = false
		mu.Unlock()
		if isCount {
			onCount(rep.ClientCount)
			return
		}
		onAck(firstArg(rep.Data, rep.Attachments))
	})
}

// respond publishes a classic response: JSON, or msgpack for broadcast acks.
func (a *Adapter) respond(ns, requester string, v wire.Value, msgpack bool) {
	// Classic responses do not name the responder; ionbus adds its uid
	// (Node peers ignore unknown fields) so callers can tell which node
	// holds a socket.
	if v.Type == wire.Map {
		v.Fields = append(v.Fields, wire.F("uid", wire.S(a.uid)))
	}
	ch := a.name(wire.ChanResponse, ns, "")
	if a.cfg.PublishOnSpecificResponseChannel && requester != "" {
		ch = a.name(wire.ChanNodeResponse, ns, requester)
	}
	if msgpack {
		a.publishReply(ch, v.Msgpack())
	} else {
		a.publishReply(ch, v.JSON())
	}
}

func (a *Adapter) publishReply(ch string, payload []byte) {
	if a.closed.Load() {
		return
	}
	ctx, cancel := context.WithTimeout(a.ctx, a.cfg.RequestTimeout)
	defer cancel()
	_ = a.publish(ctx, ch, payload) // logged and counted by publish
}

// onClusterMessage handles sharded mode: {type, data, uid, nsp}.
func (a *Adapter) onClusterMessage(in inbound) error {
	v, err := decodePayload(in.payload)
	if err != nil {
		return err
	}
	if v.Type != wire.Map {
		return errMalformed
	}
	uidV, _ := v.Get("uid")
	if uidV.Str == a.uid {
		a.stats.ignored.Add(1)
		return nil
	}
	nsV, _ := v.Get("nsp")
	ns := nsV.Str
	if nsV.Type != wire.String || !a.watching(ns) {
		a.stats.ignored.Add(1)
		return nil
	}
	uid := uidV.JSString()
	t, _ := v.Get("type")
	data, _ := v.Get("data")
	if data.Type != wire.Map {
		return errMalformed
	}
	ridV, hasRID := data.Get("requestId")
	hasRID = hasRID && ridV.Type != wire.Nil
	optsV, _ := data.Get("opts")
	opts := decodeOpts(optsV)
	msg := adapter.Message{Namespace: ns, Opts: opts, Origin: uid}
	req := adapter.Request{Namespace: ns, Opts: opts, Origin: uid}
	respond := func(typ int, body wire.Value) {
		a.publishReply(a.name(wire.ChanRoom, ns, uid), a.clusterPayload(typ, body, ns))
	}
	switch t.Int() {
	case msgBroadcast:
		pv, _ := data.Get("packet")
		pkt, _, err := decodePacket(pv)
		if err != nil {
			return err
		}
		if !hasRID {
			msg.Kind, msg.Packet = adapter.KindBroadcast, pkt
			a.handler.HandleMessage(a.ctx, msg)
			return nil
		}
		req.Kind, req.Packet = adapter.RequestBroadcastAck, pkt
		a.ackAsk(req, func(n int) {
			respond(msgBroadcastClientCount, wire.M(wire.F("requestId", ridV), wire.F("clientCount", wire.N(float64(n)))))
		}, func(arg wire.Value, ok bool) {
			body := wire.M(wire.F("requestId", ridV))
			if ok {
				body.Fields = append(body.Fields, wire.F("packet", arg))
			}
			respond(msgBroadcastAck, body)
		})
	case msgSocketsJoin, msgSocketsLeave:
		msg.Kind = adapter.KindSocketsJoin
		if t.Int() == msgSocketsLeave {
			msg.Kind = adapter.KindSocketsLeave
		}
		rooms, _ := data.Get("rooms")
		msg.Rooms = rooms.StringSlice()
		a.handler.HandleMessage(a.ctx, msg)
	case msgDisconnectSockets:
		c, _ := data.Get("close")
		msg.Kind, msg.Close = adapter.KindDisconnectSockets, c.Truthy()
		a.handler.HandleMessage(a.ctx, msg)
	case msgFetchSockets:
		req.Kind = adapter.RequestFetchSockets
		a.ask(req, func(r adapter.Reply) {
			socks := make([]wire.Value, 0, len(r.Sockets))
			for _, s := range r.Sockets {
				socks = append(socks, socketValue(s))
			}
			respond(msgFetchSocketsResponse, wire.M(wire.F("requestId", ridV), wire.F("sockets", wire.A(socks...))))
		})
	case msgServerSideEmit:
		pv, _ := data.Get("packet")
		raw, att := pv.JSONWithPlaceholders()
		pkt := adapter.Packet{Type: 2, Data: raw, Attachments: att, ID: -1}
		if !hasRID {
			msg.Kind, msg.Packet = adapter.KindServerSideEmit, pkt
			a.handler.HandleMessage(a.ctx, msg)
			return nil
		}
		req.Kind, req.Packet = adapter.RequestServerSideEmit, pkt
		a.ask(req, func(r adapter.Reply) {
			body := wire.M(wire.F("requestId", ridV))
			if arg, ok := firstArg(r.Data, r.Attachments); ok {
				body.Fields = append(body.Fields, wire.F("packet", arg))
			}
			respond(msgServerSideEmitResponse, body)
		})
	case msgFetchSocketsResponse, msgServerSideEmitResponse, msgBroadcastClientCount, msgBroadcastAck:
		a.onResponse(in.payload)
	case msgInitialHeartbeat, msgHeartbeat, msgAdapterClose:
		a.stats.ignored.Add(1)
	default:
		return errMalformed
	}
	return nil
}
