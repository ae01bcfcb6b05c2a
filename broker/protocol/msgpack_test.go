package protocol

import (
	"bytes"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/ionbus/ionbus/internal/wire"
)

func mp(fields ...wire.Field) []byte { return wire.M(fields...).Msgpack() }

var (
	f = wire.F
	n = wire.N
	s = wire.S
)

func TestMsgpackDecode(t *testing.T) {
	var d Decoder
	for _, c := range []struct {
		name     string
		in       []byte
		want     Packet
		wantData string
	}{
		{"connect", mp(f("type", n(0)), f("nsp", s("/")), f("data", wire.M(f("token", s("abc"))))),
			Packet{Type: PacketConnect, Namespace: "/", ID: NoID}, `{"token":"abc"}`},
		{"connect without data", mp(f("type", n(0)), f("nsp", s("/admin"))),
			Packet{Type: PacketConnect, Namespace: "/admin", ID: NoID}, ``},
		{"event with ack id", mp(f("type", n(2)), f("nsp", s("/")), f("data", wire.A(s("join_room"), wire.M(f("room", s("topic:1")), f("n", n(1.5))))), f("id", n(7))),
			Packet{Type: PacketEvent, Namespace: "/", ID: 7}, `["join_room",{"room":"topic:1","n":1.5}]`},
		{"event with binary", mp(f("type", n(2)), f("nsp", s("/")), f("data", wire.A(s("upload"), wire.Bytes([]byte{1, 2, 3}), wire.M(f("thumb", wire.Bytes([]byte{9})))))),
			Packet{Type: PacketEvent, Namespace: "/", ID: NoID, Attachments: [][]byte{{1, 2, 3}, {9}}}, `["upload",{"_placeholder":true,"num":0},{"thumb":{"_placeholder":true,"num":1}}]`},
		{"ack", mp(f("type", n(3)), f("nsp", s("/")), f("id", n(0)), f("data", wire.A(wire.Value{}, n(-3), wire.B(true)))),
			Packet{Type: PacketAck, Namespace: "/", ID: 0}, `[null,-3,true]`},
		{"disconnect", mp(f("type", n(1)), f("nsp", s("/chat"))),
			Packet{Type: PacketDisconnect, Namespace: "/chat", ID: NoID}, ``},
		{"unknown keys ignored", mp(f("type", n(2)), f("extra", wire.A(n(1), n(2))), f("nsp", s("/")), f("data", wire.A(s("e")))),
			Packet{Type: PacketEvent, Namespace: "/", ID: NoID}, `["e"]`},
		{"unicode and NaN", mp(f("type", n(2)), f("nsp", s("/")), f("data", wire.A(s("é€\n\""), n(math.NaN())))),
			Packet{Type: PacketEvent, Namespace: "/", ID: NoID}, `["é€\n\"",null]`},
	} {
		t.Run(c.name, func(t *testing.T) {
			p, err := d.AddMsgpack(c.in)
			if err != nil {
				t.Fatal(err)
			}
			if p.Type != c.want.Type || p.Namespace != c.want.Namespace || p.ID != c.want.ID || string(p.Data) != c.wantData {
				t.Fatalf("got %v %q id %d data %s", p.Type, p.Namespace, p.ID, p.Data)
			}
			if len(p.Attachments) != len(c.want.Attachments) {
				t.Fatalf("attachments %v", p.Attachments)
			}
			for i := range p.Attachments {
				if !bytes.Equal(p.Attachments[i], c.want.Attachments[i]) {
					t.Fatalf("attachment %d: %v", i, p.Attachments[i])
				}
			}
		})
	}
}

func TestMsgpackDecodeRefuses(t *testing.T) {
	d := Decoder{MaxAttachments: 2, MaxDepth: 4}
	deep := wire.A(s("e"))
	for i := 0; i < 6; i++ {
		deep = wire.A(s("e"), deep)
	}
	for name, in := range map[string][]byte{
		"not a map":             wire.A(n(2)).Msgpack(),
		"type missing":          mp(f("nsp", s("/")), f("data", wire.A(s("e")))),
		"type out of range":     mp(f("type", n(5)), f("nsp", s("/")), f("data", wire.A(s("e")))),
		"type not an integer":   mp(f("type", n(2.5)), f("nsp", s("/")), f("data", wire.A(s("e")))),
		"type a string":         mp(f("type", s("2")), f("nsp", s("/")), f("data", wire.A(s("e")))),
		"nsp missing":           mp(f("type", n(2)), f("data", wire.A(s("e")))),
		"nsp not a string":      mp(f("type", n(2)), f("nsp", n(1)), f("data", wire.A(s("e")))),
		"id not an integer":     mp(f("type", n(2)), f("nsp", s("/")), f("id", n(1.5)), f("data", wire.A(s("e")))),
		"id negative":           mp(f("type", n(2)), f("nsp", s("/")), f("id", n(-1)), f("data", wire.A(s("e")))),
		"event data not array":  mp(f("type", n(2)), f("nsp", s("/")), f("data", s("e"))),
		"event without name":    mp(f("type", n(2)), f("nsp", s("/")), f("data", wire.A())),
		"connect data an array": mp(f("type", n(0)), f("nsp", s("/")), f("data", wire.A())),
		"disconnect with data":  mp(f("type", n(1)), f("nsp", s("/")), f("data", wire.M())),
		"too many binaries":     mp(f("type", n(2)), f("nsp", s("/")), f("data", wire.A(s("e"), wire.Bytes(nil), wire.Bytes(nil), wire.Bytes(nil)))),
		"too deep":              mp(f("type", n(2)), f("nsp", s("/")), f("data", deep)),
		"trailing bytes":        append(mp(f("type", n(2)), f("nsp", s("/")), f("data", wire.A(s("e")))), 0xc0),
		"truncated":             mp(f("type", n(2)), f("nsp", s("/")), f("data", wire.A(s("event"))))[:20],
		"huge array count":      append(mp(f("type", n(2)), f("nsp", s("/")))[:0:0], 0x83, 0xa4, 't', 'y', 'p', 'e', 0x02, 0xa3, 'n', 's', 'p', 0xa1, '/', 0xa4, 'd', 'a', 't', 'a', 0xdd, 0xff, 0xff, 0xff, 0xff),
		"repeated key":          mp(f("type", n(2)), f("nsp", s("/")), f("data", wire.A(s("e"), wire.M(f("a", n(1)), f("a", n(2)))))),
		"invalid UTF-8":         append([]byte{0x83, 0xa4, 't', 'y', 'p', 'e', 0x02, 0xa3, 'n', 's', 'p', 0xa1, '/', 0xa4, 'd', 'a', 't', 'a', 0x91, 0xa2}, 0xff, 0xfe),
	} {
		if p, err := d.AddMsgpack(in); err == nil {
			t.Errorf("%s: decoded %+v", name, p)
		} else if !errors.Is(err, ErrInvalidPacket) && !errors.Is(err, ErrTooDeep) && !errors.Is(err, ErrTooManyAttachments) {
			t.Errorf("%s: error %v is not a protocol error", name, err)
		}
	}
}

// Encoding puts the attachments back in place of their placeholders; a
// decoder gets the packet back.
func TestMsgpackRoundTrip(t *testing.T) {
	var d Decoder
	for _, p := range []*Packet{
		{Type: PacketConnect, Namespace: "/", ID: NoID, Data: []byte(`{"sid":"abc","pid":"x"}`)},
		{Type: PacketEvent, Namespace: "/chat", ID: 12, Data: []byte(`["progress",{"pct":42.5,"file":"a b"},[1,2,3]]`)},
		{Type: PacketBinaryEvent, Namespace: "/", ID: NoID, Data: []byte(`["file",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]`), Attachments: [][]byte{{0, 1}, {}}},
		{Type: PacketAck, Namespace: "/", ID: 3, Data: []byte(`[{"ok":true}]`)},
		// Integers past 2^53 go as float64: notepack's 64-bit forms wrap them.
		{Type: PacketEvent, Namespace: "/", ID: NoID, Data: []byte(`["big",6.378489473675153e+116,12345678901234567000,-9007199254740994,9007199254740991]`)},
		{Type: PacketDisconnect, Namespace: "/x", ID: NoID},
	} {
		b, err := EncodeMsgpack(p)
		if err != nil {
			t.Fatal(err)
		}
		v, err := wire.DecodeMsgpack(b)
		if err != nil {
			t.Fatal(err)
		}
		if typ, _ := v.Get("type"); typ.Num >= 5 {
			t.Fatalf("binary type %v on the msgpack wire", typ.Num)
		}
		q, err := d.AddMsgpack(b)
		if err != nil {
			t.Fatalf("%s: %v", p.Data, err)
		}
		if q.Namespace != p.Namespace || q.ID != p.ID || string(q.Data) != string(p.Data) || len(q.Attachments) != len(p.Attachments) {
			t.Fatalf("round trip of %+v: %+v", p, q)
		}
		if strings.Contains(string(b), "_placeholder") {
			t.Fatalf("placeholder left in %q", b)
		}
	}
}

// FuzzDecodeMsgpackPacket: arbitrary input never panics; whatever decodes
// re-encodes and decodes to the same packet.
func FuzzDecodeMsgpackPacket(f *testing.F) {
	for _, seed := range [][]byte{
		mp(wire.F("type", n(2)), wire.F("nsp", s("/")), wire.F("data", wire.A(s("e"), wire.Bytes([]byte{1}), wire.M(wire.F("k", n(-1.5))))), wire.F("id", n(3))),
		mp(wire.F("type", n(0)), wire.F("nsp", s("/admin")), wire.F("data", wire.M(wire.F("token", s("t"))))),
		mp(wire.F("type", n(3)), wire.F("nsp", s("/")), wire.F("id", n(0)), wire.F("data", wire.A(wire.Value{}, wire.B(false)))),
		{0x81, 0xa4, 'd', 'a', 't', 'a', 0xd4, 0x00, 0x00},
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		var d Decoder
		p, err := d.AddMsgpack(in)
		if err != nil {
			return
		}
		b, err := EncodeMsgpack(p)
		if err != nil {
			t.Fatalf("decoded %+v does not encode: %v", p, err)
		}
		q, err := d.AddMsgpack(b)
		if err != nil {
			t.Fatalf("re-encoded %+v does not decode: %v", p, err)
		}
		if q.Type != p.Type || q.Namespace != p.Namespace || q.ID != p.ID || string(q.Data) != string(p.Data) || len(q.Attachments) != len(p.Attachments) {
			t.Fatalf("%+v re-decoded as %+v", p, q)
		}
	})
}
