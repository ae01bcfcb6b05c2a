package wire

import (
	"errors"
	"math"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

var errJSON = errors.New("wire: invalid JSON")

// jsonParser is a small allocation-lean JSON parser producing Values with
// JSON.parse semantics (key order kept, last duplicate key wins in the
// first key's position, numbers as float64).
type jsonParser struct {
	b   []byte
	i   int
	att [][]byte
}

func parseJSONFast(b []byte, att [][]byte) (Value, error) {
	p := jsonParser{b: b, att: att}
	v, err := p.value(0)
	if err != nil {
		return Value{}, err
	}
	p.ws()
	if p.i != len(p.b) {
		return Value{}, errors.New("wire: trailing data after JSON value")
	}
	return v, nil
}

func (p *jsonParser) ws() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *jsonParser) value(depth int) (Value, error) {
	if depth > MaxDepth {
		return Value{}, errDepth
	}
	p.ws()
	if p.i >= len(p.b) {
		return Value{}, errJSON
	}
	switch c := p.b[p.i]; {
	case c == '{':
		return p.object(depth)
	case c == '[':
		p.i++
		arr := []Value{}
		p.ws()
		if p.i < len(p.b) && p.b[p.i] == ']' {
			p.i++
			return Value{Type: Array, Arr: arr}, nil
		}
		for {
			e, err := p.value(depth + 1)
			if err != nil {
				return Value{}, err
			}
			arr = append(arr, e)
			p.ws()
			if p.i >= len(p.b) {
				return Value{}, errJSON
			}
			if p.b[p.i] == ',' {
				p.i++
				continue
			}
			if p.b[p.i] == ']' {
				p.i++
				return Value{Type: Array, Arr: arr}, nil
			}
			return Value{}, errJSON
		}
	case c == '"':
		s, err := p.str()
		if err != nil {
			return Value{}, err
		}
		return S(s), nil
	case c == 't':
		return B(true), p.lit("true")
	case c == 'f':
		return B(false), p.lit("false")
	case c == 'n':
		return Value{}, p.lit("null")
	case c == '-' || (c >= '0' && c <= '9'):
		return p.number()
	}
	return Value{}, errJSON
}

func (p *jsonParser) lit(s string) error {
	if len(p.b)-p.i < len(s) || string(p.b[p.i:p.i+len(s)]) != s {
		return errJSON
	}
	p.i += len(s)
	return nil
}

func (p *jsonParser) object(depth int) (Value, error) {
	p.i++ // '{'
	fields := []Field{}
	p.ws()
	if p.i < len(p.b) && p.b[p.i] == '}' {
		p.i++
		return p.finishObject(fields)
	}
	for {
		p.ws()
		if p.i >= len(p.b) || p.b[p.i] != '"' {
			return Value{}, errJSON
		}
		k, err := p.str()
		if err != nil {
			return Value{}, err
		}
		p.ws()
		if p.i >= len(p.b) || p.b[p.i] != ':' {
			return Value{}, errJSON
		}
		p.i++
		e, err := p.value(depth + 1)
		if err != nil {
			return Value{}, err
		}
		replaced := false
		for j := range fields {
			if fields[j].Key == k {
				fields[j].Val, replaced = e, true
			}
		}
		if !replaced {
			fields = append(fields, Field{k, e})
		}
		p.ws()
		if p.i >= len(p.b) {
			return Value{}, errJSON
		}
		if p.b[p.i] == ',' {
			p.i++
			continue
		}
		if p.b[p.i] == '}' {
			p.i++
			return p.finishObject(fields)
		}
		return Value{}, errJSON
	}
}

// finishObject resolves Socket.IO attachment placeholders.
func (p *jsonParser) finishObject(fields []Field) (Value, error) {
	v := Value{Type: Map, Fields: fields}
	if p.att == nil {
		return v, nil
	}
	if ph, ok := v.Get("_placeholder"); ok && ph.Type == Bool && ph.Bool {
		num, ok := v.Get("num")
		if !ok || num.Type != Number || num.Num < 0 || num.Num >= float64(len(p.att)) || num.Num != math.Floor(num.Num) {
			return Value{}, errors.New("wire: illegal attachment placeholder")
		}
		return Bytes(p.att[int(num.Num)]), nil
	}
	return v, nil
}

func (p *jsonParser) str() (string, error) {
	p.i++ // opening quote
	start := p.i
	for p.i < len(p.b) {
		c := p.b[p.i]
		if c == '"' {
			s := string(p.b[start:p.i])
			p.i++
			return s, nil
		}
		if c == '\\' {
			return p.strSlow(start)
		}
		if c < 0x20 {
			return "", errJSON
		}
		p.i++
	}
	return "", errJSON
}

func (p *jsonParser) strSlow(start int) (string, error) {
	buf := append([]byte(nil), p.b[start:p.i]...)
	for p.i < len(p.b) {
		c := p.b[p.i]
		switch {
		case c == '"':
			p.i++
			return string(buf), nil
		case c < 0x20:
			return "", errJSON
		case c != '\\':
			buf = append(buf, c)
			p.i++
			continue
		}
		p.i++
		if p.i >= len(p.b) {
			return "", errJSON
		}
		e := p.b[p.i]
		p.i++
		switch e {
		case '"', '\\', '/':
			buf = append(buf, e)
		case 'b':
			buf = append(buf, '\b')
		case 'f':
			buf = append(buf, '\f')
		case 'n':
			buf = append(buf, '\n')
		case 'r':
			buf = append(buf, '\r')
		case 't':
			buf = append(buf, '\t')
		case 'u':
			r, ok := p.hex4()
			if !ok {
				return "", errJSON
			}
			if utf16.IsSurrogate(r) {
				// A valid pair becomes one code point; a lone surrogate
				// (legal in JSON.parse) has no UTF-8 form: U+FFFD, as
				// Buffer.from(string) would write it.
				if p.i+1 < len(p.b) && p.b[p.i] == '\\' && p.b[p.i+1] == 'u' {
					save := p.i
					p.i += 2
					r2, ok := p.hex4()
					if ok {
						if d := utf16.DecodeRune(r, r2); d != utf8.RuneError {
							buf = utf8.AppendRune(buf, d)
							continue
						}
					}
					p.i = save
				}
				r = utf8.RuneError
			}
			buf = utf8.AppendRune(buf, r)
		default:
			return "", errJSON
		}
	}
	return "", errJSON
}

func (p *jsonParser) hex4() (rune, bool) {
	if len(p.b)-p.i < 4 {
		return 0, false
	}
	var r rune
	for _, c := range p.b[p.i : p.i+4] {
		r <<= 4
		switch {
		case c >= '0' && c <= '9':
			r |= rune(c - '0')
		case c >= 'a' && c <= 'f':
			r |= rune(c - 'a' + 10)
		case c >= 'A' && c <= 'F':
			r |= rune(c - 'A' + 10)
		default:
			return 0, false
		}
	}
	p.i += 4
	return r, true
}

// number validates the JSON number grammar and parses like JSON.parse.
func (p *jsonParser) number() (Value, error) {
	start := p.i
	if p.b[p.i] == '-' {
		p.i++
	}
	if p.i >= len(p.b) {
		return Value{}, errJSON
	}
	if p.b[p.i] == '0' {
		p.i++
	} else if p.b[p.i] >= '1' && p.b[p.i] <= '9' {
		for p.i < len(p.b) && p.b[p.i] >= '0' && p.b[p.i] <= '9' {
			p.i++
		}
	} else {
		return Value{}, errJSON
	}
	if p.i < len(p.b) && p.b[p.i] == '.' {
		p.i++
		d := p.i
		for p.i < len(p.b) && p.b[p.i] >= '0' && p.b[p.i] <= '9' {
			p.i++
		}
		if p.i == d {
			return Value{}, errJSON
		}
	}
	if p.i < len(p.b) && (p.b[p.i] == 'e' || p.b[p.i] == 'E') {
		p.i++
		if p.i < len(p.b) && (p.b[p.i] == '+' || p.b[p.i] == '-') {
			p.i++
		}
		d := p.i
		for p.i < len(p.b) && p.b[p.i] >= '0' && p.b[p.i] <= '9' {
			p.i++
		}
		if p.i == d {
			return Value{}, errJSON
		}
	}
	lit := p.b[start:p.i]
	// Fast path: short integers.
	if len(lit) < 16 {
		if n, err := strconv.ParseInt(string(lit), 10, 64); err == nil {
			if n == 0 && lit[0] == '-' {
				return N(math.Copysign(0, -1)), nil
			}
			return N(float64(n)), nil
		}
	}
	f, err := strconv.ParseFloat(string(lit), 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return Value{}, errJSON
	}
	return N(f), nil
}
