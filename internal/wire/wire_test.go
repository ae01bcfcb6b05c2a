package wire_test

import (
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/ionbus/ionbus/internal/wire"
)

func TestChannelNamesGolden(t *testing.T) {
	cases := []struct {
		name     wire.Name
		ns, arg  string
		expected string
	}{
		{wire.ChanBroadcast, "/", "", "socket.io#/#"},
		{wire.ChanBroadcastPattern, "/", "", "socket.io#/#*"},
		{wire.ChanRoom, "/admin", "room1", "socket.io#/admin#room1#"},
		{wire.ChanRequest, "/", "", "socket.io-request#/#"},
		{wire.ChanResponse, "/", "", "socket.io-response#/#"},
		{wire.ChanNodeResponse, "/", "abc123", "socket.io-response#/#abc123#"},
		{wire.KeyHeartbeat, "", "abc123", "socket.io-node#abc123"},
	}
	for _, c := range cases {
		if got := wire.Channel(c.name, "socket.io", c.ns, c.arg); got != c.expected {
			t.Errorf("Channel(%d) = %q, want %q", c.name, got, c.expected)
		}
	}
}

func TestDecodeHostile(t *testing.T) {
	inputs := [][]byte{
		nil, {0xc1}, {0xdd, 0xff, 0xff, 0xff, 0xff}, {0xdf, 0xff, 0xff, 0xff, 0xff}, {0xdb, 0xff, 0xff, 0xff, 0xff},
		{0x92, 0x01}, {0x01, 0x02}, {0xc7, 0x01}, {0xd6, 0xff, 0, 0}, {0xc6, 0x7f, 0xff, 0xff, 0xff},
	}
	deep := make([]byte, 0, 200)
	for i := 0; i < 200; i++ {
		deep = append(deep, 0x91)
	}
	inputs = append(inputs, append(deep, 0xc0))
	for _, in := range inputs {
		if _, err := wire.DecodeMsgpack(in); err == nil {
			t.Errorf("DecodeMsgpack(%x) accepted", in)
		}
	}
}

func TestPlaceholders(t *testing.T) {
	v, err := wire.ParseJSON([]byte(`["ev",{"_placeholder":true,"num":1},{"k":{"_placeholder":true,"num":0}}]`), [][]byte{[]byte("a"), []byte("b")})
	if err != nil {
		t.Fatal(err)
	}
	js, att := v.JSONWithPlaceholders()
	// Depth-first renumbering, as socket.io-parser's deconstructPacket does.
	if string(js) != `["ev",{"_placeholder":true,"num":0},{"k":{"_placeholder":true,"num":1}}]` || string(att[0]) != "b" || string(att[1]) != "a" {
		t.Fatalf("%s %q", js, att)
	}
	if _, err := wire.ParseJSON([]byte(`[{"_placeholder":true,"num":5}]`), [][]byte{}); err == nil {
		t.Fatal("out-of-range placeholder accepted")
	}
}

func FuzzDecodeMsgpack(f *testing.F) {
	f.Add([]byte{0x93, 0xa1, 0x61, 0x81, 0xa1, 0x62, 0xc4, 0x01, 0x00, 0xcb, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := wire.DecodeMsgpack(b)
		if err != nil {
			return
		}
		_ = v.JSON()
		if _, err := wire.DecodeMsgpack(v.Msgpack()); err != nil {
			t.Fatalf("re-encoded value does not decode: %v", err)
		}
	})
}

// FuzzParseJSON: the hand-written parser accepts exactly what
// encoding/json accepts and yields the same data.
func FuzzParseJSON(f *testing.F) {
	for _, s := range []string{`{"a":[1,2.5,"x\u00e9\ud83d\ude00",null,true,false,{"b":-0}]}`, `"\ud800"`, `1e400`, `[1,]`, `{"a":1,"a":2}`, ` [ ] `, `-`, `01`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := wire.ParseJSON(b, nil)
		var ref any
		refErr := json.Unmarshal(b, &ref)
		if refErr != nil {
			var se *json.SyntaxError
			if errors.As(refErr, &se) && err == nil {
				t.Fatalf("accepted invalid JSON %q", b)
			}
			return
		}
		if err != nil {
			if strings.Contains(err.Error(), "nesting") {
				return
			}
			t.Fatalf("rejected valid JSON %q: %v", b, err)
		}
		if !utf8.Valid(b) {
			return // replacement-character details differ
		}
		var back any
		if err := json.Unmarshal(v.JSON(), &back); err != nil {
			t.Fatalf("re-encoded %q invalid: %s", b, v.JSON())
		}
		if !reflect.DeepEqual(normalize(back), normalize(ref)) {
			t.Fatalf("%q: got %s", b, v.JSON())
		}
	})
}

// normalize maps values JSON.stringify changes (non-finite numbers) to nil.
func normalize(x any) any {
	switch v := x.(type) {
	case float64:
		if math.IsInf(v, 0) || math.IsNaN(v) {
			return nil
		}
	case []any:
		for i := range v {
			v[i] = normalize(v[i])
		}
	case map[string]any:
		for k := range v {
			v[k] = normalize(v[k])
		}
	}
	return x
}
