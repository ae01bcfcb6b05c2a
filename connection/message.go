package connection

import (
	"encoding/binary"
	"sync/atomic"
	"unsafe"
)

// encodings holds the lazily built wire forms of a Message, shared by every
// session the message is sent to. Each form is built on first use and
// published with a compare-and-swap, so concurrent first senders are safe
// (at worst two build the same bytes and one copy wins). Plain
// unsafe.Pointer fields keep Message copyable (OnMessage passes it by value)
// without tripping vet's copylocks check.
type encodings struct {
	frame unsafe.Pointer // *[]byte: the complete, unmasked websocket frame
	poll  unsafe.Pointer // *[]byte: the polling form ("4..." or "b<base64>")
	// deflated is the permessage-deflate frame (RSV1), built only once a
	// socket that negotiated it is sent m.
	deflated unsafe.Pointer
}

// Internal message kinds. Zero is an application message; the others are
// control packets the server sends itself. They are unexported so a Message
// built by a caller is always a message packet.
type msgKind uint8

const (
	kindMessage msgKind = iota // not on the wire; internal only
	kindPing
	kindNoop
	kindClose
	kindPongProbe
	kindRawFrame // websocket control frame; enc.frame is preset
	kindOpen     // the handshake answer; Data is its JSON
)

func (m *Message) packetType() packetType {
	switch m.kind {
	case kindPing:
		return packetPing
	case kindNoop:
		return packetNoop
	case kindClose:
		return packetClose
	case kindPongProbe:
		return packetPong
	case kindOpen:
		return packetOpen
	}
	return packetMessage
}

// payload is the packet data after the type: "probe" for the probe pong.
func (m *Message) payload() []byte {
	if m.kind == kindPongProbe {
		return probeData
	}
	return m.Data
}

var probeData = []byte("probe")

// wsFrame returns the websocket frame for m, building it on first use.
func (m *Message) wsFrame() []byte {
	if p := atomic.LoadPointer(&m.enc.frame); p != nil {
		return *(*[]byte)(p)
	}
	var b []byte
	data := m.payload()
	if m.Binary && m.kind == kindMessage {
		b = appendFrameHeader(make([]byte, 0, maxHeaderLen+len(data)), opBinary, len(data))
		b = append(b, data...)
	} else {
		b = appendFrameHeader(make([]byte, 0, maxHeaderLen+1+len(data)), opText, 1+len(data))
		b = appendPacketText(b, m.packetType(), data)
	}
	if atomic.CompareAndSwapPointer(&m.enc.frame, nil, unsafe.Pointer(&b)) {
		return b
	}
	return *(*[]byte)(atomic.LoadPointer(&m.enc.frame))
}

// pollForm returns the polling form of m, building it on first use.
func (m *Message) pollForm() []byte {
	if p := atomic.LoadPointer(&m.enc.poll); p != nil {
		return *(*[]byte)(p)
	}
	data := m.payload()
	bin := m.Binary && m.kind == kindMessage
	b := appendPacketPolling(make([]byte, 0, pollingLen(bin, len(data))), m.packetType(), bin, data)
	if atomic.CompareAndSwapPointer(&m.enc.poll, nil, unsafe.Pointer(&b)) {
		return b
	}
	return *(*[]byte)(atomic.LoadPointer(&m.enc.poll))
}

// queuedSize is what m costs against Config.MaxQueueBytes.
func (m *Message) queuedSize() int { return len(m.Data) + 1 }

// Control packets shared by every session.
var (
	pingMessage      = &Message{kind: kindPing}
	noopMessage      = &Message{kind: kindNoop}
	closeMessage     = &Message{kind: kindClose}
	pongProbeMessage = &Message{kind: kindPongProbe}
)

// WebSocket opcodes (RFC 6455 section 5.2). On the wire: explicit values.
const (
	opContinuation byte = 0x0
	opText         byte = 0x1
	opBinary       byte = 0x2
	opClose        byte = 0x8
	opPing         byte = 0x9
	opPong         byte = 0xA
)

// WebSocket close codes (RFC 6455 section 7.4.1).
const (
	wsCloseNormal        = 1000
	wsCloseGoingAway     = 1001
	wsCloseProtocolError = 1002
	wsCloseInvalidData   = 1007
	wsClosePolicy        = 1008
	wsCloseTooBig        = 1009
	wsCloseInternal      = 1011
)

const maxHeaderLen = 10 // server frames are unmasked: 2 + 8 bytes at most

// appendFrameHeader appends an unmasked, final frame header.
func appendFrameHeader(dst []byte, op byte, n int) []byte {
	dst = append(dst, 0x80|op)
	switch {
	case n <= 125:
		return append(dst, byte(n))
	case n <= 0xFFFF:
		return append(dst, 126, byte(n>>8), byte(n))
	default:
		dst = append(dst, 127)
		return binary.BigEndian.AppendUint64(dst, uint64(n))
	}
}

// rawFrame returns a message carrying one prebuilt websocket control frame.
func rawFrame(op byte, payload []byte) *Message {
	b := appendFrameHeader(make([]byte, 0, 2+len(payload)), op, len(payload))
	b = append(b, payload...)
	m := &Message{kind: kindRawFrame}
	m.enc.frame = unsafe.Pointer(&b)
	return m
}

// closeFrame builds a websocket close frame with code.
func closeFrame(code int) *Message {
	return rawFrame(opClose, []byte{byte(code >> 8), byte(code)})
}

// wsCloseCode maps a close reason to the websocket close code sent.
func wsCloseCode(r CloseReason) int {
	switch r {
	case CloseServerShutdown:
		return wsCloseGoingAway
	case CloseTooLarge:
		return wsCloseTooBig
	case CloseParseError:
		return wsCloseInvalidData
	case CloseSlowConsumer:
		return wsClosePolicy
	}
	return wsCloseNormal
}
