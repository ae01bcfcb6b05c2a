package protocol

import (
	"encoding/json"
	"errors"
	"strconv"
)

// PacketType is the Socket.IO packet type, the first character of every text message.
// The numeric values are the wire values; never renumber them.
type PacketType uint8

const (
	PacketConnect      PacketType = 0
	PacketDisconnect   PacketType = 1
	PacketEvent        PacketType = 2
	PacketAck          PacketType = 3
	PacketConnectError PacketType = 4
	PacketBinaryEvent  PacketType = 5
	PacketBinaryAck    PacketType = 6
)

// String returns the name used by the reference implementation (EVENT, BINARY_ACK, ...), for logs
// and metric labels.
func (t PacketType) String() string {
	switch t {
	case PacketConnect:
		return "CONNECT"
	case PacketDisconnect:
		return "DISCONNECT"
	case PacketEvent:
		return "EVENT"
	case PacketAck:
		return "ACK"
	case PacketConnectError:
		return "CONNECT_ERROR"
	case PacketBinaryEvent:
		return "BINARY_EVENT"
	case PacketBinaryAck:
		return "BINARY_ACK"
	}
	return "PacketType(" + strconv.Itoa(int(t)) + ")"
}

// NoID marks a packet without ack id.
const NoID int64 = -1

// Defaults applied by Decoder when its limits are zero.
const (
	DefaultMaxAttachments = 10
	DefaultMaxDepth       = 32
)

// Errors returned by the decoder and the argument helpers. Match them with errors.Is; the
// returned errors usually wrap one of these with detail about the failure.
var (
	// ErrInvalidPacket: the message is not a valid Socket.IO v5 packet (syntax, type, id,
	// JSON, payload shape, placeholder, or a text message while attachments were awaited).
	ErrInvalidPacket = errors.New("protocol: invalid packet")
	// ErrTooManyAttachments: a binary packet declared more attachments than Decoder.MaxAttachments.
	ErrTooManyAttachments = errors.New("protocol: too many attachments")
	// ErrTooDeep: the JSON payload nests deeper than the allowed depth.
	ErrTooDeep = errors.New("protocol: JSON nesting too deep")
	// ErrUnexpectedBinary: a binary message arrived while no binary packet was pending.
	ErrUnexpectedBinary = errors.New("protocol: unexpected binary message")
)

// Packet is one decoded (or to-be-encoded) Socket.IO packet.
//
// The decoder returns binary packets with the non-binary Type (PacketEvent / PacketAck), as the
// reference parser does; "is binary" is len(Attachments) > 0. Encode accepts both forms.
type Packet struct {
	Type      PacketType
	Namespace string // "/" when absent on the wire
	ID        int64  // NoID when absent; any negative value is treated as absent by Encode
	// Data is the JSON payload exactly as on the wire (nil when absent). In binary packets each
	// attachment appears as {"_placeholder":true,"num":N}. Packets returned by Decoder own
	// their Data (it is a copy of the input message).
	Data json.RawMessage
	// Attachments are the binary attachments in wire order; for decoded packets
	// len(Attachments) is the count declared in the "<n>-" prefix and every placeholder num is
	// < len(Attachments). Decoded attachments are copies of the input messages.
	Attachments [][]byte
}

// Encode returns the text part of p. The attachments are p.Attachments, sent as-is as binary
// messages after it.
//
// Format: <type>[<n>-][<nsp>,][<id>][<data>]. For Type Event/Ack with len(Attachments) > 0 the
// type on the wire becomes BinaryEvent/BinaryAck with the "<n>-" prefix (n = len(Attachments));
// a BinaryEvent/BinaryAck without attachments is written as Event/Ack. Namespace "" and "/" are
// omitted; any other namespace is written followed by ",".
//
// Encode does not validate p: a namespace that contains "," or does not start with "/", or Data
// that is not valid JSON, produce a message the peer cannot decode. Data is written verbatim.
// Encode is safe for concurrent use as long as p is not modified meanwhile.
func Encode(p *Packet) []byte {
	return AppendEncode(make([]byte, 0, encodedLen(p)), p)
}

// AppendEncode appends the text part of p (see Encode) to dst and returns the extended slice.
func AppendEncode(dst []byte, p *Packet) []byte {
	t := p.Type
	n := len(p.Attachments)
	switch t {
	case PacketEvent, PacketBinaryEvent:
		t = PacketEvent
		if n > 0 {
			t = PacketBinaryEvent
		}
	case PacketAck, PacketBinaryAck:
		t = PacketAck
		if n > 0 {
			t = PacketBinaryAck
		}
	}
	dst = strconv.AppendUint(dst, uint64(t), 10)
	if t == PacketBinaryEvent || t == PacketBinaryAck {
		dst = strconv.AppendInt(dst, int64(n), 10)
		dst = append(dst, '-')
	}
	if p.Namespace != "" && p.Namespace != "/" {
		dst = append(dst, p.Namespace...)
		dst = append(dst, ',')
	}
	if p.ID >= 0 {
		dst = strconv.AppendInt(dst, p.ID, 10)
	}
	return append(dst, p.Data...)
}

// encodedLen is an upper bound of the encoded size, so Encode allocates once.
func encodedLen(p *Packet) int {
	return 1 + 21 + len(p.Namespace) + 1 + 20 + len(p.Data)
}
