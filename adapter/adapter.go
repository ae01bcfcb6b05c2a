package adapter

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
)

// Adapter moves messages between the nodes of a cluster. It never touches
// local sockets: the broker applies every operation to its own sockets
// first, then hands it to the adapter for the other nodes, and the adapter
// delivers what other nodes send to the broker's Handler.
//
// Implementations are safe for concurrent use.
type Adapter interface {
	// Start connects the adapter and begins delivering inbound traffic
	// to h. It returns once the node is ready to receive (subscriptions
	// confirmed) or ctx ends.
	Start(ctx context.Context, h Handler) error
	// Publish sends m to every other node. It does not wait for the
	// other nodes to apply it. Messages published by one node are
	// applied by each receiving node in publish order.
	Publish(ctx context.Context, m Message) error
	// Request sends r to every other live node and calls onReply for
	// each reply as it arrives (never concurrently). It returns nil
	// once every live node has answered completely (see RequestKind),
	// or ErrTimeout when ctx ends first; replies received until then
	// have been delivered. onReply must not block.
	Request(ctx context.Context, r Request, onReply func(Reply)) error
	// Close stops receiving and releases connections. Idempotent.
	Close(ctx context.Context) error
}

// Handler is how an adapter hands inbound traffic to the broker.
type Handler interface {
	// HandleMessage applies a message published by another node to the
	// local sockets. It must not block on I/O for long: adapters call it
	// from their receive loop, in order.
	HandleMessage(ctx context.Context, m Message)
	// HandleRequest answers a request from another node by calling reply:
	// exactly once for RequestFetchSockets, RequestAllRooms and
	// RequestServerSideEmit; for RequestBroadcastAck once with
	// ClientCount and then once per ack received. reply is safe to call
	// from any goroutine after HandleRequest returned.
	HandleRequest(ctx context.Context, r Request, reply func(Reply))
}

// NamespaceWatcher is implemented by adapters that subscribe per
// namespace. The broker calls WatchNamespace when a namespace is created
// (including dynamic ones) before any socket joins it.
type NamespaceWatcher interface {
	WatchNamespace(ctx context.Context, namespace string) error
}

// NamespaceUnwatcher is implemented by NamespaceWatchers that can drop a
// namespace's subscriptions. The broker calls UnwatchNamespace when it
// removes an empty dynamic namespace; no socket of it is left on this
// node.
type NamespaceUnwatcher interface {
	UnwatchNamespace(ctx context.Context, namespace string) error
}

// RoomWatcher is implemented by adapters that subscribe per room. The
// broker calls RoomCreated when the first local socket enters a room and
// RoomDeleted when the last one leaves. Calls for one room are ordered;
// they must not block.
type RoomWatcher interface {
	RoomCreated(namespace, room string)
	RoomDeleted(namespace, room string)
}

// ServerCounter is implemented by adapters that know how many nodes are
// alive (this one included).
type ServerCounter interface {
	ServerCount(ctx context.Context) (int, error)
}

// Kind is the kind of a published Message. Values are stable.
type Kind uint8

const (
	KindBroadcast         Kind = 1 // deliver Packet to the sockets matching Opts
	KindSocketsJoin       Kind = 2 // make the sockets matching Opts join Rooms
	KindSocketsLeave      Kind = 3 // make the sockets matching Opts leave Rooms
	KindDisconnectSockets Kind = 4 // disconnect the sockets matching Opts
	KindServerSideEmit    Kind = 5 // an event for the servers, without ack
)

// Message is a one-way operation sent to every other node.
type Message struct {
	Kind      Kind
	Namespace string
	Opts      BroadcastOptions
	// Packet is the Socket.IO packet of KindBroadcast, or the event of
	// KindServerSideEmit (Type EVENT, Data the JSON array [event, ...args]).
	Packet Packet
	// Rooms joined or left (KindSocketsJoin, KindSocketsLeave).
	Rooms []string
	// Close (KindDisconnectSockets) also closes the underlying connection.
	Close bool
	// Origin is the sending node's id; adapters fill it in.
	Origin string
}

// BroadcastOptions selects sockets: those in any of Rooms (all sockets of
// the namespace when Rooms is empty), minus those in any of Except.
type BroadcastOptions struct {
	Rooms    []string
	Except   []string
	Volatile bool // may be dropped for congested sockets
	Compress bool
	Local    bool // applies to this node only; never published
}

// Packet is a Socket.IO packet in the structured form the adapter wire
// formats need. Data is the JSON text of the packet data; binary values
// appear in it as placeholders {"_placeholder":true,"num":N} indexing
// Attachments. ID is the ack id, or -1 for none.
type Packet struct {
	Type        uint8
	Data        json.RawMessage
	Attachments [][]byte
	ID          int64
}

// RequestKind is the kind of a Request. Values are stable.
type RequestKind uint8

const (
	RequestFetchSockets   RequestKind = 1 // one Reply per node with Sockets
	RequestAllRooms       RequestKind = 2 // one Reply per node with Rooms
	RequestServerSideEmit RequestKind = 3 // one Reply per node with Data (the ack args)
	// RequestBroadcastAck delivers Packet to the sockets matching Opts with
	// an ack; each node replies once with ClientCount, then once per ack.
	RequestBroadcastAck RequestKind = 4
)

// Request is an operation that waits for answers from the other nodes.
type Request struct {
	Kind      RequestKind
	Namespace string
	Opts      BroadcastOptions
	Packet    Packet
	Origin    string // filled in by the adapter
}

// Reply is one node's answer, or part of it (RequestBroadcastAck).
type Reply struct {
	From        string // node id that answered
	Sockets     []SocketInfo
	Rooms       []string
	ClientCount int
	// Data is a JSON array of ack arguments (server-side emit, broadcast
	// ack); binary values as placeholders indexing Attachments.
	Data        json.RawMessage
	Attachments [][]byte
}

// SocketInfo describes a socket living on some node (fetchSockets).
type SocketInfo struct {
	ID        string
	Handshake Handshake
	Rooms     []string
	Data      json.RawMessage // the socket's data, JSON; null when unset
}

// Handshake mirrors the Node server's socket.handshake object.
type Handshake struct {
	Headers map[string]string `json:"headers"`
	Time    string            `json:"time"`
	Address string            `json:"address"`
	XDomain bool              `json:"xdomain"`
	Secure  bool              `json:"secure"`
	Issued  int64             `json:"issued"` // ms since epoch
	URL     string            `json:"url"`
	Query   map[string]string `json:"query"`
	Auth    json.RawMessage   `json:"auth"`
}

var (
	ErrClosed  = errors.New("adapter: closed")
	ErrTimeout = errors.New("adapter: request timed out")
)

// PartialError is what Publish returns when it can tell that a broadcast
// reached fewer nodes than are alive: the publish went out, but Reached
// of the Expected nodes (this one included) were subscribed to receive
// it, typically while nodes resubscribe after a Redis restart. Local
// delivery is not affected.
type PartialError struct {
	Reached, Expected int
}

func (e *PartialError) Error() string {
	return fmt.Sprintf("adapter: broadcast reached %d of %d nodes", e.Reached, e.Expected)
}
