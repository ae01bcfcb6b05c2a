package broker

import (
	"context"
	"encoding/json"
	"errors"
	"sync"

	"github.com/ionbus/ionbus/adapter"
	"github.com/ionbus/ionbus/broker/protocol"
)

// ServerEventHandler handles an event sent by another node with
// ServerSideEmit. ack is nil when the sender does not wait for an answer.
type ServerEventHandler func(args []any, ack func(args ...any))

// OnServerEvent registers the handler for server-side events named event.
func (n *Namespace) OnServerEvent(event string, h ServerEventHandler) {
	n.hmu.Lock()
	if n.serverEvents == nil {
		n.serverEvents = make(map[string]ServerEventHandler)
	}
	n.serverEvents[event] = h
	n.hmu.Unlock()
}

// ServerSideEmit sends an event to the other nodes of the cluster (not to
// this one), without waiting for answers.
func (n *Namespace) ServerSideEmit(ctx context.Context, event string, args ...any) error {
	p, err := eventPacket(n.name, event, args)
	if err != nil {
		return err
	}
	return n.srv.adapter.Publish(ctx, adapter.Message{
		Kind: adapter.KindServerSideEmit, Namespace: n.name,
		Packet: adapter.Packet{Type: uint8(protocol.PacketEvent), Data: p.Data, Attachments: p.Attachments, ID: protocol.NoID},
	})
}

// ServerSideEmitWithAck sends an event to the other nodes and returns
// each node's answer. It returns once every live node answered or ctx
// (or the request timeout) ends, with ErrAckTimeout in that case.
func (n *Namespace) ServerSideEmitWithAck(ctx context.Context, event string, args ...any) ([][]any, error) {
	p, err := eventPacket(n.name, event, args)
	if err != nil {
		return nil, err
	}
	rctx, cancel := n.srv.requestContext(ctx)
	defer cancel()
	var (
		mu  sync.Mutex
		out [][]any
	)
	err = n.srv.adapter.Request(rctx, adapter.Request{
		Kind: adapter.RequestServerSideEmit, Namespace: n.name,
		Packet: adapter.Packet{Type: uint8(protocol.PacketEvent), Data: p.Data, Attachments: p.Attachments, ID: protocol.NoID},
	}, func(r adapter.Reply) {
		args, derr := protocol.DecodeArgs(r.Data, r.Attachments)
		if derr != nil {
			return
		}
		mu.Lock()
		out = append(out, args)
		mu.Unlock()
	})
	if errors.Is(err, adapter.ErrTimeout) {
		err = ErrAckTimeout
	}
	return out, err
}

func (n *Namespace) serverEvent(name string) ServerEventHandler {
	n.hmu.RLock()
	defer n.hmu.RUnlock()
	return n.serverEvents[name]
}

// clusterHandler adapts Server to adapter.Handler: what other nodes send
// is applied to the local sockets only.
type clusterHandler Server

func (h *clusterHandler) namespace(name string) *Namespace {
	s := (*Server)(h)
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.nsps[name]
}

func (h *clusterHandler) HandleMessage(ctx context.Context, m adapter.Message) {
	s := (*Server)(h)
	n := h.namespace(m.Namespace)
	if n == nil {
		return // no local namespace, hence no local socket
	}
	local := &Broadcast{nsp: n, rooms: m.Opts.Rooms, except: m.Opts.Except, volatile: m.Opts.Volatile, local: true}
	switch m.Kind {
	case adapter.KindBroadcast:
		p := &protocol.Packet{Type: protocol.PacketType(m.Packet.Type), Namespace: n.name, ID: protocol.NoID, Data: m.Packet.Data, Attachments: m.Packet.Attachments}
		if p.Type == protocol.PacketBinaryEvent {
			p.Type = protocol.PacketEvent // Encode picks the binary type from the attachments
		}
		n.deliver(p, deliveryOpts{rooms: m.Opts.Rooms, except: m.Opts.Except, volatile: m.Opts.Volatile})
	case adapter.KindSocketsJoin:
		_ = local.SocketsJoin(ctx, m.Rooms...)
	case adapter.KindSocketsLeave:
		_ = local.SocketsLeave(ctx, m.Rooms...)
	case adapter.KindDisconnectSockets:
		_ = local.DisconnectSockets(ctx, m.Close)
	case adapter.KindServerSideEmit:
		h.serverSideEmit(n, m.Packet, nil)
	default:
		s.log.Warn().Uint8("kind", uint8(m.Kind)).Msg("adapter: unknown message kind")
	}
}

func (h *clusterHandler) serverSideEmit(n *Namespace, p adapter.Packet, reply func(adapter.Reply)) {
	s := (*Server)(h)
	args, err := protocol.DecodeArgs(p.Data, p.Attachments)
	if err != nil || len(args) == 0 {
		s.stats.parseErrors.Add(1)
		return
	}
	name, _ := args[0].(string)
	handler := n.serverEvent(name)
	if handler == nil {
		if reply != nil {
			reply(adapter.Reply{From: s.cfg.NodeID, Data: json.RawMessage("[]")})
		}
		return
	}
	var ack func(args ...any)
	if reply != nil {
		var once sync.Once
		ack = func(a ...any) {
			once.Do(func() {
				data, atts, err := protocol.EncodeArgs(a)
				if err != nil {
					data, atts = json.RawMessage("[]"), nil
				}
				reply(adapter.Reply{From: s.cfg.NodeID, Data: data, Attachments: atts})
			})
		}
	}
	defer func() {
		if r := recover(); r != nil {
			s.log.Error().Interface("panic", r).Str("event", name).Msg("server event handler panicked")
		}
	}()
	handler(args[1:], ack)
}

func (h *clusterHandler) HandleRequest(ctx context.Context, r adapter.Request, reply func(adapter.Reply)) {
	s := (*Server)(h)
	n := h.namespace(r.Namespace)
	switch r.Kind {
	case adapter.RequestFetchSockets:
		out := adapter.Reply{From: s.cfg.NodeID, Sockets: []adapter.SocketInfo{}}
		if n != nil {
			for _, sock := range n.match(r.Opts.Rooms, r.Opts.Except) {
				out.Sockets = append(out.Sockets, sock.info())
			}
		}
		reply(out)
	case adapter.RequestAllRooms:
		out := adapter.Reply{From: s.cfg.NodeID, Rooms: []string{}}
		if n != nil {
			out.Rooms = n.Rooms()
		}
		reply(out)
	case adapter.RequestServerSideEmit:
		if n == nil {
			reply(adapter.Reply{From: s.cfg.NodeID, Data: json.RawMessage("[]")})
			return
		}
		h.serverSideEmit(n, r.Packet, reply)
	case adapter.RequestBroadcastAck:
		if n == nil {
			reply(adapter.Reply{From: s.cfg.NodeID, ClientCount: 0})
			return
		}
		p := &protocol.Packet{Type: protocol.PacketEvent, Namespace: n.name, ID: s.ackIDs.Add(1), Data: r.Packet.Data, Attachments: r.Packet.Attachments}
		// The count must reach the requester before any ack: acks are
		// held until it is sent.
		var mu sync.Mutex
		var held []adapter.Reply
		counted := false
		count := n.deliverWithAck(p, r.Opts, func(data json.RawMessage, atts [][]byte) {
			if data == nil {
				data = json.RawMessage("[]")
			}
			ans := adapter.Reply{From: s.cfg.NodeID, Data: data, Attachments: atts}
			mu.Lock()
			if !counted {
				held = append(held, ans)
				mu.Unlock()
				return
			}
			mu.Unlock()
			reply(ans)
		})
		reply(adapter.Reply{From: s.cfg.NodeID, ClientCount: count})
		mu.Lock()
		counted = true
		pending := held
		held = nil
		mu.Unlock()
		for _, a := range pending {
			reply(a)
		}
	}
}
