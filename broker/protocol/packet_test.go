package protocol

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
)

var (
	bin1234 = []byte{1, 2, 3, 4}
	bin12   = []byte{1, 2}
	bin34   = []byte{3, 4}
)

// wireCases are the examples of the socket.io-protocol v5 README (plus a few from its test
// suite). Each wire string must decode to the packet and the packet must encode back to it.
var wireCases = []struct {
	name string
	wire string
	p    Packet
}{
	{"connect main", `0`, Packet{Type: PacketConnect, Namespace: "/", ID: NoID}},
	{"connect main sid", `0{"sid":"wZX3oN0bSVIhsaknAAAI"}`,
		Packet{Type: PacketConnect, Namespace: "/", ID: NoID, Data: raw(`{"sid":"wZX3oN0bSVIhsaknAAAI"}`)}},
	{"connect admin", `0/admin,`, Packet{Type: PacketConnect, Namespace: "/admin", ID: NoID}},
	{"connect admin sid", `0/admin,{"sid":"oSO0OpakMV_3jnilAAAA"}`,
		Packet{Type: PacketConnect, Namespace: "/admin", ID: NoID, Data: raw(`{"sid":"oSO0OpakMV_3jnilAAAA"}`)}},
	{"connect admin token", `0/admin,{"token":"123"}`,
		Packet{Type: PacketConnect, Namespace: "/admin", ID: NoID, Data: raw(`{"token":"123"}`)}},
	{"connect error", `4{"message":"Not authorized"}`,
		Packet{Type: PacketConnectError, Namespace: "/", ID: NoID, Data: raw(`{"message":"Not authorized"}`)}},
	{"connect error string", `4/admin,"nope"`,
		Packet{Type: PacketConnectError, Namespace: "/admin", ID: NoID, Data: raw(`"nope"`)}},
	{"event", `2["foo"]`, Packet{Type: PacketEvent, Namespace: "/", ID: NoID, Data: raw(`["foo"]`)}},
	{"event args", `2["hello",1]`, Packet{Type: PacketEvent, Namespace: "/", ID: NoID, Data: raw(`["hello",1]`)}},
	{"sample session", `2["hey","Jude"]`, Packet{Type: PacketEvent, Namespace: "/", ID: NoID, Data: raw(`["hey","Jude"]`)}},
	{"event admin", `2/admin,["bar"]`, Packet{Type: PacketEvent, Namespace: "/admin", ID: NoID, Data: raw(`["bar"]`)}},
	{"binary event", `51-["baz",{"_placeholder":true,"num":0}]`,
		Packet{Type: PacketEvent, Namespace: "/", ID: NoID, Data: raw(`["baz",{"_placeholder":true,"num":0}]`), Attachments: [][]byte{bin1234}}},
	{"binary event admin", `52-/admin,["baz",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]`,
		Packet{Type: PacketEvent, Namespace: "/admin", ID: NoID,
			Data: raw(`["baz",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]`), Attachments: [][]byte{bin12, bin34}}},
	{"binary event hello", `51-["hello",{"_placeholder":true,"num":0}]`,
		Packet{Type: PacketEvent, Namespace: "/", ID: NoID, Data: raw(`["hello",{"_placeholder":true,"num":0}]`), Attachments: [][]byte{bin1234}}},
	{"event id", `212["foo"]`, Packet{Type: PacketEvent, Namespace: "/", ID: 12, Data: raw(`["foo"]`)}},
	{"event id hi", `213["hi"]`, Packet{Type: PacketEvent, Namespace: "/", ID: 13, Data: raw(`["hi"]`)}},
	{"ack empty", `312[]`, Packet{Type: PacketAck, Namespace: "/", ID: 12, Data: raw(`[]`)}},
	{"ack ok", `31["ok"]`, Packet{Type: PacketAck, Namespace: "/", ID: 1, Data: raw(`["ok"]`)}},
	{"event admin id", `2/admin,13["foo"]`, Packet{Type: PacketEvent, Namespace: "/admin", ID: 13, Data: raw(`["foo"]`)}},
	{"ack admin id", `3/admin,13["bar"]`, Packet{Type: PacketAck, Namespace: "/admin", ID: 13, Data: raw(`["bar"]`)}},
	{"binary event id", `51-14["foo",{"_placeholder":true,"num":0}]`,
		Packet{Type: PacketEvent, Namespace: "/", ID: 14, Data: raw(`["foo",{"_placeholder":true,"num":0}]`), Attachments: [][]byte{bin1234}}},
	{"ack id", `314["bar"]`, Packet{Type: PacketAck, Namespace: "/", ID: 14, Data: raw(`["bar"]`)}},
	{"binary ack id", `61-15["bar",{"_placeholder":true,"num":0}]`,
		Packet{Type: PacketAck, Namespace: "/", ID: 15, Data: raw(`["bar",{"_placeholder":true,"num":0}]`), Attachments: [][]byte{bin1234}}},
	{"binary ack placeholders first", `62-789[{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]`,
		Packet{Type: PacketAck, Namespace: "/", ID: 789, Data: raw(`[{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]`), Attachments: [][]byte{bin12, bin34}}},
	{"disconnect", `1`, Packet{Type: PacketDisconnect, Namespace: "/", ID: NoID}},
	{"disconnect admin", `1/admin,`, Packet{Type: PacketDisconnect, Namespace: "/admin", ID: NoID}},
	{"max id", `29223372036854775807["x"]`, Packet{Type: PacketEvent, Namespace: "/", ID: 9223372036854775807, Data: raw(`["x"]`)}},
	{"id zero", `20["x"]`, Packet{Type: PacketEvent, Namespace: "/", ID: 0, Data: raw(`["x"]`)}},
	{"unicode", `2/ünï,["é🎉","\u2028"]`, Packet{Type: PacketEvent, Namespace: "/ünï", ID: NoID, Data: raw(`["é🎉","\u2028"]`)}},
}

func raw(s string) json.RawMessage { return json.RawMessage(s) }

func TestEncodeWire(t *testing.T) {
	for _, tc := range wireCases {
		t.Run(tc.name, func(t *testing.T) {
			if got := string(Encode(&tc.p)); got != tc.wire {
				t.Fatalf("Encode = %s, want %s", got, tc.wire)
			}
			prefix := []byte("4")
			if got := string(AppendEncode(prefix, &tc.p)); got != "4"+tc.wire {
				t.Fatalf("AppendEncode = %s, want 4%s", got, tc.wire)
			}
		})
	}
}

func TestDecodeWire(t *testing.T) {
	var d Decoder // shared across cases: also checks that state does not leak between packets
	for _, tc := range wireCases {
		t.Run(tc.name, func(t *testing.T) {
			got := decodeAll(t, &d, []byte(tc.wire), tc.p.Attachments)
			if !reflect.DeepEqual(*got, tc.p) {
				t.Fatalf("decoded %+v, want %+v", *got, tc.p)
			}
		})
	}
}

// decodeAll feeds text and attachments and requires a packet exactly after the last one.
func decodeAll(t *testing.T, d *Decoder, text []byte, attachments [][]byte) *Packet {
	t.Helper()
	p, err := d.AddText(text)
	if err != nil {
		t.Fatalf("AddText(%q): %v", text, err)
	}
	for i, a := range attachments {
		if p != nil {
			t.Fatalf("packet returned before attachment %d", i)
		}
		if p, err = d.AddBinary(a); err != nil {
			t.Fatalf("AddBinary %d: %v", i, err)
		}
	}
	if p == nil {
		t.Fatalf("no packet after %d attachments", len(attachments))
	}
	return p
}

func TestEncodeNormalisesType(t *testing.T) {
	tests := []struct {
		name string
		p    Packet
		want string
	}{
		{"binary event without attachments", Packet{Type: PacketBinaryEvent, ID: NoID, Data: raw(`["a"]`)}, `2["a"]`},
		{"binary ack without attachments", Packet{Type: PacketBinaryAck, ID: 3, Data: raw(`[]`)}, `33[]`},
		{"binary event type kept", Packet{Type: PacketBinaryEvent, ID: NoID, Data: raw(`["a",{"_placeholder":true,"num":0}]`),
			Attachments: [][]byte{{1}}}, `51-["a",{"_placeholder":true,"num":0}]`},
		{"empty namespace", Packet{Type: PacketEvent, Namespace: "", ID: NoID, Data: raw(`["a"]`)}, `2["a"]`},
		{"explicit root namespace", Packet{Type: PacketConnect, Namespace: "/", ID: NoID}, `0`},
		{"negative id is absent", Packet{Type: PacketEvent, ID: -7, Data: raw(`["a"]`)}, `2["a"]`},
		{"ten attachments", Packet{Type: PacketEvent, ID: NoID, Data: raw(`["a"]`), Attachments: make([][]byte, 10)}, `510-["a"]`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := string(Encode(&tc.p)); got != tc.want {
				t.Fatalf("Encode = %s, want %s", got, tc.want)
			}
		})
	}
}

func TestPacketTypeString(t *testing.T) {
	want := map[PacketType]string{
		0: "CONNECT", 1: "DISCONNECT", 2: "EVENT", 3: "ACK", 4: "CONNECT_ERROR",
		5: "BINARY_EVENT", 6: "BINARY_ACK", 7: "PacketType(7)", 255: "PacketType(255)",
	}
	for typ, s := range want {
		if typ.String() != s {
			t.Errorf("%d.String() = %q, want %q", uint8(typ), typ.String(), s)
		}
	}
}

// TestWireValues pins the numbers that go on the wire.
func TestWireValues(t *testing.T) {
	got := []PacketType{PacketConnect, PacketDisconnect, PacketEvent, PacketAck, PacketConnectError, PacketBinaryEvent, PacketBinaryAck}
	for i, typ := range got {
		if int(typ) != i {
			t.Errorf("%v = %d, want %d", typ, typ, i)
		}
	}
	if NoID != -1 {
		t.Errorf("NoID = %d", NoID)
	}
}

func TestErrorPrefix(t *testing.T) {
	for _, err := range []error{ErrInvalidPacket, ErrTooManyAttachments, ErrTooDeep, ErrUnexpectedBinary} {
		if !strings.HasPrefix(err.Error(), "protocol: ") {
			t.Errorf("%q lacks the package prefix", err)
		}
	}
	if errors.Is(ErrInvalidPacket, ErrTooDeep) {
		t.Error("sentinels must be distinct")
	}
}

func TestEncodeDoesNotAliasData(t *testing.T) {
	p := Packet{Type: PacketEvent, ID: NoID, Data: raw(`["a"]`)}
	out := Encode(&p)
	out[len(out)-2] = 'b'
	if !bytes.Equal(p.Data, []byte(`["a"]`)) {
		t.Fatal("Encode output aliases Data")
	}
}
