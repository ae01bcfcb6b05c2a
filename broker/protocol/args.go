package protocol

import (
	"bytes"
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"slices"
	"strconv"
	"unicode/utf8"
)

// DecodeArgs parses a JSON array packet payload into Go values: numbers as json.Number (text
// preserved), objects map[string]any, arrays []any, strings string, true/false bool, null nil.
//
// When attachments is non-empty (a binary packet) every object whose "_placeholder" member is
// true is replaced by attachments[num] (not copied); a num that is not an integer in
// [0, len(attachments)) is an error wrapping ErrInvalidPacket. When attachments is empty the
// packet is not binary and placeholder-shaped objects are left as plain maps, as in the
// reference parser. Empty data gives (nil, nil); data that is not an array is an error.
func DecodeArgs(data json.RawMessage, attachments [][]byte) ([]any, error) {
	if len(data) == 0 {
		return nil, nil
	}
	// Bound the nesting (encoding/json alone allows 10000 levels, more than EncodeArgs takes
	// back) and reject invalid UTF-8 the same way the Decoder does.
	if err := ValidJSON(data, MaxArgsDepth); err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("%w: args: %v", ErrInvalidPacket, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, invalid("args: unexpected data after JSON value")
	}
	args, ok := v.([]any)
	if !ok {
		return nil, invalid("args: payload is not an array")
	}
	if len(attachments) == 0 {
		return args, nil
	}
	for i, a := range args {
		r, err := reconstruct(a, attachments)
		if err != nil {
			return nil, err
		}
		args[i] = r
	}
	return args, nil
}

// reconstruct replaces placeholders in v, mirroring the reference _reconstructPacket.
func reconstruct(v any, attachments [][]byte) (any, error) {
	switch x := v.(type) {
	case []any:
		for i, e := range x {
			r, err := reconstruct(e, attachments)
			if err != nil {
				return nil, err
			}
			x[i] = r
		}
	case map[string]any:
		if ph, _ := x[keyPlaceholder].(bool); ph {
			num, _ := x[keyNum].(json.Number)
			if !validNum([]byte(num), len(attachments)) {
				return nil, invalid("illegal attachments: placeholder num %q not an integer in [0, %d)", string(num), len(attachments))
			}
			f, _ := strconv.ParseFloat(string(num), 64)
			if b := attachments[int(f)]; b != nil {
				return b, nil
			}
			return []byte{}, nil // a nil attachment would encode as null, not as binary
		}
		for k, e := range x {
			r, err := reconstruct(e, attachments)
			if err != nil {
				return nil, err
			}
			x[k] = r
		}
	}
	return v, nil
}

// MaxArgsDepth is the JSON nesting DecodeArgs accepts (the outer array counts as 1). EncodeArgs
// accepts at least as much, so whatever DecodeArgs returns can be encoded again.
const MaxArgsDepth = 1000

// maxEncodeDepth bounds the recursion of EncodeArgs and HasBinary (guards against cycles).
const maxEncodeDepth = MaxArgsDepth

var errEncodeDepth = errors.New("protocol: args: nesting exceeds 1000 levels (cycle?)")

// EncodeArgs is the inverse of DecodeArgs: it builds the JSON array text from Go values,
// replacing every non-nil []byte (at any depth inside slices, arrays, string-keyed maps, pointers and
// interfaces) with {"_placeholder":true,"num":N} and collecting the attachments in order (not
// copied).
//
// json.RawMessage values are embedded verbatim (after a validity check); json.Number as its
// text; strings without HTML escaping (like JSON.stringify); map keys sorted. Everything else
// (structs, numbers, types implementing json.Marshaler or encoding.TextMarshaler, maps with
// non-string keys) goes through encoding/json, so a []byte field inside a struct is
// base64-encoded there, not sent as an attachment. Feed the result to Packet.Data and
// Packet.Attachments; Encode then picks the binary packet type.
func EncodeArgs(args []any) (json.RawMessage, [][]byte, error) {
	e := argEncoder{buf: make([]byte, 0, 64)}
	e.buf = append(e.buf, '[')
	for i, a := range args {
		if i > 0 {
			e.buf = append(e.buf, ',')
		}
		if err := e.encode(a, 0); err != nil {
			return nil, nil, err
		}
	}
	e.buf = append(e.buf, ']')
	return e.buf, e.attachments, nil
}

type argEncoder struct {
	buf         []byte
	attachments [][]byte
}

var (
	marshalerType     = reflect.TypeFor[json.Marshaler]()
	textMarshalerType = reflect.TypeFor[encoding.TextMarshaler]()
)

func (e *argEncoder) encode(v any, depth int) error {
	if depth > maxEncodeDepth {
		return errEncodeDepth
	}
	// Fast paths for what DecodeArgs produces and common argument types.
	switch x := v.(type) {
	case nil:
		e.buf = append(e.buf, "null"...)
		return nil
	case string:
		e.buf = appendString(e.buf, x)
		return nil
	case bool:
		e.buf = strconv.AppendBool(e.buf, x)
		return nil
	case json.Number:
		if x == "" {
			x = "0" // as encoding/json does
		}
		if !validNumber(string(x)) {
			return fmt.Errorf("protocol: args: invalid json.Number %q", string(x))
		}
		e.buf = append(e.buf, x...)
		return nil
	case json.RawMessage:
		if x == nil {
			e.buf = append(e.buf, "null"...)
			return nil
		}
		if err := ValidJSON(x, math.MaxInt32); err != nil {
			return fmt.Errorf("protocol: args: json.RawMessage: %w", err)
		}
		e.buf = append(e.buf, x...)
		return nil
	case []byte:
		if x == nil {
			e.buf = append(e.buf, "null"...) // as encoding/json; not an attachment
			return nil
		}
		e.placeholder(x)
		return nil
	case []any:
		if x == nil {
			e.buf = append(e.buf, "null"...)
			return nil
		}
		e.buf = append(e.buf, '[')
		for i, el := range x {
			if i > 0 {
				e.buf = append(e.buf, ',')
			}
			if err := e.encode(el, depth+1); err != nil {
				return err
			}
		}
		e.buf = append(e.buf, ']')
		return nil
	case map[string]any:
		if x == nil {
			e.buf = append(e.buf, "null"...)
			return nil
		}
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		e.buf = append(e.buf, '{')
		for i, k := range keys {
			if i > 0 {
				e.buf = append(e.buf, ',')
			}
			e.buf = appendString(e.buf, k)
			e.buf = append(e.buf, ':')
			if err := e.encode(x[k], depth+1); err != nil {
				return err
			}
		}
		e.buf = append(e.buf, '}')
		return nil
	}
	return e.encodeReflect(reflect.ValueOf(v), depth)
}

func (e *argEncoder) placeholder(b []byte) {
	e.buf = append(e.buf, `{"_placeholder":true,"num":`...)
	e.buf = strconv.AppendInt(e.buf, int64(len(e.attachments)), 10)
	e.buf = append(e.buf, '}')
	e.attachments = append(e.attachments, b)
}

// walkable reports whether EncodeArgs/HasBinary look inside values of type t themselves rather
// than handing them to encoding/json.
func walkable(t reflect.Type) bool {
	if t.Implements(marshalerType) || t.Implements(textMarshalerType) {
		return false
	}
	switch t.Kind() {
	case reflect.Slice, reflect.Array, reflect.Pointer, reflect.Interface:
		return true
	case reflect.Map:
		return t.Key().Kind() == reflect.String
	}
	return false
}

func isByteSlice(t reflect.Type) bool {
	return t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Uint8 &&
		!t.Implements(marshalerType) && !t.Implements(textMarshalerType)
}

func (e *argEncoder) encodeReflect(rv reflect.Value, depth int) error {
	if !rv.IsValid() {
		e.buf = append(e.buf, "null"...)
		return nil
	}
	t := rv.Type()
	if isByteSlice(t) {
		if rv.IsNil() {
			e.buf = append(e.buf, "null"...)
			return nil
		}
		e.placeholder(rv.Bytes())
		return nil
	}
	if !walkable(t) {
		return e.encodeStd(rv.Interface())
	}
	switch t.Kind() {
	case reflect.Pointer, reflect.Interface:
		if rv.IsNil() {
			e.buf = append(e.buf, "null"...)
			return nil
		}
		return e.encode(rv.Elem().Interface(), depth+1)
	case reflect.Slice, reflect.Array:
		if t.Kind() == reflect.Slice && rv.IsNil() {
			e.buf = append(e.buf, "null"...)
			return nil
		}
		if t.Kind() == reflect.Array && t.Elem().Kind() == reflect.Uint8 {
			return e.encodeStd(rv.Interface()) // [N]byte is a JSON array of numbers
		}
		e.buf = append(e.buf, '[')
		for i := range rv.Len() {
			if i > 0 {
				e.buf = append(e.buf, ',')
			}
			if err := e.encode(rv.Index(i).Interface(), depth+1); err != nil {
				return err
			}
		}
		e.buf = append(e.buf, ']')
		return nil
	case reflect.Map:
		if rv.IsNil() {
			e.buf = append(e.buf, "null"...)
			return nil
		}
		keys := rv.MapKeys()
		slices.SortFunc(keys, func(a, b reflect.Value) int {
			switch {
			case a.String() < b.String():
				return -1
			case a.String() > b.String():
				return 1
			}
			return 0
		})
		e.buf = append(e.buf, '{')
		for i, k := range keys {
			if i > 0 {
				e.buf = append(e.buf, ',')
			}
			e.buf = appendString(e.buf, k.String())
			e.buf = append(e.buf, ':')
			if err := e.encode(rv.MapIndex(k).Interface(), depth+1); err != nil {
				return err
			}
		}
		e.buf = append(e.buf, '}')
		return nil
	}
	return e.encodeStd(rv.Interface())
}

// encodeStd appends v encoded by encoding/json without HTML escaping.
func (e *argEncoder) encodeStd(v any) error {
	var w bytes.Buffer
	enc := json.NewEncoder(&w)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("protocol: args: %w", err)
	}
	e.buf = append(e.buf, bytes.TrimSuffix(w.Bytes(), []byte("\n"))...)
	return nil
}

// HasBinary reports whether v contains a non-nil []byte anywhere EncodeArgs would turn into an
// attachment (that is, EncodeArgs([]any{v}) returns attachments).
func HasBinary(v any) bool {
	return hasBinary(v, 0)
}

func hasBinary(v any, depth int) bool {
	if depth > maxEncodeDepth {
		return false
	}
	switch x := v.(type) {
	case nil, string, bool, json.Number, json.RawMessage:
		return false
	case []byte:
		return x != nil
	case []any:
		for _, el := range x {
			if hasBinary(el, depth+1) {
				return true
			}
		}
		return false
	case map[string]any:
		for _, el := range x {
			if hasBinary(el, depth+1) {
				return true
			}
		}
		return false
	}
	rv := reflect.ValueOf(v)
	t := rv.Type()
	if isByteSlice(t) {
		return !rv.IsNil()
	}
	if !walkable(t) {
		return false
	}
	switch t.Kind() {
	case reflect.Pointer, reflect.Interface:
		return !rv.IsNil() && hasBinary(rv.Elem().Interface(), depth+1)
	case reflect.Slice, reflect.Array:
		if t.Kind() == reflect.Array && t.Elem().Kind() == reflect.Uint8 {
			return false
		}
		for i := range rv.Len() {
			if hasBinary(rv.Index(i).Interface(), depth+1) {
				return true
			}
		}
	case reflect.Map:
		iter := rv.MapRange()
		for iter.Next() {
			if hasBinary(iter.Value().Interface(), depth+1) {
				return true
			}
		}
	}
	return false
}

// appendString appends s as a JSON string: like encoding/json without HTML escaping (invalid
// UTF-8 becomes U+FFFD; U+2028/U+2029 are escaped).
func appendString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hex[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
