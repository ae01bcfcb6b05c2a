package protocol

import (
	"encoding/binary"
	"math"
	"slices"
	"strconv"
	"unicode/utf8"

	"github.com/ionbus/ionbus/internal/wire"
)

// The msgpack parser, as socket.io-msgpack-parser 3.x (notepack.io): each
// packet is one binary Engine.IO message holding a msgpack map
// {type, data, nsp, id}; binary values travel inline as msgpack bin, so
// there are no attachment messages and no BINARY_* types. Inside ionbus a
// packet keeps the form of the default parser (JSON Data with
// placeholders, Attachments), so everything between the codec and the
// wire is the same for both parsers and a packet from a JSON-parser node
// reaches msgpack clients unchanged.

// EncodeMsgpack returns the msgpack message for p: its Data with every
// placeholder replaced by the attachment it stands for.
func EncodeMsgpack(p *Packet) ([]byte, error) {
	t := p.Type
	switch t {
	case PacketBinaryEvent:
		t = PacketEvent
	case PacketBinaryAck:
		t = PacketAck
	}
	fields := make([]wire.Field, 0, 4)
	fields = append(fields, wire.F("type", wire.N(float64(t))))
	if p.Data != nil {
		v, err := wire.ParseJSON(p.Data, p.Attachments)
		if err != nil {
			return nil, invalid("data: %v", err)
		}
		fields = append(fields, wire.F("data", v))
	}
	if p.ID >= 0 {
		fields = append(fields, wire.F("id", wire.N(float64(p.ID))))
	}
	nsp := p.Namespace
	if nsp == "" {
		nsp = "/"
	}
	fields = append(fields, wire.F("nsp", wire.S(nsp)))
	return wire.M(fields...).AppendMsgpackExact(nil), nil
}

// AddMsgpack decodes one binary message of a msgpack-parser client. Like
// the reference decoder it requires an integer type 0-4, a string nsp, an
// integer id if any, and data of the type's shape; beyond it the data is
// checked as AddText checks JSON (so an EVENT starts with its name).
// Binary values become attachments (at most MaxAttachments), nesting is
// bounded by MaxDepth. The input is never aliased.
func (d *Decoder) AddMsgpack(b []byte) (*Packet, error) {
	t := mpTranscoder{in: b, maxDepth: d.MaxDepth, maxAtt: d.MaxAttachments}
	if t.maxDepth <= 0 {
		t.maxDepth = DefaultMaxDepth
	}
	if t.maxAtt <= 0 {
		t.maxAtt = DefaultMaxAttachments
	}
	n, err := t.mapHeader()
	if err != nil {
		return nil, err
	}
	var (
		typ     = -1
		nsp     string
		hasNsp  bool
		id      = NoID
		data    []byte
		hasData bool
		atts    [][]byte
		badID   bool
	)
	for i := 0; i < n; i++ {
		key, err := t.key()
		if err != nil {
			return nil, err
		}
		switch key {
		case "type":
			f, ok, err := t.number()
			if err != nil {
				return nil, err
			}
			typ = -1
			if ok && f == math.Trunc(f) && f >= 0 && f <= float64(PacketConnectError) {
				typ = int(f)
			}
		case "nsp":
			s, ok, err := t.str()
			if err != nil {
				return nil, err
			}
			if !ok { // not a string: invalid below, once the value is skipped
				if err := t.skip(); err != nil {
					return nil, err
				}
			}
			nsp, hasNsp = s, ok
		case "id":
			f, ok, err := t.number()
			if err != nil {
				return nil, err
			}
			badID = !ok || f != math.Trunc(f) || f < 0 || f > math.MaxInt64/2
			id = int64(f)
		case "data":
			t.out, t.att = nil, nil
			if err := t.value(0); err != nil {
				return nil, err
			}
			data, atts, hasData = t.out, t.att, !t.wasNil
		default: // ignored, but it must still be well formed
			if err := t.skip(); err != nil {
				return nil, err
			}
		}
	}
	if t.off != len(b) {
		return nil, invalid("%d bytes after the packet", len(b)-t.off)
	}
	switch {
	case typ < 0:
		return nil, invalid("invalid packet type")
	case !hasNsp || nsp == "" || nsp[0] != '/':
		return nil, invalid("invalid namespace")
	case badID:
		return nil, invalid("invalid packet id")
	}
	p := &Packet{Type: PacketType(typ), Namespace: nsp, ID: id, Attachments: atts}
	if !hasData {
		if err := checkNoPayload(p.Type); err != nil {
			return nil, err
		}
		return p, nil
	}
	if err := d.checkPayload(p.Type, data, len(atts)); err != nil {
		return nil, err
	}
	p.Data = data
	return p, nil
}

// mpTranscoder reads msgpack and writes the same value as JSON, binary
// values as placeholders. It builds no value tree: the output grows with
// the input only (a one-byte nil becomes "null"), so a hostile message
// costs a few times its size at most.
type mpTranscoder struct {
	in       []byte
	off      int
	out      []byte
	att      [][]byte
	maxDepth int
	maxAtt   int
	wasNil   bool // the last top-level value read was nil (undefined in JS)
}

var errTruncated = invalid("msgpack input truncated")

func (t *mpTranscoder) take(n int) ([]byte, error) {
	if n < 0 || len(t.in)-t.off < n {
		return nil, errTruncated
	}
	b := t.in[t.off : t.off+n]
	t.off += n
	return b, nil
}

func (t *mpTranscoder) uint(n int) (uint64, error) {
	b, err := t.take(n)
	if err != nil {
		return 0, err
	}
	switch n {
	case 1:
		return uint64(b[0]), nil
	case 2:
		return uint64(binary.BigEndian.Uint16(b)), nil
	case 4:
		return uint64(binary.BigEndian.Uint32(b)), nil
	}
	return binary.BigEndian.Uint64(b), nil
}

// length reads an n-byte length and checks that at least min*length
// bytes remain, so no count can make the reader allocate or loop beyond
// its input.
func (t *mpTranscoder) length(n, min int) (int, error) {
	u, err := t.uint(n)
	if err != nil {
		return 0, err
	}
	if u > uint64(len(t.in)-t.off) || int(u)*min > len(t.in)-t.off {
		return 0, errTruncated
	}
	return int(u), nil
}

// mapHeader reads the header of the top-level map.
func (t *mpTranscoder) mapHeader() (int, error) {
	b, err := t.take(1)
	if err != nil {
		return 0, err
	}
	switch c := b[0]; {
	case c >= 0x80 && c <= 0x8f:
		n := int(c & 0x0f)
		if 2*n > len(t.in)-t.off {
			return 0, errTruncated
		}
		return n, nil
	case c == 0xde:
		return t.length(2, 2)
	case c == 0xdf:
		return t.length(4, 2)
	}
	return 0, invalid("a msgpack packet must be a map")
}

// key reads a map key: a string, or a number (JavaScript keys are
// strings, so notepack writes numbers only from other encoders).
func (t *mpTranscoder) key() (string, error) {
	start := t.off
	if s, ok, err := t.str(); err != nil || ok {
		return s, err
	}
	t.off = start
	if f, ok, err := t.number(); err != nil || ok {
		return wire.N(f).JSString(), err
	}
	return "", invalid("msgpack map key must be a string")
}

// str reads a string value; ok is false (and nothing consumed) when the
// next value is not a string.
func (t *mpTranscoder) str() (s string, ok bool, err error) {
	if t.off >= len(t.in) {
		return "", false, errTruncated
	}
	var n int
	switch c := t.in[t.off]; {
	case c >= 0xa0 && c <= 0xbf:
		t.off++
		n = int(c & 0x1f)
	case c == 0xd9, c == 0xda, c == 0xdb:
		t.off++
		if n, err = t.length(1<<(c-0xd9), 1); err != nil {
			return "", false, err
		}
	default:
		return "", false, nil
	}
	b, err := t.take(n)
	if err != nil {
		return "", false, err
	}
	if !utf8.Valid(b) {
		return "", false, invalid("msgpack string is not valid UTF-8")
	}
	return string(b), true, nil
}

// number reads a number value; ok is false (and the value skipped) when
// it is something else.
func (t *mpTranscoder) number() (f float64, ok bool, err error) {
	if t.off >= len(t.in) {
		return 0, false, errTruncated
	}
	c := t.in[t.off]
	switch {
	case c < 0x80:
		t.off++
		return float64(c), true, nil
	case c >= 0xe0:
		t.off++
		return float64(int8(c)), true, nil
	}
	switch c {
	case 0xca, 0xcb, 0xcc, 0xcd, 0xce, 0xcf, 0xd0, 0xd1, 0xd2, 0xd3:
		t.off++
		return t.numberBody(c)
	}
	return 0, false, t.skip()
}

// skip reads the next value and discards it.
func (t *mpTranscoder) skip() error {
	scratch := mpTranscoder{in: t.in, off: t.off, maxDepth: t.maxDepth, maxAtt: t.maxAtt}
	if err := scratch.value(0); err != nil {
		return err
	}
	t.off = scratch.off
	return nil
}

func (t *mpTranscoder) numberBody(c byte) (float64, bool, error) {
	switch c {
	case 0xca:
		u, err := t.uint(4)
		return float64(math.Float32frombits(uint32(u))), err == nil, err
	case 0xcb:
		u, err := t.uint(8)
		return math.Float64frombits(u), err == nil, err
	case 0xcc, 0xcd, 0xce, 0xcf:
		u, err := t.uint(1 << (c - 0xcc))
		return float64(u), err == nil, err
	}
	n := 1 << (c - 0xd0)
	u, err := t.uint(n)
	if err != nil {
		return 0, false, err
	}
	shift := 64 - 8*n
	return float64(int64(u<<shift) >> shift), true, nil
}

// value transcodes one value to t.out.
func (t *mpTranscoder) value(depth int) error {
	if depth > t.maxDepth {
		return ErrTooDeep
	}
	b, err := t.take(1)
	if err != nil {
		return err
	}
	c := b[0]
	t.wasNil = false
	switch {
	case c < 0x80 || c >= 0xe0:
		t.off--
		f, _, _ := t.number()
		t.out = wire.N(f).AppendJSON(t.out, nil)
		return nil
	case c <= 0x8f:
		return t.mapBody(int(c&0x0f), depth)
	case c <= 0x9f:
		return t.arrayBody(int(c&0x0f), depth)
	case c <= 0xbf:
		t.off--
		return t.strValue()
	}
	switch c {
	case 0xc0:
		t.out = append(t.out, "null"...)
		t.wasNil = true
		return nil
	case 0xc2:
		t.out = append(t.out, "false"...)
		return nil
	case 0xc3:
		t.out = append(t.out, "true"...)
		return nil
	case 0xc4, 0xc5, 0xc6:
		n, err := t.length(1<<(c-0xc4), 1)
		if err != nil {
			return err
		}
		bin, err := t.take(n)
		if err != nil {
			return err
		}
		if len(t.att) >= t.maxAtt {
			return ErrTooManyAttachments
		}
		t.out = append(t.out, `{"_placeholder":true,"num":`...)
		t.out = strconv.AppendInt(t.out, int64(len(t.att)), 10)
		t.out = append(t.out, '}')
		t.att = append(t.att, append([]byte{}, bin...))
		return nil
	case 0xc7, 0xc8, 0xc9: // ext 8/16/32
		return t.ext(-1, c)
	case 0xd4, 0xd5, 0xd6, 0xd7, 0xd8: // fixext 1/2/4/8/16
		return t.ext(1<<(c-0xd4), c)
	case 0xca, 0xcb, 0xcc, 0xcd, 0xce, 0xcf, 0xd0, 0xd1, 0xd2, 0xd3:
		f, _, err := t.numberBody(c)
		if err != nil {
			return err
		}
		t.out = wire.N(f).AppendJSON(t.out, nil) // NaN and ±Inf: null, as JSON.stringify
		return nil
	case 0xd9, 0xda, 0xdb:
		t.off--
		return t.strValue()
	case 0xdc, 0xdd: // array 16/32
		n, err := t.length(2<<(c-0xdc), 1)
		if err != nil {
			return err
		}
		return t.arrayBody(n, depth)
	case 0xde, 0xdf: // map 16/32
		n, err := t.length(2<<(c-0xde), 2)
		if err != nil {
			return err
		}
		return t.mapBody(n, depth)
	}
	return invalid("msgpack byte 0x%02x is never used", c)
}

func (t *mpTranscoder) strValue() error {
	s, _, err := t.str()
	if err != nil {
		return err
	}
	t.out = wire.S(s).AppendJSON(t.out, nil)
	return nil
}

// ext transcodes an extension (the 0xc7-0xc9 or fixext byte c was read;
// n is the fixext data length, -1 for ext 8/16/32) as notepack decodes
// it: a timestamp (-1) as its ISO string, like a Date through JSON, and
// anything else (undefined is fixext 1 type 0) as null.
func (t *mpTranscoder) ext(n int, c byte) error {
	start := t.off - 1
	if n < 0 {
		var err error
		if n, err = t.length(1<<(c-0xc7), 1); err != nil {
			return err
		}
	}
	if _, err := t.take(1 + n); err != nil { // type byte, data
		return err
	}
	v, err := wire.DecodeMsgpack(t.in[start:t.off])
	if err != nil {
		return invalid("msgpack extension: %v", err)
	}
	t.out = v.AppendJSON(t.out, nil)
	t.wasNil = v.Type == wire.Nil
	return nil
}

func (t *mpTranscoder) arrayBody(n, depth int) error {
	if n > len(t.in)-t.off {
		return errTruncated
	}
	t.out = append(t.out, '[')
	for i := 0; i < n; i++ {
		if i > 0 {
			t.out = append(t.out, ',')
		}
		if err := t.value(depth + 1); err != nil {
			return err
		}
	}
	t.out = append(t.out, ']')
	t.wasNil = false
	return nil
}

func (t *mpTranscoder) mapBody(n, depth int) error {
	if 2*n > len(t.in)-t.off {
		return errTruncated
	}
	t.out = append(t.out, '{')
	// A JavaScript object has each key once, so notepack never writes a
	// duplicate; one would make JSON whose meaning depends on the reader.
	var few []string
	var many map[string]struct{}
	for i := 0; i < n; i++ {
		if i > 0 {
			t.out = append(t.out, ',')
		}
		k, err := t.key()
		if err != nil {
			return err
		}
		if n <= 8 {
			if slices.Contains(few, k) {
				return invalid("msgpack map key %q repeated", k)
			}
			few = append(few, k)
		} else {
			if many == nil {
				many = make(map[string]struct{}, n)
			}
			if _, dup := many[k]; dup {
				return invalid("msgpack map key %q repeated", k)
			}
			many[k] = struct{}{}
		}
		t.out = wire.S(k).AppendJSON(t.out, nil)
		t.out = append(t.out, ':')
		if err := t.value(depth + 1); err != nil {
			return err
		}
	}
	t.out = append(t.out, '}')
	t.wasNil = false
	return nil
}
