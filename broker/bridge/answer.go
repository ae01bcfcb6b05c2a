package bridge

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"unicode/utf8"

	"github.com/ionbus/ionbus/broker"
	"github.com/ionbus/ionbus/broker/protocol"
)

// answer is a backend answer, validated. Every field is optional; which
// ones apply depends on the hook (see doc.go).
type answer struct {
	User  *userAnswer
	Data  json.RawMessage // nil when absent
	Rooms []string
	Ack   []any // binary markers decoded to []byte
	Emit  []emitAnswer
	Join  []string
	Leave []string
	Error *errorAnswer
}

type userAnswer struct {
	ID     string
	Name   string
	Roles  []string
	Claims map[string]any // the whole user object
}

type emitAnswer struct {
	Event string
	Args  []any
}

type errorAnswer struct {
	Code    string
	Message string
	Data    any
}

// wireAnswer is the JSON shape. Wrong types fail the decode.
type wireAnswer struct {
	User  json.RawMessage `json:"user"`
	Data  json.RawMessage `json:"data"`
	Rooms []string        `json:"rooms"`
	Ack   []any           `json:"ack"`
	Emit  []struct {
		Event string `json:"event"`
		Args  []any  `json:"args"`
	} `json:"emit"`
	Join  []string `json:"join"`
	Leave []string `json:"leave"`
	Error *struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Data    any    `json:"data"`
	} `json:"error"`
}

type wireUser struct {
	ID    string   `json:"id"`
	Name  string   `json:"name"`
	Roles []string `json:"roles"`
}

// Bounds on what an answer may ask for.
const (
	maxRoomName = 1000
	maxNameLen  = 1000 // event names and error codes
)

// decodeAnswer parses and validates an answer: one JSON object, nested at
// most maxDepth deep, valid UTF-8, fields of the documented types, room
// and event names the broker accepts, an error with a code. It never
// panics on any input (FuzzDecodeAnswer).
func decodeAnswer(body []byte, maxDepth int) (*answer, error) {
	if err := protocol.ValidJSON(body, maxDepth); err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var w wireAnswer
	if err := dec.Decode(&w); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("data after the answer")
	}
	if t := firstByte(body); t != '{' {
		return nil, fmt.Errorf("answer is not an object")
	}
	a := &answer{Rooms: w.Rooms, Join: w.Join, Leave: w.Leave}
	if w.Error != nil {
		if w.Error.Code == "" || len(w.Error.Code) > maxNameLen {
			return nil, fmt.Errorf("error without a code")
		}
		a.Error = &errorAnswer{Code: w.Error.Code, Message: w.Error.Message, Data: w.Error.Data}
	}
	if len(w.User) > 0 && !bytes.Equal(bytes.TrimSpace(w.User), []byte("null")) {
		u, err := decodeUser(w.User)
		if err != nil {
			return nil, err
		}
		a.User = u
	}
	if len(w.Data) > 0 {
		a.Data = w.Data
	}
	for _, list := range [][]string{a.Rooms, a.Join, a.Leave} {
		for _, r := range list {
			if r == "" || len(r) > maxRoomName || !utf8.ValidString(r) {
				return nil, fmt.Errorf("invalid room name")
			}
		}
	}
	var err error
	if a.Ack, err = decodeBinary(w.Ack); err != nil {
		return nil, err
	}
	for _, e := range w.Emit {
		if e.Event == "" || len(e.Event) > maxNameLen || broker.IsReservedEvent(e.Event) {
			return nil, fmt.Errorf("invalid emit event name")
		}
		args, err := decodeBinary(e.Args)
		if err != nil {
			return nil, err
		}
		a.Emit = append(a.Emit, emitAnswer{Event: e.Event, Args: args})
	}
	return a, nil
}

func decodeUser(raw json.RawMessage) (*userAnswer, error) {
	var u wireUser
	if err := json.Unmarshal(raw, &u); err != nil {
		return nil, fmt.Errorf("user: %w", err)
	}
	if u.ID == "" {
		return nil, fmt.Errorf("user without an id")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var claims map[string]any
	if err := dec.Decode(&claims); err != nil {
		return nil, fmt.Errorf("user: %w", err)
	}
	return &userAnswer{ID: u.ID, Name: u.Name, Roles: u.Roles, Claims: claims}, nil
}

func firstByte(b []byte) byte {
	for _, c := range b {
		switch c {
		case ' ', '\t', '\n', '\r':
			continue
		}
		return c
	}
	return 0
}

// Binary values cross JSON as {"_binary":true,"base64":"<std base64>"}.
const (
	binaryMarker = "_binary"
	binaryData   = "base64"
)

// encodeBinary replaces every []byte in v (as Event.Args returns them:
// []any, map[string]any) with the binary marker object, in place.
func encodeBinary(v any) any {
	switch x := v.(type) {
	case []byte:
		return map[string]any{binaryMarker: true, binaryData: base64.StdEncoding.EncodeToString(x)}
	case []any:
		for i, e := range x {
			x[i] = encodeBinary(e)
		}
	case map[string]any:
		for k, e := range x {
			x[k] = encodeBinary(e)
		}
	}
	return v
}

// decodeBinary replaces binary marker objects with []byte, in place. The
// depth is bounded by the answer's ValidJSON check.
func decodeBinary(args []any) ([]any, error) {
	for i, a := range args {
		v, err := unmarker(a)
		if err != nil {
			return nil, err
		}
		args[i] = v
	}
	return args, nil
}

func unmarker(v any) (any, error) {
	switch x := v.(type) {
	case []any:
		return decodeBinary(x)
	case map[string]any:
		if isBin, _ := x[binaryMarker].(bool); isBin {
			s, ok := x[binaryData].(string)
			if !ok {
				return nil, fmt.Errorf("binary marker without base64")
			}
			b, err := base64.StdEncoding.DecodeString(s)
			if err != nil {
				return nil, fmt.Errorf("binary marker: %w", err)
			}
			return b, nil
		}
		for k, e := range x {
			r, err := unmarker(e)
			if err != nil {
				return nil, err
			}
			x[k] = r
		}
	}
	return v, nil
}

// marshal encodes v as JSON without HTML escaping (like JSON.stringify).
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte{'\n'}), nil
}
