package protocol

import (
	"bytes"
	"fmt"
	"math"
	"unicode/utf8"
)

// Decoder reassembles packets from Engine.IO messages: a text message, followed for binary
// packets by one binary message per attachment.
//
// Not safe for concurrent use: use one Decoder per connection, fed from that connection's
// single reader. The zero value is ready to use. After any error the pending state is dropped
// (as if Reset was called); callers normally close the connection on error.
//
// Input buffers are not retained: Data, Namespace and Attachments of returned packets are
// copies, so the caller may reuse b as soon as AddText/AddBinary return.
type Decoder struct {
	MaxAttachments int // most attachments per binary packet; 0 (or negative) means DefaultMaxAttachments; more → ErrTooManyAttachments
	MaxDepth       int // JSON nesting limit of Data; 0 (or negative) means DefaultMaxDepth; deeper → ErrTooDeep

	pending   *Packet // binary packet waiting for attachments
	remaining int     // attachments still expected for pending
	lastNsp   string  // last non-"/" namespace, reused to avoid an allocation per packet
}

// AddText decodes a text message. It returns the packet when complete, or (nil, nil) when it
// is a binary packet whose attachments must follow via AddBinary. A text message while
// attachments are awaited is an error (ErrInvalidPacket), as in the reference parser.
func (d *Decoder) AddText(b []byte) (*Packet, error) {
	if d.pending != nil {
		d.Reset()
		return nil, fmt.Errorf("%w: text message while awaiting binary attachments", ErrInvalidPacket)
	}
	p, n, err := d.decodeText(b)
	if err != nil {
		return nil, err
	}
	if n > 0 {
		p.Attachments = make([][]byte, 0, n)
		d.pending = p
		d.remaining = n
		return nil, nil
	}
	return p, nil
}

// AddBinary adds one attachment (copied) to the pending binary packet and returns the packet
// once its last attachment arrived (nil, nil before that). Without a pending packet it returns
// ErrUnexpectedBinary.
func (d *Decoder) AddBinary(b []byte) (*Packet, error) {
	if d.pending == nil {
		return nil, ErrUnexpectedBinary
	}
	p := d.pending
	p.Attachments = append(p.Attachments, bytes.Clone(nonNil(b)))
	d.remaining--
	if d.remaining > 0 {
		return nil, nil
	}
	d.pending = nil
	return p, nil
}

// Reset drops a partially received binary packet.
func (d *Decoder) Reset() {
	d.pending = nil
	d.remaining = 0
}

func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalidPacket}, args...)...)
}

// decodeText parses <type>[<n>-][<nsp>,][<id>][<data>] following the reference decodeString,
// and returns the packet and its declared attachment count.
func (d *Decoder) decodeText(b []byte) (*Packet, int, error) {
	if len(b) == 0 {
		return nil, 0, invalid("empty message")
	}
	if b[0] < '0' || b[0] > '6' {
		return nil, 0, invalid("unknown packet type %q", b[0])
	}
	t := PacketType(b[0] - '0')
	i := 1

	attachments := 0
	if t == PacketBinaryEvent || t == PacketBinaryAck {
		maxAtt := d.MaxAttachments
		if maxAtt <= 0 {
			maxAtt = DefaultMaxAttachments
		}
		start := i
		for i < len(b) && isDigit(b[i]) {
			if attachments <= math.MaxInt32 { // saturate instead of overflowing
				attachments = attachments*10 + int(b[i]-'0')
			}
			i++
		}
		if i == start || i >= len(b) || b[i] != '-' {
			return nil, 0, invalid("illegal attachments")
		}
		i++
		if attachments < 1 {
			return nil, 0, invalid("illegal attachments")
		}
		if attachments > maxAtt {
			return nil, 0, fmt.Errorf("%w: %d > %d", ErrTooManyAttachments, attachments, maxAtt)
		}
		// Like the reference parser, expose binary packets with the non-binary type.
		if t == PacketBinaryEvent {
			t = PacketEvent
		} else {
			t = PacketAck
		}
	}

	// Namespace: starts with "/" and runs up to the first "," (consumed) or the end.
	nsp := "/"
	if i < len(b) && b[i] == '/' {
		start := i
		end := len(b)
		if j := bytes.IndexByte(b[i:], ','); j >= 0 {
			end = i + j
			i = end + 1
		} else {
			i = end
		}
		raw := b[start:end]
		if !utf8.Valid(raw) {
			return nil, 0, invalid("namespace is not valid UTF-8")
		}
		switch {
		case len(raw) == 1:
			// "/" stays the shared constant.
		case string(raw) == d.lastNsp:
			nsp = d.lastNsp
		default:
			nsp = string(raw)
			d.lastNsp = nsp
		}
	}

	id := NoID
	if i < len(b) && isDigit(b[i]) {
		var v int64
		for i < len(b) && isDigit(b[i]) {
			digit := int64(b[i] - '0')
			if v > (math.MaxInt64-digit)/10 {
				return nil, 0, invalid("ack id overflows int64")
			}
			v = v*10 + digit
			i++
		}
		id = v
	}

	p := &Packet{Type: t, Namespace: nsp, ID: id}
	if i < len(b) {
		data := b[i:]
		if err := d.checkPayload(t, data, attachments); err != nil {
			return nil, 0, err
		}
		p.Data = bytes.Clone(data)
	} else if err := checkNoPayload(t); err != nil {
		return nil, 0, err
	}
	return p, attachments, nil
}

// checkNoPayload applies isPayloadValid to a packet without data.
func checkNoPayload(t PacketType) error {
	switch t {
	case PacketConnect, PacketDisconnect:
		return nil
	}
	return invalid("%v packet without data", t)
}

// checkPayload validates data as JSON and applies the reference isPayloadValid rules:
// CONNECT an object, DISCONNECT nothing, EVENT a non-empty array starting with a string or a
// number (the event name), ACK an array, CONNECT_ERROR an object or a string. Placeholders are checked
// for binary packets only.
func (d *Decoder) checkPayload(t PacketType, data []byte, attachments int) error {
	if t == PacketDisconnect {
		return invalid("DISCONNECT packet with data")
	}
	s := scanner{data: data, maxDepth: d.MaxDepth, attachments: attachments}
	if s.maxDepth <= 0 {
		s.maxDepth = DefaultMaxDepth
	}
	bad, err := s.document()
	if err != nil {
		return err
	}
	if bad {
		return invalid("illegal attachments: placeholder num not an integer in [0, %d)", attachments)
	}
	first, second := leadingBytes(data)
	switch t {
	case PacketConnect:
		if first != '{' {
			return invalid("CONNECT data must be an object")
		}
	case PacketEvent:
		// The reference accepts a string or a number as the event name.
		if first != '[' || !(second == '"' || second == '-' || (second >= '0' && second <= '9')) {
			return invalid("EVENT data must be an array starting with the event name")
		}
	case PacketAck:
		if first != '[' {
			return invalid("ACK data must be an array")
		}
	case PacketConnectError:
		if first != '{' && first != '"' {
			return invalid("CONNECT_ERROR data must be an object or a string")
		}
	}
	return nil
}

// leadingBytes returns the first non-space byte of valid JSON data and, when it is '[', the
// first non-space byte after it.
func leadingBytes(data []byte) (first, second byte) {
	i := skipSpaceAt(data, 0)
	first = data[i]
	if first == '[' {
		if j := skipSpaceAt(data, i+1); j < len(data) {
			second = data[j]
		}
	}
	return first, second
}

func skipSpaceAt(data []byte, i int) int {
	for i < len(data) {
		switch data[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}
