package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"
)

// AppendMsgpack appends v encoded exactly as notepack.io 3 encodes the
// same JavaScript value: integers in their smallest form, every
// non-integer as float64, Buffers as bin, map keys in insertion order.
func (v Value) AppendMsgpack(dst []byte) []byte { return v.appendMsgpack(dst, false) }

// AppendMsgpackExact is AppendMsgpack except that integers beyond ±2^53
// are written as float64: notepack's 64-bit integer forms lose or wrap
// them (it computes the high word with JavaScript's 32-bit shifts), while
// a float64 carries every JavaScript number exactly. For peers that only
// decode (clients of the msgpack parser), not for byte-compatibility.
func (v Value) AppendMsgpackExact(dst []byte) []byte { return v.appendMsgpack(dst, true) }

func (v Value) appendMsgpack(dst []byte, exact bool) []byte {
	switch v.Type {
	case Nil:
		return append(dst, 0xc0)
	case Bool:
		if v.Bool {
			return append(dst, 0xc3)
		}
		return append(dst, 0xc2)
	case Number:
		if exact && math.Abs(v.Num) > 1<<53 {
			dst = append(dst, 0xcb)
			return binary.BigEndian.AppendUint64(dst, math.Float64bits(v.Num))
		}
		return appendNumber(dst, v.Num)
	case String:
		return appendStr(dst, v.Str)
	case Binary:
		n := len(v.Bin)
		switch {
		case n < 0x100:
			dst = append(dst, 0xc4, byte(n))
		case n < 0x10000:
			dst = append(dst, 0xc5, byte(n>>8), byte(n))
		default:
			dst = append(dst, 0xc6, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
		}
		return append(dst, v.Bin...)
	case Array:
		dst = appendLen(dst, len(v.Arr), 0x90, 0xdc, 0xdd)
		for _, e := range v.Arr {
			dst = e.appendMsgpack(dst, exact)
		}
		return dst
	case Map:
		dst = appendLen(dst, len(v.Fields), 0x80, 0xde, 0xdf)
		for _, f := range v.Fields {
			dst = appendStr(dst, f.Key)
			dst = f.Val.appendMsgpack(dst, exact)
		}
		return dst
	}
	return append(dst, 0xc0)
}

// Msgpack returns the notepack encoding of v.
func (v Value) Msgpack() []byte { return v.AppendMsgpack(nil) }

func appendLen(dst []byte, n int, fix, b16, b32 byte) []byte {
	switch {
	case n < 0x10:
		return append(dst, fix|byte(n))
	case n < 0x10000:
		return append(dst, b16, byte(n>>8), byte(n))
	default:
		return append(dst, b32, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
}

func appendStr(dst []byte, s string) []byte {
	n := len(s)
	switch {
	case n < 0x20:
		dst = append(dst, 0xa0|byte(n))
	case n < 0x100:
		dst = append(dst, 0xd9, byte(n))
	case n < 0x10000:
		dst = append(dst, 0xda, byte(n>>8), byte(n))
	default:
		dst = append(dst, 0xdb, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
	return append(dst, s...)
}

func appendNumber(dst []byte, f float64) []byte {
	if math.Floor(f) != f || math.IsInf(f, 0) || math.IsNaN(f) {
		dst = append(dst, 0xcb)
		return binary.BigEndian.AppendUint64(dst, math.Float64bits(f))
	}
	if f >= 0 {
		switch {
		case f < 0x80:
			return append(dst, byte(f))
		case f < 0x100:
			return append(dst, 0xcc, byte(f))
		case f < 0x10000:
			return append(dst, 0xcd, byte(uint16(f)>>8), byte(uint16(f)))
		case f < 0x100000000:
			dst = append(dst, 0xce)
			return binary.BigEndian.AppendUint32(dst, uint32(f))
		}
		// notepack: hi = (v / 2^32) >> 0, lo = v >>> 0, each byte & 0xff.
		dst = append(dst, 0xcf)
		dst = binary.BigEndian.AppendUint32(dst, toUint32(math.Trunc(f/4294967296)))
		return binary.BigEndian.AppendUint32(dst, toUint32(f))
	}
	i := int64(f)
	switch {
	case f >= -0x20:
		return append(dst, byte(int8(i)))
	case f >= -0x80:
		return append(dst, 0xd0, byte(int8(i)))
	case f >= -0x8000:
		dst = append(dst, 0xd1)
		return binary.BigEndian.AppendUint16(dst, uint16(int16(i)))
	case f >= -0x80000000:
		dst = append(dst, 0xd2)
		return binary.BigEndian.AppendUint32(dst, uint32(int32(i)))
	}
	// notepack: hi = Math.floor(v / 2^32), lo = v >>> 0.
	dst = append(dst, 0xd3)
	dst = binary.BigEndian.AppendUint32(dst, toUint32(math.Floor(f/4294967296)))
	return binary.BigEndian.AppendUint32(dst, toUint32(f))
}

// toUint32 is JavaScript's ToUint32 (modular) for a finite integral f.
func toUint32(f float64) uint32 {
	m := math.Mod(math.Trunc(f), 4294967296)
	if m < 0 {
		m += 4294967296
	}
	return uint32(m)
}

var errShort = errors.New("wire: msgpack input truncated")

// DecodeMsgpack decodes one msgpack value as notepack.io does (ext -1
// timestamps become their ISO string, like a Date through JSON). Trailing
// bytes are an error.
func DecodeMsgpack(b []byte) (Value, error) {
	d := decoder{buf: b}
	v, err := d.value(0)
	if err != nil {
		return Value{}, err
	}
	if d.off != len(b) {
		return Value{}, fmt.Errorf("wire: %d trailing bytes", len(b)-d.off)
	}
	return v, nil
}

type decoder struct {
	buf []byte
	off int
}

func (d *decoder) take(n int) ([]byte, error) {
	if n < 0 || len(d.buf)-d.off < n {
		return nil, errShort
	}
	b := d.buf[d.off : d.off+n]
	d.off += n
	return b, nil
}

func (d *decoder) uint(n int) (uint64, error) {
	b, err := d.take(n)
	if err != nil {
		return 0, err
	}
	var u uint64
	for _, c := range b {
		u = u<<8 | uint64(c)
	}
	return u, nil
}

func (d *decoder) value(depth int) (Value, error) {
	if depth > MaxDepth {
		return Value{}, errDepth
	}
	b, err := d.take(1)
	if err != nil {
		return Value{}, err
	}
	c := b[0]
	switch {
	case c < 0x80:
		return N(float64(c)), nil
	case c < 0x90:
		return d.mapN(int(c&0x0f), depth)
	case c < 0xa0:
		return d.arrayN(int(c&0x0f), depth)
	case c < 0xc0:
		return d.str(int(c & 0x1f))
	case c >= 0xe0:
		return N(float64(int8(c))), nil
	}
	switch c {
	case 0xc0:
		return Value{}, nil
	case 0xc2:
		return B(false), nil
	case 0xc3:
		return B(true), nil
	case 0xc4, 0xc5, 0xc6:
		n, err := d.uint(1 << (c - 0xc4))
		if err != nil {
			return Value{}, err
		}
		raw, err := d.take(int(n))
		if err != nil {
			return Value{}, err
		}
		return Bytes(append([]byte(nil), raw...)), nil
	case 0xc7, 0xc8, 0xc9:
		n, err := d.uint(1 << (c - 0xc7))
		if err != nil {
			return Value{}, err
		}
		return d.ext(int(n))
	case 0xca:
		u, err := d.uint(4)
		if err != nil {
			return Value{}, err
		}
		return N(float64(math.Float32frombits(uint32(u)))), nil
	case 0xcb:
		u, err := d.uint(8)
		if err != nil {
			return Value{}, err
		}
		return N(math.Float64frombits(u)), nil
	case 0xcc, 0xcd, 0xce, 0xcf:
		u, err := d.uint(1 << (c - 0xcc))
		if err != nil {
			return Value{}, err
		}
		return N(float64(u)), nil
	case 0xd0:
		u, err := d.uint(1)
		return N(float64(int8(u))), err
	case 0xd1:
		u, err := d.uint(2)
		return N(float64(int16(u))), err
	case 0xd2:
		u, err := d.uint(4)
		return N(float64(int32(u))), err
	case 0xd3:
		u, err := d.uint(8)
		return N(float64(int64(u))), err
	case 0xd4, 0xd5, 0xd6, 0xd7, 0xd8:
		return d.ext(1 << (c - 0xd4))
	case 0xd9, 0xda, 0xdb:
		n, err := d.uint(1 << (c - 0xd9))
		if err != nil {
			return Value{}, err
		}
		return d.str(int(n))
	case 0xdc, 0xdd:
		n, err := d.uint(2 << (c - 0xdc))
		if err != nil {
			return Value{}, err
		}
		return d.arrayN(int(n), depth)
	case 0xde, 0xdf:
		n, err := d.uint(2 << (c - 0xde))
		if err != nil {
			return Value{}, err
		}
		return d.mapN(int(n), depth)
	}
	return Value{}, fmt.Errorf("wire: invalid msgpack byte 0x%02x", c)
}

func (d *decoder) str(n int) (Value, error) {
	b, err := d.take(n)
	if err != nil {
		return Value{}, err
	}
	return S(string(b)), nil
}

func (d *decoder) arrayN(n int, depth int) (Value, error) {
	if n > len(d.buf)-d.off { // each element takes at least one byte
		return Value{}, errShort
	}
	arr := make([]Value, n)
	for i := range arr {
		v, err := d.value(depth + 1)
		if err != nil {
			return Value{}, err
		}
		arr[i] = v
	}
	return Value{Type: Array, Arr: arr}, nil
}

func (d *decoder) mapN(n int, depth int) (Value, error) {
	if 2*n > len(d.buf)-d.off {
		return Value{}, errShort
	}
	fields := make([]Field, 0, n)
	for i := 0; i < n; i++ {
		k, err := d.value(depth + 1)
		if err != nil {
			return Value{}, err
		}
		v, err := d.value(depth + 1)
		if err != nil {
			return Value{}, err
		}
		fields = append(fields, Field{Key: k.JSString(), Val: v})
	}
	return Value{Type: Map, Fields: fields}, nil
}

// ext decodes an extension of n data bytes; the type byte comes first.
func (d *decoder) ext(n int) (Value, error) {
	tb, err := d.take(1)
	if err != nil {
		return Value{}, err
	}
	data, err := d.take(n)
	if err != nil {
		return Value{}, err
	}
	if int8(tb[0]) != -1 {
		return Value{}, nil // unknown extension: no JavaScript equivalent
	}
	var sec int64
	var nsec int64
	switch n {
	case 4:
		sec = int64(binary.BigEndian.Uint32(data))
	case 8:
		u := binary.BigEndian.Uint64(data)
		nsec, sec = int64(u>>34), int64(u&(1<<34-1))
	case 12:
		nsec = int64(binary.BigEndian.Uint32(data))
		sec = int64(binary.BigEndian.Uint64(data[4:]))
	default:
		return Value{}, errors.New("wire: invalid timestamp extension")
	}
	t := time.Unix(sec, nsec/1e6*1e6).UTC()
	return S(t.Format("2006-01-02T15:04:05.000Z")), nil
}
