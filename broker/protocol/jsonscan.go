package protocol

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"unicode/utf8"
)

// ValidJSON checks that data is exactly one valid JSON value (surrounding whitespace allowed),
// nested at most maxDepth arrays/objects deep (maxDepth <= 0 means DefaultMaxDepth), with
// valid UTF-8 inside strings. It allocates nothing. Errors wrap ErrInvalidPacket or ErrTooDeep.
//
// Invalid UTF-8 is rejected (unlike encoding/json.Valid) because the payload is relayed in
// WebSocket text frames, which browsers drop the connection for when they are not UTF-8.
func ValidJSON(data []byte, maxDepth int) error {
	s := scanner{data: data, maxDepth: maxDepth}
	if s.maxDepth <= 0 {
		s.maxDepth = DefaultMaxDepth
	}
	_, err := s.document()
	return err
}

// scanner is a recursive-descent JSON validator. Recursion is bounded by maxDepth.
//
// When attachments > 0 it also checks binary placeholders the way the reference
// reconstructPacket does: an object whose "_placeholder" member is the literal true must have a
// "num" member that is an integer in [0, attachments). An object that is a placeholder hides
// its own members (the reference replaces it without looking inside).
type scanner struct {
	data        []byte
	pos         int
	depth       int
	maxDepth    int
	attachments int
}

// document scans one complete value. badPlaceholder reports a placeholder with an invalid num.
func (s *scanner) document() (badPlaceholder bool, err error) {
	s.skipSpace()
	bad, err := s.value()
	if err != nil {
		return false, err
	}
	s.skipSpace()
	if s.pos != len(s.data) {
		return false, s.syntaxError("unexpected data after JSON value")
	}
	return bad, nil
}

func (s *scanner) syntaxError(msg string) error {
	return fmt.Errorf("%w: JSON: %s at offset %d", ErrInvalidPacket, msg, s.pos)
}

func (s *scanner) skipSpace() {
	for s.pos < len(s.data) {
		switch s.data[s.pos] {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return
		}
	}
}

func (s *scanner) value() (bool, error) {
	if s.pos >= len(s.data) {
		return false, s.syntaxError("unexpected end of input")
	}
	switch c := s.data[s.pos]; c {
	case '{':
		return s.object()
	case '[':
		return s.array()
	case '"':
		_, err := s.str()
		return false, err
	case 't':
		return false, s.literal("true")
	case 'f':
		return false, s.literal("false")
	case 'n':
		return false, s.literal("null")
	default:
		if c == '-' || (c >= '0' && c <= '9') {
			return false, s.number()
		}
		return false, s.syntaxError("invalid character " + strconv.QuoteRune(rune(c)))
	}
}

func (s *scanner) enter() error {
	s.depth++
	if s.depth > s.maxDepth {
		return fmt.Errorf("%w: more than %d levels at offset %d", ErrTooDeep, s.maxDepth, s.pos)
	}
	return nil
}

func (s *scanner) array() (bool, error) {
	if err := s.enter(); err != nil {
		return false, err
	}
	s.pos++ // '['
	s.skipSpace()
	anyBad := false
	if s.pos < len(s.data) && s.data[s.pos] == ']' {
		s.pos++
		s.depth--
		return false, nil
	}
	for {
		s.skipSpace()
		bad, err := s.value()
		if err != nil {
			return false, err
		}
		anyBad = anyBad || bad
		s.skipSpace()
		if s.pos >= len(s.data) {
			return false, s.syntaxError("unexpected end of input in array")
		}
		switch s.data[s.pos] {
		case ',':
			s.pos++
		case ']':
			s.pos++
			s.depth--
			return anyBad, nil
		default:
			return false, s.syntaxError("expected ',' or ']'")
		}
	}
}

// placeholder member keys, see scanner.
const (
	keyPlaceholder = "_placeholder"
	keyNum         = "num"
)

func (s *scanner) object() (bool, error) {
	if err := s.enter(); err != nil {
		return false, err
	}
	s.pos++ // '{'
	s.skipSpace()
	if s.pos < len(s.data) && s.data[s.pos] == '}' {
		s.pos++
		s.depth--
		return false, nil
	}
	var (
		anyBad      bool
		placeholder bool // last "_placeholder" member was literal true
		numValid    bool // last "num" member was an in-range integer
	)
	for {
		s.skipSpace()
		if s.pos >= len(s.data) || s.data[s.pos] != '"' {
			return false, s.syntaxError("expected object key")
		}
		keyStart := s.pos
		escaped, err := s.str()
		if err != nil {
			return false, err
		}
		key := s.data[keyStart+1 : s.pos-1]
		s.skipSpace()
		if s.pos >= len(s.data) || s.data[s.pos] != ':' {
			return false, s.syntaxError("expected ':' after object key")
		}
		s.pos++
		s.skipSpace()
		valStart := s.pos
		bad, err := s.value()
		if err != nil {
			return false, err
		}
		anyBad = anyBad || bad
		if s.attachments > 0 {
			k := s.keyName(key, keyStart, escaped)
			switch k {
			case keyPlaceholder:
				placeholder = string(s.data[valStart:s.pos]) == "true"
			case keyNum:
				numValid = validNum(s.data[valStart:s.pos], s.attachments)
			}
		}
		s.skipSpace()
		if s.pos >= len(s.data) {
			return false, s.syntaxError("unexpected end of input in object")
		}
		switch s.data[s.pos] {
		case ',':
			s.pos++
		case '}':
			s.pos++
			s.depth--
			if placeholder {
				return !numValid, nil
			}
			return anyBad, nil
		default:
			return false, s.syntaxError("expected ',' or '}'")
		}
	}
}

// keyName returns the key if it may be one of the placeholder keys ("" otherwise), unescaping
// only when the raw key contains escapes (rare; the reference sees the decoded key).
func (s *scanner) keyName(raw []byte, start int, escaped bool) string {
	if !escaped {
		switch string(raw) {
		case keyPlaceholder:
			return keyPlaceholder
		case keyNum:
			return keyNum
		}
		return ""
	}
	var k string
	if json.Unmarshal(s.data[start:start+len(raw)+2], &k) != nil {
		return ""
	}
	return k
}

// validNum reports whether a JSON value is a number holding an integer in [0, n).
func validNum(v []byte, n int) bool {
	if len(v) == 0 || (v[0] != '-' && (v[0] < '0' || v[0] > '9')) {
		return false
	}
	f, err := strconv.ParseFloat(string(v), 64)
	if err != nil || f != math.Trunc(f) {
		return false
	}
	return f >= 0 && f < float64(n)
}

// str scans a string starting at the opening quote. escaped reports whether it contains
// backslash escapes.
func (s *scanner) str() (escaped bool, err error) {
	s.pos++ // opening quote
	for s.pos < len(s.data) {
		c := s.data[s.pos]
		if c >= 0x20 && c < utf8.RuneSelf && c != '"' && c != '\\' {
			s.pos++ // plain ASCII, the common case
			continue
		}
		switch {
		case c == '"':
			s.pos++
			return escaped, nil
		case c == '\\':
			escaped = true
			s.pos++
			if s.pos >= len(s.data) {
				return false, s.syntaxError("unexpected end of input in string escape")
			}
			switch s.data[s.pos] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				s.pos++
			case 'u':
				s.pos++
				for i := 0; i < 4; i++ {
					if s.pos >= len(s.data) || !isHex(s.data[s.pos]) {
						return false, s.syntaxError("invalid \\u escape")
					}
					s.pos++
				}
			default:
				return false, s.syntaxError("invalid escape")
			}
		case c < 0x20:
			return false, s.syntaxError("control character in string")
		case c < utf8.RuneSelf:
			s.pos++
		default:
			r, size := utf8.DecodeRune(s.data[s.pos:])
			if r == utf8.RuneError && size == 1 {
				return false, s.syntaxError("invalid UTF-8 in string")
			}
			s.pos += size
		}
	}
	return false, s.syntaxError("unexpected end of input in string")
}

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func (s *scanner) literal(lit string) error {
	if len(s.data)-s.pos < len(lit) || string(s.data[s.pos:s.pos+len(lit)]) != lit {
		return s.syntaxError("invalid literal")
	}
	s.pos += len(lit)
	return nil
}

// number scans -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (s *scanner) number() error {
	d := s.data
	if s.pos < len(d) && d[s.pos] == '-' {
		s.pos++
	}
	switch {
	case s.pos < len(d) && d[s.pos] == '0':
		s.pos++
	case s.pos < len(d) && d[s.pos] >= '1' && d[s.pos] <= '9':
		for s.pos < len(d) && isDigit(d[s.pos]) {
			s.pos++
		}
	default:
		return s.syntaxError("invalid number")
	}
	if s.pos < len(d) && d[s.pos] == '.' {
		s.pos++
		if s.pos >= len(d) || !isDigit(d[s.pos]) {
			return s.syntaxError("invalid number fraction")
		}
		for s.pos < len(d) && isDigit(d[s.pos]) {
			s.pos++
		}
	}
	if s.pos < len(d) && (d[s.pos] == 'e' || d[s.pos] == 'E') {
		s.pos++
		if s.pos < len(d) && (d[s.pos] == '+' || d[s.pos] == '-') {
			s.pos++
		}
		if s.pos >= len(d) || !isDigit(d[s.pos]) {
			return s.syntaxError("invalid number exponent")
		}
		for s.pos < len(d) && isDigit(d[s.pos]) {
			s.pos++
		}
	}
	return nil
}

// validNumber reports whether text is exactly one JSON number.
func validNumber(text string) bool {
	s := scanner{data: []byte(text)}
	return s.number() == nil && s.pos == len(text)
}
