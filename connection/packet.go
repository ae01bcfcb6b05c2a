package connection

import (
	"encoding/base64"
	"errors"
	"unicode/utf8"
)

// packetType is an Engine.IO v4 packet type. The values are the ASCII digit
// that starts the text encoding minus '0'; they are on the wire, so they are
// spelled out.
type packetType byte

const (
	packetOpen    packetType = 0
	packetClose   packetType = 1
	packetPing    packetType = 2
	packetPong    packetType = 3
	packetMessage packetType = 4
	packetUpgrade packetType = 5
	packetNoop    packetType = 6
)

// payloadSeparator separates packets in a polling payload (v4).
const payloadSeparator = '\x1e'

var errParse = errors.New("connection: malformed engine.io packet")

// packet is one decoded Engine.IO packet. data aliases the decoded input
// (or, for base64 packets, a fresh slice) and is valid as long as that input.
type packet struct {
	typ    packetType
	binary bool // a binary message (raw websocket frame or "b" polling form)
	data   []byte
}

// decodePacket decodes one text-encoded packet ("4hello", "2probe", "3").
// Text must be valid UTF-8. A websocket binary frame is not decoded here: it
// is a binary message as is.
func decodePacket(b []byte) (packet, error) {
	if len(b) == 0 {
		return packet{}, errParse
	}
	t := b[0]
	if t < '0' || t > '6' {
		return packet{}, errParse
	}
	if !utf8.Valid(b) {
		return packet{}, errParse
	}
	return packet{typ: packetType(t - '0'), data: b[1:]}, nil
}

// decodePayloadPacket decodes one packet of a polling payload: the text form
// or "b" followed by standard base64 for a binary message.
func decodePayloadPacket(b []byte) (packet, error) {
	if len(b) > 0 && b[0] == 'b' {
		enc := b[1:]
		out := make([]byte, base64.StdEncoding.DecodedLen(len(enc)))
		n, err := base64.StdEncoding.Decode(out, enc)
		if err != nil {
			return packet{}, errParse
		}
		return packet{typ: packetMessage, binary: true, data: out[:n]}, nil
	}
	return decodePacket(b)
}

// decodePayload decodes a polling payload (packets separated by 0x1e) and
// calls fn for each packet in order. It stops at the first error; packets
// before a malformed one have already been passed to fn, as in the
// reference server. Packet data aliases body (except base64 packets).
func decodePayload(body []byte, fn func(packet) error) error {
	if len(body) == 0 {
		return errParse
	}
	for {
		i := indexByte(body, payloadSeparator)
		chunk := body
		if i >= 0 {
			chunk = body[:i]
		}
		p, err := decodePayloadPacket(chunk)
		if err != nil {
			return err
		}
		if err := fn(p); err != nil {
			return err
		}
		if i < 0 {
			return nil
		}
		body = body[i+1:]
	}
}

func indexByte(b []byte, c byte) int {
	for i, x := range b {
		if x == c {
			return i
		}
	}
	return -1
}

// appendPacketText appends the text form of a packet: type digit + data.
// Binary messages have no text form: use appendPacketPolling.
func appendPacketText(dst []byte, typ packetType, data []byte) []byte {
	dst = append(dst, byte('0'+typ))
	return append(dst, data...)
}

// appendPacketPolling appends the polling form of a packet: the text form,
// or "b"+base64 for a binary message.
func appendPacketPolling(dst []byte, typ packetType, binary bool, data []byte) []byte {
	if binary {
		dst = append(dst, 'b')
		return base64.StdEncoding.AppendEncode(dst, data)
	}
	return appendPacketText(dst, typ, data)
}

// pollingLen is the length of the polling form.
func pollingLen(binary bool, n int) int {
	if binary {
		return 1 + base64.StdEncoding.EncodedLen(n)
	}
	return 1 + n
}
