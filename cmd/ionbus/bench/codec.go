package bench

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
)

// Engine.IO v4 packet types as they appear on the wire (first byte of a text message).
const (
	eioOpen    byte = '0'
	eioClose   byte = '1'
	eioPing    byte = '2'
	eioPong    byte = '3'
	eioMessage byte = '4'
	eioUpgrade byte = '5'
	eioNoop    byte = '6'
)

// Socket.IO v5 packet types (first byte after the Engine.IO '4').
const (
	sioConnect      byte = '0'
	sioDisconnect   byte = '1'
	sioEvent        byte = '2'
	sioAck          byte = '3'
	sioConnectError byte = '4'
	sioBinaryEvent  byte = '5'
	sioBinaryAck    byte = '6'
)

// pollingSeparator joins several Engine.IO packets in one HTTP long-polling body.
const pollingSeparator = '\x1e'

var (
	errEmptyPacket   = errors.New("bench: empty packet")
	errBadPacketType = errors.New("bench: unknown packet type")
	errBadAttachment = errors.New("bench: bad binary attachment count")
	errBadAckID      = errors.New("bench: ack id overflow")
)

// openPacket is the JSON body of the Engine.IO OPEN packet.
type openPacket struct {
	SID          string   `json:"sid"`
	Upgrades     []string `json:"upgrades"`
	PingInterval int64    `json:"pingInterval"` // milliseconds
	PingTimeout  int64    `json:"pingTimeout"`  // milliseconds
	MaxPayload   int64    `json:"maxPayload"`   // bytes
}

// sioPacket is a decoded Socket.IO packet. Data aliases the input buffer: it is
// valid only as long as the buffer handed to decodeSIO.
type sioPacket struct {
	Type        byte
	Namespace   string // "/" when absent on the wire
	ID          int64  // ack id; -1 when absent
	Attachments int
	Data        []byte // raw JSON (array for events/acks, object for connect)
}

// decodeSIO parses a Socket.IO packet (without the Engine.IO '4' prefix).
func decodeSIO(b []byte) (sioPacket, error) {
	p := sioPacket{Namespace: "/", ID: -1}
	if len(b) == 0 {
		return p, errEmptyPacket
	}
	p.Type = b[0]
	if p.Type < sioConnect || p.Type > sioBinaryAck {
		return p, errBadPacketType
	}
	i := 1
	if p.Type == sioBinaryEvent || p.Type == sioBinaryAck {
		j := i
		for j < len(b) && b[j] >= '0' && b[j] <= '9' {
			j++
		}
		if j == i || j >= len(b) || b[j] != '-' {
			return p, errBadAttachment
		}
		n, err := strconv.Atoi(string(b[i:j]))
		if err != nil {
			return p, errBadAttachment
		}
		p.Attachments = n
		i = j + 1
	}
	if i < len(b) && b[i] == '/' {
		j := i
		for j < len(b) && b[j] != ',' {
			j++
		}
		p.Namespace = string(b[i:j])
		if j < len(b) {
			j++ // skip ','
		}
		i = j
	}
	if i < len(b) && b[i] >= '0' && b[i] <= '9' {
		var id int64
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			if id > (1<<62)/10 {
				return p, errBadAckID
			}
			id = id*10 + int64(b[i]-'0')
			i++
		}
		p.ID = id
	}
	p.Data = b[i:]
	return p, nil
}

// appendSIO appends an Engine.IO MESSAGE carrying a Socket.IO packet:
// "4" type [nsp ","] [id] data.
func appendSIO(dst []byte, typ byte, namespace string, id int64, data []byte) []byte {
	dst = append(dst, eioMessage, typ)
	if namespace != "" && namespace != "/" {
		dst = append(dst, namespace...)
		dst = append(dst, ',')
	}
	if id >= 0 {
		dst = strconv.AppendInt(dst, id, 10)
	}
	return append(dst, data...)
}

// appendEvent appends an EVENT packet whose first argument is the event name
// and whose remaining arguments are raw JSON values.
func appendEvent(dst []byte, namespace string, id int64, event string, args ...[]byte) []byte {
	dst = append(dst, eioMessage, sioEvent)
	if namespace != "" && namespace != "/" {
		dst = append(dst, namespace...)
		dst = append(dst, ',')
	}
	if id >= 0 {
		dst = strconv.AppendInt(dst, id, 10)
	}
	dst = append(dst, '[')
	dst = strconv.AppendQuote(dst, event) // Go quoting is valid JSON for printable ASCII names
	for _, a := range args {
		dst = append(dst, ',')
		dst = append(dst, a...)
	}
	return append(dst, ']')
}

// eventName returns the event name of an EVENT payload (a JSON array whose
// first element is a string) and the bytes after it (",arg...]" or "]").
func eventName(data []byte) (string, []byte, bool) {
	if len(data) < 3 || data[0] != '[' || data[1] != '"' {
		return "", nil, false
	}
	escaped := false
	for i := 2; i < len(data); i++ {
		switch data[i] {
		case '\\':
			escaped = true
			i++
		case '"':
			rest := data[i+1:]
			if !escaped {
				return string(data[2:i]), rest, true
			}
			var s string
			if err := json.Unmarshal(data[1:i+1], &s); err != nil {
				return "", nil, false
			}
			return s, rest, true
		}
	}
	return "", nil, false
}

// splitPolling splits an HTTP long-polling body into Engine.IO packets.
func splitPolling(body []byte) [][]byte {
	var out [][]byte
	start := 0
	for i, c := range body {
		if c == pollingSeparator {
			out = append(out, body[start:i])
			start = i + 1
		}
	}
	return append(out, body[start:])
}

// benchStamp is the payload the fanout trigger embeds in every broadcast.
type benchStamp struct {
	Seq  int64
	Unix int64 // trigger send time, unix nanoseconds
}

// parseStamp finds "seq" and "t" integers in the first object of rest (the
// bytes after the event name). It avoids a full JSON decode on the hot path
// and falls back to encoding/json when the fast scan does not match.
func parseStamp(rest []byte) (benchStamp, bool) {
	seq, ok1 := intField(rest, keySeq)
	t, ok2 := intField(rest, keyT)
	if ok1 && ok2 {
		return benchStamp{Seq: seq, Unix: t}, true
	}
	var args []json.RawMessage
	if err := json.Unmarshal(append([]byte{'[', '0'}, rest...), &args); err != nil || len(args) < 2 {
		return benchStamp{}, false
	}
	var v struct {
		Seq *int64 `json:"seq"`
		T   *int64 `json:"t"`
	}
	if err := json.Unmarshal(args[1], &v); err != nil || v.Seq == nil || v.T == nil {
		return benchStamp{}, false
	}
	return benchStamp{Seq: *v.Seq, Unix: *v.T}, true
}

var (
	keySeq = []byte(`"seq":`)
	keyT   = []byte(`"t":`)
)

func intField(b []byte, key []byte) (int64, bool) {
	idx := bytes.Index(b, key)
	if idx < 0 {
		return 0, false
	}
	i := idx + len(key)
	for i < len(b) && b[i] == ' ' {
		i++
	}
	neg := false
	if i < len(b) && b[i] == '-' {
		neg = true
		i++
	}
	start := i
	var v int64
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		v = v*10 + int64(b[i]-'0')
		i++
	}
	if i == start || i-start > 19 {
		return 0, false
	}
	if i < len(b) && (b[i] == '.' || b[i] == 'e' || b[i] == 'E') {
		return 0, false // not an integer: let encoding/json decide
	}
	if neg {
		v = -v
	}
	return v, true
}
