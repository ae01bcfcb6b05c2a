package broker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/ionbus/ionbus/adapter"
	"github.com/ionbus/ionbus/broker/protocol"
	"github.com/ionbus/ionbus/connection"
)

// Broadcast selects sockets of a namespace on every node: those in any of
// the To rooms (all when none), minus those in any Except room. Each
// method returns a new Broadcast, so a value can be kept and reused.
type Broadcast struct {
	nsp      *Namespace
	rooms    []string
	except   []string
	volatile bool
	local    bool
}

func newBroadcast(n *Namespace) *Broadcast { return &Broadcast{nsp: n} }

func (b *Broadcast) clone() *Broadcast {
	c := *b
	c.rooms = append([]string(nil), b.rooms...)
	c.except = append([]string(nil), b.except...)
	return &c
}

// To adds rooms to the target set.
func (b *Broadcast) To(rooms ...string) *Broadcast {
	c := b.clone()
	c.rooms = append(c.rooms, rooms...)
	return c
}

// In is To.
func (b *Broadcast) In(rooms ...string) *Broadcast { return b.To(rooms...) }

// Except excludes the sockets in rooms.
func (b *Broadcast) Except(rooms ...string) *Broadcast {
	c := b.clone()
	c.except = append(c.except, rooms...)
	return c
}

// Volatile lets congested sockets drop the packet instead of queueing it.
func (b *Broadcast) Volatile() *Broadcast {
	c := b.clone()
	c.volatile = true
	return c
}

// Local keeps the operation on this node.
func (b *Broadcast) Local() *Broadcast {
	c := b.clone()
	c.local = true
	return c
}

func (b *Broadcast) opts() adapter.BroadcastOptions {
	return adapter.BroadcastOptions{Rooms: b.rooms, Except: b.except, Volatile: b.volatile, Local: b.local}
}

// namespaces is the namespace itself, or every child of a pattern parent.
func (b *Broadcast) namespaces() []*Namespace {
	if b.nsp.pattern != nil {
		return b.nsp.childList()
	}
	return []*Namespace{b.nsp}
}

// Emit sends an event to the selected sockets: encoded once, delivered to
// local sockets without blocking, then published once to the other nodes.
func (b *Broadcast) Emit(event string, args ...any) error {
	if reservedEvents[event] {
		return ErrReservedEvent
	}
	var firstErr error
	for _, n := range b.namespaces() {
		p, err := eventPacket(n.name, event, args)
		if err != nil {
			return err
		}
		if err := n.broadcast(context.Background(), p, b.opts()); err != nil && firstErr == nil {
			firstErr = err
		}
	}
	return firstErr
}

// broadcast applies a packet locally and publishes it to the cluster.
func (n *Namespace) broadcast(ctx context.Context, p *protocol.Packet, opts adapter.BroadcastOptions) error {
	// The packet is published as the application built it: the recovery
	// offset is local to each node and is added by deliver.
	pub := adapter.Message{
		Kind:      adapter.KindBroadcast,
		Namespace: n.name,
		Opts:      opts,
		Packet:    adapter.Packet{Type: uint8(p.Type), Data: p.Data, Attachments: p.Attachments, ID: p.ID},
	}
	n.deliver(p, deliveryOpts{rooms: opts.Rooms, except: opts.Except, volatile: opts.Volatile})
	if opts.Local {
		return nil
	}
	if err := n.srv.adapter.Publish(ctx, pub); err != nil {
		if _, partial := errors.AsType[*adapter.PartialError](err); partial {
			// Published; some nodes were not subscribed (counted by the
			// adapter). The caller learns it from the error.
			return fmt.Errorf("%w: %w", ErrPublish, err)
		}
		n.srv.stats.publishErrors.Add(1)
		n.srv.log.Warn().Err(err).Str("nsp", n.name).Msg("adapter publish failed; delivered locally only")
		return fmt.Errorf("%w: %w", ErrPublish, err)
	}
	return nil
}

type deliveryOpts struct {
	rooms, except []string
	volatile      bool
}

// deliver sends p to the matching local sockets. The Engine.IO messages
// (and their wire frames) are built once and shared by every recipient.
// With recovery enabled, an EVENT without ack that is not volatile gets
// an offset appended and is logged for sockets that come back.
func (n *Namespace) deliver(p *protocol.Packet, o deliveryOpts) int {
	if n.srv.recovery != nil && p.Type == protocol.PacketEvent && p.ID == protocol.NoID && !o.volatile {
		p = n.srv.recovery.log(n.name, p, o)
	}
	observe := n.srv.cfg.ObserveBroadcast
	var start time.Time
	if observe != nil {
		start = time.Now()
	}
	targets := n.match(o.rooms, o.except)
	if len(targets) == 0 {
		return 0
	}
	msgs := n.srv.packetMessages(p, o.volatile)
	for _, s := range targets {
		if err := s.client.conn.Send(msgs...); err != nil {
			n.srv.countSendError(err)
		}
	}
	n.srv.stats.deliveries.Add(int64(len(targets)))
	if observe != nil {
		observe(time.Since(start))
	}
	return len(targets)
}

func (s *Server) countSendError(err error) {
	switch err {
	case connection.ErrDropped:
		s.stats.volatileDrops.Add(1)
	case connection.ErrQueueFull:
		s.stats.slowConsumers.Add(1)
	}
}

// AckResponse is one client's answer to a broadcast with ack.
type AckResponse struct {
	Args []any
	Err  error
}

// EmitWithAck sends an event to the selected sockets on every node and
// collects each client's acknowledgement until all answered or ctx ends.
// It returns the responses received; err is ErrAckTimeout when some
// clients did not answer in time.
func (b *Broadcast) EmitWithAck(ctx context.Context, event string, args ...any) ([][]any, error) {
	n := b.nsp
	if reservedEvents[event] {
		return nil, ErrReservedEvent
	}
	if n.pattern != nil {
		return nil, errPatternNamespace
	}
	p, err := eventPacket(n.name, event, args)
	if err != nil {
		return nil, err
	}
	p.ID = n.srv.ackIDs.Add(1)
	collector := newAckCollector()
	collector.expect(n.deliverWithAck(p, b.opts(), collector.add))
	defer collector.seal()

	if !b.local {
		rctx, cancel := n.srv.requestContext(ctx)
		defer cancel()
		req := adapter.Request{
			Kind: adapter.RequestBroadcastAck, Namespace: n.name, Opts: b.opts(),
			Packet: adapter.Packet{Type: uint8(p.Type), Data: p.Data, Attachments: p.Attachments, ID: p.ID},
		}
		err := n.srv.adapter.Request(rctx, req, func(r adapter.Reply) {
			if r.Data == nil && r.Attachments == nil {
				collector.expect(r.ClientCount)
				return
			}
			collector.add(r.Data, r.Attachments)
		})
		if err != nil && !errors.Is(err, adapter.ErrTimeout) {
			return collector.results(), err
		}
	}
	collector.seal()
	return collector.wait(ctx)
}

// deliverWithAck sends p (whose ID is set) to the matching local sockets,
// registering onAck for each one's answer. It returns the number of
// sockets reached.
func (n *Namespace) deliverWithAck(p *protocol.Packet, opts adapter.BroadcastOptions, onAck func(json.RawMessage, [][]byte)) int {
	targets := n.match(opts.Rooms, opts.Except)
	msgs := n.srv.packetMessages(p, opts.Volatile)
	count := 0
	for _, s := range targets {
		ch := s.expectAck(p.ID)
		if ch == nil {
			continue
		}
		if err := s.client.conn.Send(msgs...); err != nil {
			s.dropAck(p.ID)
			n.srv.countSendError(err)
			continue
		}
		count++
		go func() {
			res := <-ch
			if res.err == nil {
				onAck(res.data, res.attachments)
			} else {
				onAck(nil, nil) // socket left: count it as answered with nothing
			}
		}()
	}
	return count
}

// ackCollector gathers broadcast acknowledgements from this node and
// others.
type ackCollector struct {
	mu       sync.Mutex
	expected int
	got      [][]any
	answered int
	sealed   bool // every count is known
	done     chan struct{}
	closed   bool
}

func newAckCollector() *ackCollector { return &ackCollector{done: make(chan struct{})} }

func (c *ackCollector) add(data json.RawMessage, atts [][]byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.answered++
	if data != nil {
		if args, err := protocol.DecodeArgs(data, atts); err == nil {
			c.got = append(c.got, args)
		}
	}
	c.check()
}

func (c *ackCollector) expect(n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.expected += n
	c.check()
}

// seal says no more expect calls will come.
func (c *ackCollector) seal() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sealed = true
	c.check()
}

func (c *ackCollector) check() {
	if c.sealed && !c.closed && c.answered >= c.expected {
		c.closed = true
		close(c.done)
	}
}

func (c *ackCollector) results() [][]any {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([][]any(nil), c.got...)
}

func (c *ackCollector) wait(ctx context.Context) ([][]any, error) {
	select {
	case <-c.done:
		return c.results(), nil
	case <-ctx.Done():
		return c.results(), ErrAckTimeout
	}
}

// SocketsJoin makes the selected sockets, on every node, join rooms.
func (b *Broadcast) SocketsJoin(ctx context.Context, rooms ...string) error {
	for _, n := range b.namespaces() {
		for _, s := range n.match(b.rooms, b.except) {
			s.Join(rooms...)
		}
		if !b.local {
			if err := b.publish(ctx, n, adapter.Message{Kind: adapter.KindSocketsJoin, Rooms: rooms}); err != nil {
				return err
			}
		}
	}
	return nil
}

// SocketsLeave makes the selected sockets, on every node, leave rooms.
func (b *Broadcast) SocketsLeave(ctx context.Context, rooms ...string) error {
	for _, n := range b.namespaces() {
		for _, s := range n.match(b.rooms, b.except) {
			s.Leave(rooms...)
		}
		if !b.local {
			if err := b.publish(ctx, n, adapter.Message{Kind: adapter.KindSocketsLeave, Rooms: rooms}); err != nil {
				return err
			}
		}
	}
	return nil
}

// DisconnectSockets disconnects the selected sockets on every node; with
// close their transports are closed too.
func (b *Broadcast) DisconnectSockets(ctx context.Context, close bool) error {
	for _, n := range b.namespaces() {
		for _, s := range n.match(b.rooms, b.except) {
			s.Disconnect(close)
		}
		if !b.local {
			if err := b.publish(ctx, n, adapter.Message{Kind: adapter.KindDisconnectSockets, Close: close}); err != nil {
				return err
			}
		}
	}
	return nil
}

func (b *Broadcast) publish(ctx context.Context, n *Namespace, m adapter.Message) error {
	m.Namespace = n.name
	m.Opts = b.opts()
	if err := n.srv.adapter.Publish(ctx, m); err != nil {
		n.srv.stats.publishErrors.Add(1)
		return fmt.Errorf("%w: %w", ErrPublish, err)
	}
	return nil
}

// RemoteSocket describes a socket on any node, as FetchSockets returns it.
type RemoteSocket struct {
	ID        string
	Node      string // the node holding the socket; "" when the answering peer does not say (Node.js nodes)
	Handshake adapter.Handshake
	Rooms     []string
	Data      json.RawMessage
}

// FetchSockets returns the selected sockets of every node. Nodes that do
// not answer within the request timeout are missing from the result, and
// the error says so.
func (b *Broadcast) FetchSockets(ctx context.Context) ([]RemoteSocket, error) {
	var out []RemoteSocket
	for _, n := range b.namespaces() {
		for _, s := range n.match(b.rooms, b.except) {
			info := s.info()
			out = append(out, RemoteSocket{ID: info.ID, Node: n.srv.cfg.NodeID, Handshake: info.Handshake, Rooms: info.Rooms, Data: info.Data})
		}
		if b.local {
			continue
		}
		rctx, cancel := n.srv.requestContext(ctx)
		var mu sync.Mutex
		err := n.srv.adapter.Request(rctx, adapter.Request{Kind: adapter.RequestFetchSockets, Namespace: n.name, Opts: b.opts()}, func(r adapter.Reply) {
			mu.Lock()
			defer mu.Unlock()
			for _, si := range r.Sockets {
				out = append(out, RemoteSocket{ID: si.ID, Node: r.From, Handshake: si.Handshake, Rooms: si.Rooms, Data: si.Data})
			}
		})
		cancel()
		if err != nil {
			return out, err
		}
	}
	return out, nil
}

// AllRooms returns the rooms of the namespace across every node.
func (n *Namespace) AllRooms(ctx context.Context) ([]string, error) {
	set := make(map[string]struct{})
	for _, r := range n.Rooms() {
		set[r] = struct{}{}
	}
	rctx, cancel := n.srv.requestContext(ctx)
	defer cancel()
	var mu sync.Mutex
	err := n.srv.adapter.Request(rctx, adapter.Request{Kind: adapter.RequestAllRooms, Namespace: n.name}, func(r adapter.Reply) {
		mu.Lock()
		defer mu.Unlock()
		for _, room := range r.Rooms {
			set[room] = struct{}{}
		}
	})
	out := make([]string, 0, len(set))
	for r := range set {
		out = append(out, r)
	}
	return out, err
}

func (s *Socket) info() adapter.SocketInfo {
	hs := s.handshake
	hdr, q := hs.Headers(), hs.Query()
	headers := make(map[string]string, len(hdr))
	for k, v := range hdr {
		if len(v) > 0 {
			headers[lowerASCII(k)] = v[0]
		}
	}
	query := make(map[string]string, len(q))
	for k, v := range q {
		if len(v) > 0 {
			query[k] = v[0]
		}
	}
	data, err := json.Marshal(s.Data())
	if err != nil {
		data = json.RawMessage("null")
	}
	auth := hs.RawAuth
	if auth == nil {
		auth = json.RawMessage("{}")
	}
	return adapter.SocketInfo{
		ID: s.id,
		Handshake: adapter.Handshake{
			Headers: headers, Time: hs.Time.UTC().Format("Mon Jan 02 2006 15:04:05 GMT-0700 (Coordinated Universal Time)"),
			Address: hs.Address, XDomain: hs.XDomain, Secure: hs.Secure, Issued: hs.Time.UnixMilli(),
			URL: hs.URL, Query: query, Auth: auth,
		},
		Rooms: s.Rooms(),
		Data:  data,
	}
}

func lowerASCII(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

func (s *Server) requestContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, s.cfg.RequestTimeout)
}
