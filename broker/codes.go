package broker

import (
	"errors"

	"github.com/ionbus/ionbus/connection"
)

// Disconnect reasons, as the reference server reports them to its
// disconnect handlers (socket.io lib/socket.ts, lib/client.ts).
const (
	ReasonServerNamespaceDisconnect = "server namespace disconnect"
	ReasonClientNamespaceDisconnect = "client namespace disconnect"
	ReasonServerShuttingDown        = "server shutting down"
	ReasonPingTimeout               = "ping timeout"
	ReasonTransportClose            = "transport close"
	ReasonTransportError            = "transport error"
	ReasonParseError                = "parse error"
	ReasonForcedClose               = "forced close"
	ReasonForcedServerClose         = "forced server close"
	// ReasonSlowConsumer is ionbus's own: the socket's outbound queue
	// passed engine.max_queue_bytes.
	ReasonSlowConsumer = "slow consumer"
)

// recoverable reasons keep the session for connection state recovery
// (the reference's RECOVERABLE_DISCONNECT_REASONS, plus slow consumer).
var recoverable = map[string]bool{
	ReasonTransportError:     true,
	ReasonTransportClose:     true,
	ReasonForcedClose:        true,
	ReasonPingTimeout:        true,
	ReasonServerShuttingDown: true,
	ReasonForcedServerClose:  true,
	ReasonSlowConsumer:       true,
}

// closeReason maps an Engine.IO session end to the Socket.IO reason.
func closeReason(r connection.CloseReason) string {
	switch r {
	case connection.CloseServerShutdown:
		return ReasonServerShuttingDown
	case connection.CloseServerClose:
		return ReasonForcedServerClose
	case connection.ClosePingTimeout:
		return ReasonPingTimeout
	case connection.CloseParseError:
		return ReasonParseError
	case connection.CloseClientClose, connection.CloseTransportClose:
		return ReasonTransportClose
	case connection.CloseSlowConsumer:
		return ReasonSlowConsumer
	default:
		return ReasonTransportError
	}
}

// ConnectError refuses a namespace connection. The client receives a
// CONNECT_ERROR packet {"message": Message, "data": Data}; socket.io-client
// surfaces it as a connect_error whose err.message is Message and err.data
// is Data.
type ConnectError struct {
	Message string
	Data    any
}

func (e *ConnectError) Error() string { return e.Message }

// Messages of the CONNECT_ERROR packets the broker sends itself.
const (
	MessageInvalidNamespace = "Invalid namespace"
)

var (
	ErrClosed        = errors.New("broker: closed")
	ErrNotConnected  = errors.New("broker: socket not connected")
	ErrAckTimeout    = errors.New("broker: ack timed out")
	ErrNoAck         = errors.New("broker: client did not ask for an ack")
	ErrReservedEvent = errors.New("broker: reserved event name")
	// ErrPublish wraps an adapter failure after local delivery succeeded:
	// this node's sockets got the packet, other nodes may not have.
	ErrPublish = errors.New("broker: publish to the cluster failed")
)

// IsReservedEvent reports whether name is reserved by the protocol (the
// client library uses it itself) and so cannot be emitted.
func IsReservedEvent(name string) bool { return reservedEvents[name] }

// reservedEvents cannot be emitted by clients or to clients.
var reservedEvents = map[string]bool{
	"connect":        true,
	"connect_error":  true,
	"disconnect":     true,
	"disconnecting":  true,
	"newListener":    true,
	"removeListener": true,
}
