package redisadapter

import (
	"context"
	"fmt"
	"maps"
	"sync"
	"time"

	"github.com/ionbus/ionbus/adapter"
	"github.com/ionbus/ionbus/internal/wire"
)

// pending is a Request of this node waiting for answers. Node servers do
// not say who answered, so completion counts answers against the number
// of subscribed servers, re-read while waiting so that a server leaving
// does not hold the request until its timeout.
type pending struct {
	kind     adapter.RequestKind
	viaFetch bool // AllRooms in sharded mode, answered from fetched sockets
	wake     chan struct{}

	mu           sync.Mutex
	replies      []adapter.Reply
	expected     int             // servers that must answer
	answered     int             // answers (client counts for RequestBroadcastAck)
	answeredBy   map[string]bool // ionbus nodes that answered (Node peers do not say)
	unresponsive int             // subscribed nodes whose liveness lapsed, not waited for
	acksExpected int
	acksGot      int
}

func (p *pending) push(r adapter.Reply, answer, ack bool, count int) {
	p.mu.Lock()
	p.replies = append(p.replies, r)
	if answer {
		p.answered++
		p.acksExpected += count
		if r.From != "" {
			if p.answeredBy == nil {
				p.answeredBy = map[string]bool{}
			}
			p.answeredBy[r.From] = true
		}
	}
	if ack {
		p.acksGot++
	}
	p.mu.Unlock()
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

func (p *pending) take() ([]adapter.Reply, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := p.replies
	p.replies = nil
	done := p.answered >= p.expected && p.acksGot >= p.acksExpected
	return out, done
}

// Request sends r to the other servers of its namespace; see
// adapter.Adapter. It waits at most Config.RequestTimeout.
func (a *Adapter) Request(ctx context.Context, r adapter.Request, onReply func(adapter.Reply)) error {
	if a.closed.Load() {
		return adapter.ErrClosed
	}
	if r.Opts.Local {
		return nil
	}
	if observe := a.cfg.ObserveRequest; observe != nil {
		start := time.Now()
		defer func() { observe(time.Since(start)) }()
	}
	ns := r.Namespace
	if ns == "" {
		ns = "/"
	}
	ctx, cancel := context.WithTimeout(ctx, a.cfg.RequestTimeout)
	defer cancel()
	n, err := a.serverCount(ctx, ns)
	if err != nil {
		return err
	}
	if n-1 <= 0 {
		return nil
	}
	id := randomID()
	p := &pending{kind: r.Kind, expected: n - 1, wake: make(chan struct{}, 1)}
	channel, payload, err := a.encodeRequest(r, ns, id, p)
	if err != nil {
		return err
	}
	a.reqMu.Lock()
	a.requests[id] = p
	a.reqMu.Unlock()
	defer func() {
		a.reqMu.Lock()
		delete(a.requests, id)
		a.reqMu.Unlock()
	}()
	if err := a.publishNS(ctx, ns, channel, payload); err != nil {
		return err
	}
	recount := time.NewTicker(250 * time.Millisecond)
	defer recount.Stop()
	for {
		replies, done := p.take()
		if onReply != nil {
			for _, rep := range replies {
				onReply(rep)
			}
		}
		if done {
			p.mu.Lock()
			hung := p.unresponsive
			p.mu.Unlock()
			if hung > 0 {
				return fmt.Errorf("%w: %d node(s) subscribed but not answering (liveness lapsed)", adapter.ErrTimeout, hung)
			}
			return nil
		}
		select {
		case <-p.wake:
		case <-recount.C:
			a.recount(ctx, ns, p)
		case <-ctx.Done():
			return adapter.ErrTimeout
		case <-a.ctx.Done():
			return adapter.ErrClosed
		}
	}
}

// recount lowers what p waits for to the servers still subscribed, less
// the ionbus nodes among them whose liveness lapsed: a server that left or
// hangs never holds a request until its timeout.
func (a *Adapter) recount(ctx context.Context, ns string, p *pending) {
	n, err := a.serverCount(ctx, ns)
	if err != nil {
		return
	}
	p.mu.Lock()
	answered := maps.Clone(p.answeredBy)
	p.mu.Unlock()
	hung, err := a.unresponsive(ctx, ns, answered)
	if err != nil {
		hung = 0
	}
	p.mu.Lock()
	p.expected = min(p.expected, n-1-hung)
	p.unresponsive = hung
	p.mu.Unlock()
}

func (a *Adapter) encodeRequest(r adapter.Request, ns, id string, p *pending) (string, []byte, error) {
	if a.cfg.Mode == ModeSharded {
		return a.encodeClusterRequest(r, ns, id, p)
	}
	uid, rid := wire.F("uid", wire.S(a.uid)), wire.F("requestId", wire.S(id))
	ch := a.name(wire.ChanRequest, ns, "")
	switch r.Kind {
	case adapter.RequestFetchSockets:
		v := wire.M(uid, rid, wire.F("type", wire.N(reqRemoteFetch)), wire.F("opts", optsValue(r.Opts, false)))
		return ch, v.JSON(), nil
	case adapter.RequestAllRooms:
		return ch, wire.M(uid, rid, wire.F("type", wire.N(reqAllRooms))).JSON(), nil
	case adapter.RequestServerSideEmit:
		data, err := dataValue(r.Packet.Data, r.Packet.Attachments)
		if err != nil {
			return "", nil, err
		}
		return ch, wire.M(uid, rid, wire.F("type", wire.N(reqServerSideEmit)), wire.F("data", data)).JSON(), nil
	case adapter.RequestBroadcastAck:
		pkt, err := packetValue(r.Packet, ns)
		if err != nil {
			return "", nil, err
		}
		v := wire.M(uid, rid, wire.F("type", wire.N(reqBroadcast)), wire.F("packet", pkt), wire.F("opts", optsValue(r.Opts, true)))
		return ch, v.Msgpack(), nil
	}
	return "", nil, fmt.Errorf("redisadapter: unknown request kind %d", r.Kind)
}

func (a *Adapter) encodeClusterRequest(r adapter.Request, ns, id string, p *pending) (string, []byte, error) {
	ch := a.name(wire.ChanBroadcast, ns, "")
	rid := wire.F("requestId", wire.S(id))
	switch r.Kind {
	case adapter.RequestFetchSockets, adapter.RequestAllRooms:
		// The ClusterAdapter has no all-rooms request: rooms are the union
		// of the rooms of every remote socket.
		p.viaFetch = r.Kind == adapter.RequestAllRooms
		return ch, a.clusterPayload(msgFetchSockets, wire.M(wire.F("opts", optsValue(r.Opts, true)), rid), ns), nil
	case adapter.RequestServerSideEmit:
		data, err := dataValue(r.Packet.Data, r.Packet.Attachments)
		if err != nil {
			return "", nil, err
		}
		return ch, a.clusterPayload(msgServerSideEmit, wire.M(rid, wire.F("packet", data)), ns), nil
	case adapter.RequestBroadcastAck:
		pkt, err := packetValue(r.Packet, "")
		if err != nil {
			return "", nil, err
		}
		return ch, a.clusterPayload(msgBroadcast, wire.M(wire.F("packet", pkt), rid, wire.F("opts", optsValue(r.Opts, true))), ns), nil
	}
	return "", nil, fmt.Errorf("redisadapter: unknown request kind %d", r.Kind)
}

// onResponse routes a response to its pending request. Unknown request
// ids (answers to other nodes on the shared channel) are ignored.
func (a *Adapter) onResponse(payload string) {
	v, err := decodePayload(payload)
	if err != nil || v.Type != wire.Map {
		a.stats.malformed.Add(1)
		return
	}
	body := v
	t, _ := v.Get("type")
	typ := int(t.Int())
	// Classic responses from ionbus nodes carry "uid"; Node peers' do not.
	from := ""
	if u, ok := v.Get("uid"); ok && u.Type == wire.String {
		from = u.Str
	}
	if a.cfg.Mode == ModeSharded {
		u, _ := v.Get("uid")
		if u.Str == a.uid {
			a.stats.ignored.Add(1)
			return
		}
		from = u.Str
		body, _ = v.Get("data")
	}
	rid, _ := body.Get("requestId")
	a.reqMu.Lock()
	p := a.requests[rid.JSString()]
	a.reqMu.Unlock()
	if p == nil || rid.Type == wire.Nil {
		a.stats.ignored.Add(1)
		return
	}

	switch p.kind {
	case adapter.RequestFetchSockets, adapter.RequestAllRooms:
		if s, ok := body.Get("sockets"); ok && s.Type == wire.Array {
			rep := adapter.Reply{Sockets: make([]adapter.SocketInfo, 0, len(s.Arr))}
			for _, e := range s.Arr {
				rep.Sockets = append(rep.Sockets, decodeSocket(e))
			}
			if p.viaFetch {
				seen := map[string]bool{}
				for _, s := range rep.Sockets {
					for _, r := range s.Rooms {
						if !seen[r] {
							seen[r] = true
							rep.Rooms = append(rep.Rooms, r)
						}
					}
				}
				rep.Sockets = nil
			}
			rep.From = from
			p.push(rep, true, false, 0)
			return
		}
		if r, ok := body.Get("rooms"); ok && r.Type == wire.Array {
			p.push(adapter.Reply{From: from, Rooms: r.StringSlice()}, true, false, 0)
			return
		}
		// Node counts an answer without sockets/rooms too.
		p.push(adapter.Reply{From: from}, true, false, 0)
	case adapter.RequestServerSideEmit:
		key := "data"
		if a.cfg.Mode == ModeSharded {
			key = "packet"
		}
		arg, ok := body.Get(key)
		data, att := argReply(arg, ok)
		p.push(adapter.Reply{From: from, Data: data, Attachments: att}, true, false, 0)
	case adapter.RequestBroadcastAck:
		switch typ {
		case reqBroadcastClientCount, msgBroadcastClientCount:
			if a.cfg.Mode == ModeSharded && typ != msgBroadcastClientCount || a.cfg.Mode != ModeSharded && typ != reqBroadcastClientCount {
				break
			}
			c, _ := body.Get("clientCount")
			n := int(c.Int())
			if n < 0 {
				n = 0
			}
			p.push(adapter.Reply{From: from, ClientCount: n}, true, false, n)
			return
		}
		if a.cfg.Mode == ModeSharded && typ == msgBroadcastAck || a.cfg.Mode != ModeSharded && typ == reqBroadcastAck {
			arg, ok := body.Get("packet")
			data, att := argReply(arg, ok)
			p.push(adapter.Reply{From: from, Data: data, Attachments: att}, false, true, 0)
			return
		}
		a.stats.malformed.Add(1)
	}
}
