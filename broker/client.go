package broker

import (
	"encoding/json"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/ionbus/ionbus/broker/protocol"
	"github.com/ionbus/ionbus/connection"
)

// client is one Engine.IO session and the sockets it holds, one per
// namespace it joined. Its methods run on the session's serialized
// callbacks except where noted.
type client struct {
	srv     *Server
	conn    connection.Conn
	hs      *connection.Handshake
	decoder protocol.Decoder

	mu      sync.Mutex
	sockets []*Socket   // one per joined namespace: few, so a slice (a map costs ~200 B per client)
	timer   *time.Timer // connect timeout; nil once a namespace joined
	closed  bool
	pending []string // namespaces whose CONNECT runs a blocking middleware chain
}

// engineHandler adapts Server to connection.Handler.
type engineHandler Server

func (h *engineHandler) OnOpen(c connection.Conn, hs *connection.Handshake) error {
	s := (*Server)(h)
	if s.closed.Load() {
		return connection.ErrForbidden
	}
	cl := &client{
		srv:     s,
		conn:    c,
		hs:      hs,
		decoder: protocol.Decoder{MaxAttachments: s.cfg.MaxAttachments, MaxDepth: s.cfg.MaxJSONDepth},
	}
	cl.timer = time.AfterFunc(s.cfg.ConnectTimeout, cl.connectTimeout)
	c.SetValue(cl)
	s.stats.clients.Add(1)
	return nil
}

func (h *engineHandler) OnMessage(c connection.Conn, m connection.Message) {
	s := (*Server)(h)
	cl, ok := c.Value().(*client)
	if !ok {
		return
	}
	var (
		p   *protocol.Packet
		err error
	)
	switch {
	case s.cfg.Parser == ParserMsgpack && m.Binary:
		p, err = cl.decoder.AddMsgpack(m.Data)
	case s.cfg.Parser == ParserMsgpack:
		err = errTextWithMsgpack
	case m.Binary:
		p, err = cl.decoder.AddBinary(m.Data)
	default:
		p, err = cl.decoder.AddText(m.Data)
	}
	if err != nil {
		s.stats.parseErrors.Add(1)
		s.log.Debug().Err(err).Str("sid", c.ID()).Msg("invalid socket.io packet")
		cl.closeParseError()
		return
	}
	if p != nil {
		cl.handle(p)
	}
}

func (h *engineHandler) OnClose(c connection.Conn, r connection.CloseReason) {
	s := (*Server)(h)
	cl, ok := c.Value().(*client)
	if !ok {
		return
	}
	c.SetValue(nil)
	s.stats.clients.Add(-1)
	cl.onClose(closeReason(r))
}

func (cl *client) connectTimeout() {
	cl.mu.Lock()
	idle := len(cl.sockets) == 0 && !cl.closed
	cl.mu.Unlock()
	if idle {
		cl.conn.Close(connection.CloseServerClose)
	}
}

// closeParseError ends the whole session: the reference server closes the
// client on any decoding error ("parse error").
func (cl *client) closeParseError() {
	cl.conn.Close(connection.CloseParseError)
}

func (cl *client) handle(p *protocol.Packet) {
	switch p.Type {
	case protocol.PacketConnect:
		cl.connect(p)
		return
	}
	cl.mu.Lock()
	sock := cl.socketLocked(p.Namespace)
	cl.mu.Unlock()
	if sock == nil {
		// Like the reference (client.ts ondecoded "invalid state"): a
		// packet for a namespace the client has not joined closes it.
		cl.srv.stats.parseErrors.Add(1)
		cl.conn.Close(connection.CloseServerClose)
		return
	}
	switch p.Type {
	case protocol.PacketEvent, protocol.PacketBinaryEvent:
		sock.onEvent(p)
	case protocol.PacketAck, protocol.PacketBinaryAck:
		sock.onAck(p)
	case protocol.PacketDisconnect:
		sock.onClose(ReasonClientNamespaceDisconnect)
	default: // CONNECT_ERROR from a client is invalid
		cl.closeParseError()
	}
}

func (cl *client) connect(p *protocol.Packet) {
	ns, err := cl.srv.resolve(p.Namespace, true)
	if err != nil {
		cl.sendConnectError(p.Namespace, cl.srv.namespaceLimitError(p.Namespace))
		return
	}
	if ns == nil {
		cl.sendConnectError(p.Namespace, &ConnectError{Message: MessageInvalidNamespace})
		return
	}
	cl.mu.Lock()
	dup := cl.socketLocked(ns.name) != nil || slices.Contains(cl.pending, ns.name)
	cl.mu.Unlock()
	if dup {
		// A second CONNECT for a joined namespace: "invalid state" in the
		// reference server, which closes the client.
		ns.connectDone()
		cl.conn.Close(connection.CloseServerClose)
		return
	}
	var auth map[string]any
	if len(p.Data) > 0 {
		if err := json.Unmarshal(p.Data, &auth); err != nil {
			ns.connectDone()
			cl.closeParseError()
			return
		}
	}
	if auth == nil {
		auth = map[string]any{}
	}
	ns.add(cl, auth, p.Data)
}

// setPending marks the namespace's CONNECT as in progress off the
// session's callback; false when the client closed.
func (cl *client) setPending(nsp string) bool {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	if cl.closed {
		return false
	}
	cl.pending = append(cl.pending, nsp)
	return true
}

func (cl *client) clearPending(nsp string) {
	cl.mu.Lock()
	if i := slices.Index(cl.pending, nsp); i >= 0 {
		cl.pending = slices.Delete(cl.pending, i, i+1)
	}
	cl.mu.Unlock()
}

// attach records a connected socket. It returns false when the client
// closed meanwhile.
func (cl *client) attach(sock *Socket) bool {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	if cl.closed {
		return false
	}
	replaced := false
	for i, s := range cl.sockets {
		if s.nsp.name == sock.nsp.name {
			cl.sockets[i], replaced = sock, true
			break
		}
	}
	if !replaced {
		cl.sockets = append(cl.sockets, sock)
	}
	if cl.timer != nil {
		cl.timer.Stop()
		cl.timer = nil
	}
	return true
}

func (cl *client) detach(sock *Socket) {
	cl.mu.Lock()
	for i, s := range cl.sockets {
		if s == sock {
			cl.sockets = append(cl.sockets[:i], cl.sockets[i+1:]...)
			cl.sockets[len(cl.sockets):cap(cl.sockets)][0] = nil // no stale reference
			break
		}
	}
	cl.mu.Unlock()
}

// socketLocked returns the client's socket on namespace name, or nil.
// cl.mu held.
func (cl *client) socketLocked(name string) *Socket {
	for _, s := range cl.sockets {
		if s.nsp.name == name {
			return s
		}
	}
	return nil
}

func (cl *client) onClose(reason string) {
	cl.mu.Lock()
	cl.closed = true
	if cl.timer != nil {
		cl.timer.Stop()
		cl.timer = nil
	}
	socks := append([]*Socket(nil), cl.sockets...)
	cl.mu.Unlock()
	for _, s := range socks {
		s.onClose(reason)
	}
}

// send encodes p and queues it on the session.
func (cl *client) send(p *protocol.Packet, volatile bool) error {
	return cl.conn.Send(cl.srv.packetMessages(p, volatile)...)
}

func (cl *client) sendConnectError(nsp string, ce *ConnectError) {
	// Field order as the reference: {"message":…,"data":…}.
	type payload struct {
		Message string `json:"message"`
		Data    any    `json:"data,omitempty"`
	}
	data, err := json.Marshal(payload{ce.Message, ce.Data})
	if err != nil {
		data, _ = json.Marshal(payload{Message: ce.Message})
	}
	cl.srv.stats.connectErrors.Add(1)
	_ = cl.send(&protocol.Packet{Type: protocol.PacketConnectError, Namespace: nsp, ID: protocol.NoID, Data: data}, false)
}

// Parser names a Socket.IO packet encoding (Config.Parser).
type Parser string

const (
	ParserJSON    Parser = "json"    // socket.io-parser: text packets, attachments as binary messages
	ParserMsgpack Parser = "msgpack" // socket.io-msgpack-parser: one binary message per packet
)

var errTextWithMsgpack = errors.New("broker: text message from a msgpack-parser client")

// packetMessages encodes p into the Engine.IO messages that carry it, once
// for every recipient: with the JSON parser the text packet, then one
// binary message per attachment; with msgpack one binary message (nil if
// p cannot be encoded, which only a Data that is not JSON causes).
func (s *Server) packetMessages(p *protocol.Packet, volatile bool) []*connection.Message {
	if s.cfg.Parser == ParserMsgpack {
		b, err := protocol.EncodeMsgpack(p)
		if err != nil {
			s.log.Warn().Err(err).Str("nsp", p.Namespace).Msg("packet not sent: its data does not encode as msgpack")
			return nil
		}
		return []*connection.Message{{Binary: true, Data: b, Volatile: volatile}}
	}
	msgs := make([]*connection.Message, 1, 1+len(p.Attachments))
	msgs[0] = &connection.Message{Data: protocol.Encode(p), Volatile: volatile}
	for _, a := range p.Attachments {
		msgs = append(msgs, &connection.Message{Binary: true, Data: a, Volatile: volatile})
	}
	return msgs
}
