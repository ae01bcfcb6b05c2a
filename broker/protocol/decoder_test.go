package protocol

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestDecodeLenient(t *testing.T) {
	// Inputs the reference parser accepts that do not match the canonical encoding.
	tests := []struct {
		name      string
		wire      string
		want      Packet
		canonical string
	}{
		{"namespace without comma", `1/admin`, Packet{Type: PacketDisconnect, Namespace: "/admin", ID: NoID}, `1/admin,`},
		{"connect namespace without comma", `0/admin`, Packet{Type: PacketConnect, Namespace: "/admin", ID: NoID}, `0/admin,`},
		{"explicit root namespace", `2/,["a"]`, Packet{Type: PacketEvent, Namespace: "/", ID: NoID, Data: raw(`["a"]`)}, `2["a"]`},
		{"leading zeros in id", `2007["a"]`, Packet{Type: PacketEvent, Namespace: "/", ID: 7, Data: raw(`["a"]`)}, `27["a"]`},
		{"whitespace kept verbatim", "2 [ \"a\" , 1 ]\n", Packet{Type: PacketEvent, Namespace: "/", ID: NoID, Data: raw(" [ \"a\" , 1 ]\n")}, "2 [ \"a\" , 1 ]\n"},
		{"ack without id", `3["a"]`, Packet{Type: PacketAck, Namespace: "/", ID: NoID, Data: raw(`["a"]`)}, `3["a"]`},
		{"placeholder in non-binary packet is data", `2["a",{"_placeholder":true,"num":5}]`,
			Packet{Type: PacketEvent, Namespace: "/", ID: NoID, Data: raw(`["a",{"_placeholder":true,"num":5}]`)},
			`2["a",{"_placeholder":true,"num":5}]`},
		{"namespace with odd characters", `2/a b?c=1&d,["x"]`, Packet{Type: PacketEvent, Namespace: "/a b?c=1&d", ID: NoID, Data: raw(`["x"]`)}, `2/a b?c=1&d,["x"]`},
		{"placeholder num as 0e0 and -0", `62-[{"_placeholder":true,"num":0e0},{"_placeholder":true,"num":-0}]`,
			Packet{Type: PacketAck, Namespace: "/", ID: NoID, Data: raw(`[{"_placeholder":true,"num":0e0},{"_placeholder":true,"num":-0}]`),
				Attachments: [][]byte{{1}, {2}}}, `62-[{"_placeholder":true,"num":0e0},{"_placeholder":true,"num":-0}]`},
		{"unused attachment", `52-["a",{"_placeholder":true,"num":1}]`,
			Packet{Type: PacketEvent, Namespace: "/", ID: NoID, Data: raw(`["a",{"_placeholder":true,"num":1}]`), Attachments: [][]byte{{1}, {2}}},
			`52-["a",{"_placeholder":true,"num":1}]`},
		{"placeholder false is data", `51-["a",{"_placeholder":false,"num":9},{"_placeholder":true,"num":0}]`,
			Packet{Type: PacketEvent, Namespace: "/", ID: NoID, Data: raw(`["a",{"_placeholder":false,"num":9},{"_placeholder":true,"num":0}]`), Attachments: [][]byte{{1}}},
			`51-["a",{"_placeholder":false,"num":9},{"_placeholder":true,"num":0}]`},
		{"members of a placeholder are hidden", `51-["a",{"_placeholder":true,"num":0,"x":{"_placeholder":true,"num":9}}]`,
			Packet{Type: PacketEvent, Namespace: "/", ID: NoID, Data: raw(`["a",{"_placeholder":true,"num":0,"x":{"_placeholder":true,"num":9}}]`), Attachments: [][]byte{{1}}},
			`51-["a",{"_placeholder":true,"num":0,"x":{"_placeholder":true,"num":9}}]`},
		{"escaped placeholder key", `51-["a",{"\u005fplaceholder":true,"n\u0075m":0}]`,
			Packet{Type: PacketEvent, Namespace: "/", ID: NoID, Data: raw(`["a",{"\u005fplaceholder":true,"n\u0075m":0}]`), Attachments: [][]byte{{1}}},
			`51-["a",{"\u005fplaceholder":true,"n\u0075m":0}]`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var d Decoder
			got := decodeAll(t, &d, []byte(tc.wire), tc.want.Attachments)
			if !reflect.DeepEqual(*got, tc.want) {
				t.Fatalf("decoded %+v, want %+v", *got, tc.want)
			}
			if enc := string(Encode(got)); enc != tc.canonical {
				t.Fatalf("re-encoded %s, want %s", enc, tc.canonical)
			}
		})
	}
}

func TestDecodeErrors(t *testing.T) {
	deep := strings.Repeat("[", 32) + strings.Repeat("]", 32)
	tests := []struct {
		name string
		wire string
		want error
	}{
		{"empty", ``, ErrInvalidPacket},
		{"unknown type", `7["a"]`, ErrInvalidPacket},
		{"unknown type letter", `abc`, ErrInvalidPacket},
		{"event object payload", `2{}`, ErrInvalidPacket},
		{"event without data", `2`, ErrInvalidPacket},
		{"event empty array", `2[]`, ErrInvalidPacket},
		{"event name not a string", `2[true,"a"]`, ErrInvalidPacket},
		{"event name null", `2[null]`, ErrInvalidPacket},
		{"event string payload", `2"a"`, ErrInvalidPacket},
		{"invalid ack id", `2abc["message-with-ack",1,"2",{"3":[false]}]`, ErrInvalidPacket},
		{"id overflow", `29223372036854775808["a"]`, ErrInvalidPacket},
		{"id huge", `2999999999999999999999999["a"]`, ErrInvalidPacket},
		{"garbage after json", `2["a"]x`, ErrInvalidPacket},
		{"two json values", `2["a"]["b"]`, ErrInvalidPacket},
		{"truncated json", `2["a"`, ErrInvalidPacket},
		{"trailing comma", `2["a",]`, ErrInvalidPacket},
		{"single quotes", `2['a']`, ErrInvalidPacket},
		{"NaN", `2["a",NaN]`, ErrInvalidPacket},
		{"leading zero number", `2["a",01]`, ErrInvalidPacket},
		{"control char in string", "2[\"a\x01\"]", ErrInvalidPacket},
		{"invalid utf8 in string", "2[\"a\xff\"]", ErrInvalidPacket},
		{"invalid utf8 in namespace", "2/\xff,[\"a\"]", ErrInvalidPacket},
		{"bad escape", `2["\x"]`, ErrInvalidPacket},
		{"ack object", `31{}`, ErrInvalidPacket},
		{"ack without data", `31`, ErrInvalidPacket},
		{"ack string", `31"a"`, ErrInvalidPacket},
		{"connect array", `0["a"]`, ErrInvalidPacket},
		{"connect string", `0"a"`, ErrInvalidPacket},
		{"connect null", `0null`, ErrInvalidPacket},
		{"disconnect data", `1{}`, ErrInvalidPacket},
		{"disconnect admin data", `1/admin,"x"`, ErrInvalidPacket},
		{"connect error array", `4["a"]`, ErrInvalidPacket},
		{"connect error number", `41`, ErrInvalidPacket}, // "1" is read as the id, then no data
		{"connect error without data", `4`, ErrInvalidPacket},
		{"binary without count", `5-["a"]`, ErrInvalidPacket},
		{"binary without dash", `51["a"]`, ErrInvalidPacket},
		{"binary only digits", `51`, ErrInvalidPacket},
		{"binary zero attachments", `50-["a"]`, ErrInvalidPacket},
		{"binary signed count", `5+1-["a"]`, ErrInvalidPacket},
		{"binary too many", `511-["a"]`, ErrTooManyAttachments},
		{"binary huge count", `599999999999999999999999-["a"]`, ErrTooManyAttachments},
		{"binary without data", `51-`, ErrInvalidPacket},
		{"binary event empty array", `51-[]`, ErrInvalidPacket},
		{"binary event object", `51-{"_placeholder":true,"num":0}`, ErrInvalidPacket},
		{"placeholder num out of range", `51-["a",{"_placeholder":true,"num":1}]`, ErrInvalidPacket},
		{"placeholder num negative", `51-["a",{"_placeholder":true,"num":-1}]`, ErrInvalidPacket},
		{"placeholder num fraction", `51-["a",{"_placeholder":true,"num":0.5}]`, ErrInvalidPacket},
		{"placeholder num string", `51-["a",{"_placeholder":true,"num":"0"}]`, ErrInvalidPacket},
		{"placeholder num missing", `51-["a",{"_placeholder":true}]`, ErrInvalidPacket},
		{"placeholder num huge", `51-["a",{"_placeholder":true,"num":1e400}]`, ErrInvalidPacket},
		{"placeholder last duplicate wins", `51-["a",{"_placeholder":true,"num":0,"num":3}]`, ErrInvalidPacket},
		{"nested bad placeholder", `51-["a",{"x":[{"_placeholder":true,"num":2}]}]`, ErrInvalidPacket},
		{"too deep", `2["a",` + deep + `]`, ErrTooDeep},
		{"too deep connect", `0{"a":` + strings.Repeat(`{"a":`, 40) + `1` + strings.Repeat(`}`, 41), ErrTooDeep},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var d Decoder
			p, err := d.AddText([]byte(tc.wire))
			if !errors.Is(err, tc.want) {
				t.Fatalf("AddText(%q) = %+v, %v; want %v", tc.wire, p, err, tc.want)
			}
			if p != nil {
				t.Fatalf("packet %+v returned with error", p)
			}
			// The decoder must be usable (and idle) after an error.
			if _, err := d.AddBinary([]byte{1}); !errors.Is(err, ErrUnexpectedBinary) {
				t.Fatalf("AddBinary after error = %v, want ErrUnexpectedBinary", err)
			}
			if _, err := d.AddText([]byte(`2["ok"]`)); err != nil {
				t.Fatalf("decoder unusable after error: %v", err)
			}
		})
	}
}

func TestDecodeDepthLimit(t *testing.T) {
	// MaxDepth counts arrays and objects, the outer array included.
	at := func(n int) []byte {
		return []byte(`2["a",` + strings.Repeat("[", n-1) + strings.Repeat("]", n-1) + `]`)
	}
	var d Decoder
	if _, err := d.AddText(at(32)); err != nil {
		t.Fatalf("depth 32 with default limit: %v", err)
	}
	if _, err := d.AddText(at(33)); !errors.Is(err, ErrTooDeep) {
		t.Fatalf("depth 33 with default limit: %v", err)
	}
	d.MaxDepth = 2
	if _, err := d.AddText(at(2)); err != nil {
		t.Fatalf("depth 2 with limit 2: %v", err)
	}
	if _, err := d.AddText(at(3)); !errors.Is(err, ErrTooDeep) {
		t.Fatalf("depth 3 with limit 2: %v", err)
	}
	d.MaxDepth = 1000
	if _, err := d.AddText(at(1000)); err != nil {
		t.Fatalf("depth 1000 with limit 1000: %v", err)
	}
}

func TestDecodeMaxAttachments(t *testing.T) {
	d := Decoder{MaxAttachments: 2}
	if _, err := d.AddText([]byte(`53-["a"]`)); !errors.Is(err, ErrTooManyAttachments) {
		t.Fatalf("3 > 2: %v", err)
	}
	p, err := d.AddText([]byte(`52-["a"]`))
	if p != nil || err != nil {
		t.Fatalf("2 attachments: %+v %v", p, err)
	}
	d.Reset()
	d.MaxAttachments = 0 // default 10
	if _, err := d.AddText([]byte(`510-["a"]`)); err != nil {
		t.Fatalf("10 with default: %v", err)
	}
	d.Reset()
	if _, err := d.AddText([]byte(`511-["a"]`)); !errors.Is(err, ErrTooManyAttachments) {
		t.Fatalf("11 with default: %v", err)
	}
}

func TestDecoderBinarySequence(t *testing.T) {
	var d Decoder
	if _, err := d.AddBinary([]byte{1}); !errors.Is(err, ErrUnexpectedBinary) {
		t.Fatalf("binary first: %v", err)
	}
	p, err := d.AddText([]byte(`52-/admin,7["up",{"_placeholder":true,"num":1},{"_placeholder":true,"num":0}]`))
	if p != nil || err != nil {
		t.Fatalf("header: %+v %v", p, err)
	}
	buf := []byte{1, 2}
	if p, err = d.AddBinary(buf); p != nil || err != nil {
		t.Fatalf("first attachment: %+v %v", p, err)
	}
	buf[0] = 9 // the decoder must have copied it
	if p, err = d.AddBinary(nil); err != nil || p == nil {
		t.Fatalf("second attachment: %+v %v", p, err)
	}
	want := Packet{Type: PacketEvent, Namespace: "/admin", ID: 7,
		Data:        raw(`["up",{"_placeholder":true,"num":1},{"_placeholder":true,"num":0}]`),
		Attachments: [][]byte{{1, 2}, {}}}
	if !reflect.DeepEqual(*p, want) {
		t.Fatalf("got %+v, want %+v", *p, want)
	}
	if _, err := d.AddBinary([]byte{1}); !errors.Is(err, ErrUnexpectedBinary) {
		t.Fatalf("extra binary: %v", err)
	}
	args, err := DecodeArgs(p.Data, p.Attachments)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(args, []any{"up", []byte{}, []byte{1, 2}}) {
		t.Fatalf("args %#v", args)
	}
}

func TestDecoderTextWhilePending(t *testing.T) {
	var d Decoder
	if _, err := d.AddText([]byte(`51-["a",{"_placeholder":true,"num":0}]`)); err != nil {
		t.Fatal(err)
	}
	if _, err := d.AddText([]byte(`2["b"]`)); !errors.Is(err, ErrInvalidPacket) {
		t.Fatalf("text while pending: %v", err)
	}
	// The pending packet was dropped.
	if _, err := d.AddBinary([]byte{1}); !errors.Is(err, ErrUnexpectedBinary) {
		t.Fatalf("binary after dropped packet: %v", err)
	}
}

func TestDecoderReset(t *testing.T) {
	var d Decoder
	if _, err := d.AddText([]byte(`51-["a",{"_placeholder":true,"num":0}]`)); err != nil {
		t.Fatal(err)
	}
	d.Reset()
	if _, err := d.AddBinary([]byte{1}); !errors.Is(err, ErrUnexpectedBinary) {
		t.Fatalf("binary after Reset: %v", err)
	}
	if p, err := d.AddText([]byte(`2["b"]`)); err != nil || p == nil {
		t.Fatalf("text after Reset: %v", err)
	}
}

func TestDecoderDoesNotAliasInput(t *testing.T) {
	var d Decoder
	in := []byte(`2/chat,5["msg","hello"]`)
	p, err := d.AddText(in)
	if err != nil {
		t.Fatal(err)
	}
	for i := range in {
		in[i] = 'X'
	}
	if p.Namespace != "/chat" || p.ID != 5 || !bytes.Equal(p.Data, []byte(`["msg","hello"]`)) {
		t.Fatalf("packet changed with its input: %+v", p)
	}
	// A second packet in the same namespace reuses the interned string and still decodes right.
	p2, err := d.AddText([]byte(`2/chat,["x"]`))
	if err != nil || p2.Namespace != "/chat" {
		t.Fatalf("%+v %v", p2, err)
	}
	p3, err := d.AddText([]byte(`2/other,["x"]`))
	if err != nil || p3.Namespace != "/other" || p.Namespace != "/chat" {
		t.Fatalf("%+v %v", p3, err)
	}
}

func TestEngineIOPrefixIsNotStripped(t *testing.T) {
	// "42[...]" is an Engine.IO message whose Socket.IO part is "2[...]". Fed whole, it reads
	// as CONNECT_ERROR with id 2 and array data, which CONNECT_ERROR rejects.
	var d Decoder
	if _, err := d.AddText([]byte(`42["a"]`)); !errors.Is(err, ErrInvalidPacket) {
		t.Fatalf("got %v", err)
	}
}

func TestNumericEventNameAccepted(t *testing.T) {
	// socket.io-parser's isPayloadValid accepts a number as event name.
	var d Decoder
	for _, in := range []string{`2[1,"x"]`, `2[-1.5]`} {
		p, err := d.AddText([]byte(in))
		if err != nil || p == nil || string(p.Data) != in[1:] {
			t.Fatalf("AddText(%q) = %+v, %v", in, p, err)
		}
	}
}
