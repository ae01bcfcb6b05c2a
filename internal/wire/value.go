// Package wire holds the encodings shared by the Redis adapter and the
// emitter: a JSON/msgpack value tree that reproduces notepack.io and
// JSON.stringify byte for byte, and the Redis channel names.
package wire

import (
	"bytes"
	"errors"
	"math"
	"strconv"
	"unicode/utf8"
)

// Type is the type of a Value.
type Type uint8

const (
	Nil    Type = 0
	Bool   Type = 1
	Number Type = 2 // a JavaScript number (float64)
	String Type = 3
	Binary Type = 4 // a Node Buffer
	Array  Type = 5
	Map    Type = 6 // keys in insertion order
)

// Value is a JavaScript value as the Node packages see it.
type Value struct {
	Type   Type
	Bool   bool
	Num    float64
	Str    string
	Bin    []byte
	Arr    []Value
	Fields []Field
}

// Field is one key of a Map value.
type Field struct {
	Key string
	Val Value
}

// Constructors, for building messages.
func S(s string) Value          { return Value{Type: String, Str: s} }
func N(n float64) Value         { return Value{Type: Number, Num: n} }
func B(b bool) Value            { return Value{Type: Bool, Bool: b} }
func Bytes(b []byte) Value      { return Value{Type: Binary, Bin: b} }
func A(vs ...Value) Value       { return Value{Type: Array, Arr: vs} }
func M(fs ...Field) Value       { return Value{Type: Map, Fields: fs} }
func F(k string, v Value) Field { return Field{Key: k, Val: v} }

// Strings builds an array of strings.
func Strings(ss []string) Value {
	arr := make([]Value, len(ss))
	for i, s := range ss {
		arr[i] = S(s)
	}
	return Value{Type: Array, Arr: arr}
}

// Get returns the value of key in a Map (Nil when absent) and whether it
// was present.
func (v Value) Get(key string) (Value, bool) {
	for _, f := range v.Fields {
		if f.Key == key {
			return f.Val, true
		}
	}
	return Value{}, false
}

// StringSlice returns the strings of an Array (non-strings are converted
// like JavaScript's String()); nil when v is not an array.
func (v Value) StringSlice() []string {
	if v.Type != Array {
		return nil
	}
	out := make([]string, 0, len(v.Arr))
	for _, e := range v.Arr {
		out = append(out, e.JSString())
	}
	return out
}

// JSString converts a scalar like JavaScript's String().
func (v Value) JSString() string {
	switch v.Type {
	case String:
		return v.Str
	case Number:
		return formatNumber(v.Num)
	case Bool:
		if v.Bool {
			return "true"
		}
		return "false"
	case Nil:
		return "null"
	}
	return ""
}

// Truthy reports JavaScript truthiness for the scalar types.
func (v Value) Truthy() bool {
	switch v.Type {
	case Nil:
		return false
	case Bool:
		return v.Bool
	case Number:
		return v.Num != 0 && !math.IsNaN(v.Num)
	case String:
		return v.Str != ""
	}
	return true
}

// Int returns a Number as int64 (0 otherwise).
func (v Value) Int() int64 {
	if v.Type != Number || math.IsNaN(v.Num) || math.IsInf(v.Num, 0) {
		return 0
	}
	return int64(v.Num)
}

// MaxDepth bounds the nesting of decoded input.
const MaxDepth = 64

var errDepth = errors.New("wire: nesting too deep")

// ParseJSON parses JSON text into a Value with JSON.parse semantics,
// keeping key order. Objects of the form {"_placeholder":true,"num":N}
// become attachments[N] when attachments is non-nil.
func ParseJSON(data []byte, attachments [][]byte) (Value, error) {
	return parseJSONFast(data, attachments)
}

// JSON writes v like JSON.stringify. Binary values become Node's
// Buffer.toJSON form {"type":"Buffer","data":[...]}.
func (v Value) JSON() []byte { return v.AppendJSON(nil, nil) }

// JSONWithPlaceholders writes v like JSON.stringify, replacing binary
// values by Socket.IO placeholders and returning them as attachments in
// depth-first order (socket.io-parser's deconstructPacket order).
func (v Value) JSONWithPlaceholders() ([]byte, [][]byte) {
	var att [][]byte
	out := v.AppendJSON(nil, &att)
	return out, att
}

// AppendJSON appends the JSON.stringify form of v to dst. When att is
// non-nil binaries are replaced by placeholders appended to *att.
func (v Value) AppendJSON(dst []byte, att *[][]byte) []byte {
	switch v.Type {
	case Nil:
		return append(dst, "null"...)
	case Bool:
		if v.Bool {
			return append(dst, "true"...)
		}
		return append(dst, "false"...)
	case Number:
		if math.IsNaN(v.Num) || math.IsInf(v.Num, 0) {
			return append(dst, "null"...)
		}
		return append(dst, formatNumber(v.Num)...)
	case String:
		return appendJSONString(dst, v.Str)
	case Binary:
		if att != nil {
			dst = append(dst, `{"_placeholder":true,"num":`...)
			dst = strconv.AppendInt(dst, int64(len(*att)), 10)
			*att = append(*att, v.Bin)
			return append(dst, '}')
		}
		dst = append(dst, `{"type":"Buffer","data":[`...)
		for i, b := range v.Bin {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = strconv.AppendInt(dst, int64(b), 10)
		}
		return append(dst, "]}"...)
	case Array:
		dst = append(dst, '[')
		for i, e := range v.Arr {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = e.AppendJSON(dst, att)
		}
		return append(dst, ']')
	case Map:
		dst = append(dst, '{')
		for i, f := range v.Fields {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendJSONString(dst, f.Key)
			dst = append(dst, ':')
			dst = f.Val.AppendJSON(dst, att)
		}
		return append(dst, '}')
	}
	return append(dst, "null"...)
}

const hexDigits = "0123456789abcdef"

// appendJSONString quotes s as JSON.stringify does: only '"', '\\' and
// control characters are escaped.
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch c {
			case '"':
				dst = append(dst, '\\', '"')
			case '\\':
				dst = append(dst, '\\', '\\')
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				if c < 0x20 {
					dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
				} else {
					dst = append(dst, c)
				}
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, "\ufffd"...)
		} else {
			dst = append(dst, s[i:i+size]...)
		}
		i += size
	}
	return append(dst, '"')
}

// formatNumber formats f like JavaScript's Number.prototype.toString.
func formatNumber(f float64) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	}
	if f == 0 {
		return "0"
	}
	if f == math.Trunc(f) && math.Abs(f) < 1e21 {
		return strconv.FormatFloat(f, 'f', -1, 64)
	}
	abs := math.Abs(f)
	if abs >= 1e-6 && abs < 1e21 {
		return strconv.FormatFloat(f, 'f', -1, 64)
	}
	s := strconv.FormatFloat(f, 'e', -1, 64) // 1.5e-07, 1e+21
	mant, exp, _ := cutByte(s, 'e')
	sign := exp[0]
	exp = exp[1:]
	for len(exp) > 1 && exp[0] == '0' {
		exp = exp[1:]
	}
	return mant + "e" + string(sign) + exp
}

func cutByte(s string, c byte) (string, string, bool) {
	if i := bytes.IndexByte([]byte(s), c); i >= 0 {
		return s[:i], s[i+1:], true
	}
	return s, "", false
}
