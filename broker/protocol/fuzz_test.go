package protocol

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"unicode/utf8"
)

// fuzzSeeds are real packets, including split binary sequences (text + attachments).
var fuzzSeeds = []struct {
	text        string
	attachments [][]byte
}{
	{`0`, nil},
	{`0/admin,{"token":"123"}`, nil},
	{`4{"message":"Not authorized"}`, nil},
	{`1/admin,`, nil},
	{`2["hello",1]`, nil},
	{`2/admin,["bar"]`, nil},
	{`213["hi"]`, nil},
	{`31["ok"]`, nil},
	{`312[]`, nil},
	{`51-["hello",{"_placeholder":true,"num":0}]`, [][]byte{{1, 2, 3, 4}}},
	{`52-/admin,["baz",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]`, [][]byte{{1, 2}, {3, 4}}},
	{`62-789[{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]`, [][]byte{{1, 2, 3}, {4, 5, 6}}},
	{`53-/x,9["up",{"a":[{"_placeholder":true,"num":2}],"b":{"_placeholder":true,"num":0}},{"_placeholder":true,"num":1}]`, [][]byte{{}, {0}, {0xff}}},
	{`2["n",1.0,1e3,12345678901234567890,-0,{"_placeholder":true,"num":0}]`, nil},
	{"2 [ \"a\" , \"\\u00e9\\n\" ]", nil},
	{`2["a",[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]`, nil},
	{`511-["a"]`, nil},
	{`51-["a",{"_placeholder":true,"num":1}]`, [][]byte{{1}}},
	{`2abc["message-with-ack",1,"2",{"3":[false]}]`, nil},
	{`1/admin`, nil},
}

// fuzzAttachments splits blob into n attachments (n = count % 12, so that some sequences stop
// short and some send more than declared).
func fuzzAttachments(blob []byte, count uint8) [][]byte {
	n := int(count % 12)
	out := make([][]byte, 0, n)
	for i := range n {
		lo, hi := len(blob)*i/max(n, 1), len(blob)*(i+1)/max(n, 1)
		out = append(out, blob[lo:hi])
	}
	return out
}

func isSentinel(err error) bool {
	return errors.Is(err, ErrInvalidPacket) || errors.Is(err, ErrTooManyAttachments) ||
		errors.Is(err, ErrTooDeep) || errors.Is(err, ErrUnexpectedBinary)
}

// FuzzDecoder feeds a text message followed by binary messages (and then a second text
// message) and checks, for every completed packet:
//   - the payload obeys the reference validation rules and the placeholders are in range;
//   - decode → encode → decode gives the same packet, and encoding is then a fixed point;
//   - DecodeArgs accepts it and EncodeArgs/DecodeArgs round-trip the arguments.
//
// Errors must be one of the package sentinels and leave the decoder idle.
func FuzzDecoder(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s.text), bytes.Join(s.attachments, nil), uint8(len(s.attachments)), []byte(`2["next"]`))
	}
	f.Fuzz(func(t *testing.T, text, blob []byte, count uint8, text2 []byte) {
		d := Decoder{MaxAttachments: 5}
		var packets []*Packet
		p, err := d.AddText(text)
		switch {
		case err != nil:
			checkDecodeError(t, &d, err)
		case p != nil:
			packets = append(packets, p)
		}
		pendingBefore := err == nil && p == nil
		for i, a := range fuzzAttachments(blob, count) {
			p, err := d.AddBinary(a)
			if err != nil {
				if !errors.Is(err, ErrUnexpectedBinary) {
					t.Fatalf("AddBinary %d: %v", i, err)
				}
				pendingBefore = false
				continue
			}
			if !pendingBefore {
				t.Fatalf("AddBinary %d accepted without a pending packet", i)
			}
			if p != nil {
				packets = append(packets, p)
				pendingBefore = false
			}
		}
		p, err = d.AddText(text2)
		switch {
		case err != nil:
			checkDecodeError(t, &d, err)
		case pendingBefore:
			t.Fatal("text accepted while attachments were pending")
		case p != nil:
			packets = append(packets, p)
		}
		for _, p := range packets {
			checkPacket(t, p)
		}
	})
}

func checkDecodeError(t *testing.T, d *Decoder, err error) {
	t.Helper()
	if !isSentinel(err) {
		t.Fatalf("error %v wraps no sentinel", err)
	}
	if _, err := d.AddBinary([]byte{0}); !errors.Is(err, ErrUnexpectedBinary) {
		t.Fatalf("decoder not idle after error: %v", err)
	}
}

func checkPacket(t *testing.T, p *Packet) {
	t.Helper()
	if p.Type > PacketConnectError {
		t.Fatalf("decoded packet has wire-only type %v", p.Type)
	}
	if p.Namespace == "" || p.Namespace[0] != '/' || bytes.IndexByte([]byte(p.Namespace), ',') >= 0 || !utf8.ValidString(p.Namespace) {
		t.Fatalf("bad namespace %q", p.Namespace)
	}
	if p.ID < NoID {
		t.Fatalf("bad id %d", p.ID)
	}
	if p.Data != nil {
		if err := ValidJSON(p.Data, DefaultMaxDepth); err != nil {
			t.Fatalf("Data %q not valid: %v", p.Data, err)
		}
	}

	// decode → encode → decode is stable, and the second encoding is a fixed point.
	wire := Encode(p)
	var d Decoder
	p2, err := d.AddText(wire)
	if err != nil {
		t.Fatalf("re-decode %q: %v", wire, err)
	}
	for i, a := range p.Attachments {
		if p2 != nil {
			t.Fatalf("re-decode %q finished before attachment %d", wire, i)
		}
		if p2, err = d.AddBinary(a); err != nil {
			t.Fatalf("re-decode attachment %d: %v", i, err)
		}
	}
	if p2 == nil {
		t.Fatalf("re-decode %q did not finish", wire)
	}
	if !reflect.DeepEqual(p, p2) {
		t.Fatalf("unstable round trip via %q:\n%+v\n%+v", wire, p, p2)
	}
	if wire2 := Encode(p2); !bytes.Equal(wire, wire2) {
		t.Fatalf("encoding not a fixed point: %q vs %q", wire, wire2)
	}

	// Payload shape and the argument helpers.
	switch p.Type {
	case PacketEvent, PacketAck:
		args, err := DecodeArgs(p.Data, p.Attachments)
		if err != nil {
			t.Fatalf("DecodeArgs of a decoded packet %q: %v", p.Data, err)
		}
		if p.Type == PacketEvent {
			if len(args) == 0 {
				t.Fatal("event without name")
			}
			switch args[0].(type) {
			case string, json.Number: // the reference accepts numeric names
			default:
				t.Fatalf("event name %#v", args[0])
			}
		}
		checkArgsRoundTrip(t, args)
	case PacketDisconnect:
		if p.Data != nil {
			t.Fatal("DISCONNECT with data")
		}
	}
	if len(p.Attachments) > 0 && p.Type != PacketEvent && p.Type != PacketAck {
		t.Fatalf("%v with attachments", p.Type)
	}
}

// checkArgsRoundTrip: EncodeArgs(args) decodes back to args, and re-encoding is a fixed point.
func checkArgsRoundTrip(t *testing.T, args []any) {
	t.Helper()
	data, atts, err := EncodeArgs(args)
	if err != nil {
		t.Fatalf("EncodeArgs(%#v): %v", args, err)
	}
	if HasBinary(args) != (len(atts) > 0) {
		t.Fatalf("HasBinary = %v, %d attachments", HasBinary(args), len(atts))
	}
	if err := ValidJSON(data, 1<<20); err != nil {
		t.Fatalf("EncodeArgs produced %q: %v", data, err)
	}
	args2, err := DecodeArgs(data, atts)
	if err != nil {
		t.Fatalf("DecodeArgs(%q): %v", data, err)
	}
	if !reflect.DeepEqual(normalizeArgs(args), normalizeArgs(args2)) {
		t.Fatalf("args round trip via %q:\n%#v\n%#v", data, args, args2)
	}
	data2, atts2, err := EncodeArgs(args2)
	if err != nil || !bytes.Equal(data, data2) || !reflect.DeepEqual(atts, atts2) {
		t.Fatalf("EncodeArgs not a fixed point: %q vs %q (%v)", data, data2, err)
	}
}

// normalizeArgs makes an empty args slice and a nil one compare equal.
func normalizeArgs(a []any) []any {
	if len(a) == 0 {
		return nil
	}
	return a
}

// FuzzDecodeArgs checks DecodeArgs against the codec's other pieces:
//   - successful results round-trip through EncodeArgs (number text, binary at any depth);
//   - ValidJSON agrees with encoding/json.Valid (ValidJSON additionally rejects invalid UTF-8).
func FuzzDecodeArgs(f *testing.F) {
	for _, s := range fuzzSeeds {
		i := bytes.IndexAny([]byte(s.text), "[{\"")
		if i < 0 {
			continue
		}
		f.Add([]byte(s.text[i:]), bytes.Join(s.attachments, nil), uint8(len(s.attachments)))
	}
	f.Add([]byte(`["n",1.0,1e3,12345678901234567890,-0.0e-0]`), []byte(nil), uint8(0))
	f.Add([]byte(`[{"_placeholder":true,"num":0,"x":{"_placeholder":true,"num":7}},[{"_placeholder":true,"num":1.0}]]`), []byte{1, 2}, uint8(2))
	f.Add([]byte(`["\ud800","\u0000\u2028<>&",{"":{"\u005fplaceholder":true,"num":0}}]`), []byte{9}, uint8(1))
	f.Fuzz(func(t *testing.T, data, blob []byte, count uint8) {
		atts := fuzzAttachments(blob, count)

		vErr := ValidJSON(data, 10000)
		stdValid := json.Valid(data)
		if vErr == nil && !stdValid {
			t.Fatalf("ValidJSON accepts %q, encoding/json does not", data)
		}
		if vErr != nil && !errors.Is(vErr, ErrTooDeep) && stdValid && utf8.Valid(data) {
			t.Fatalf("ValidJSON rejects %q: %v", data, vErr)
		}

		args, err := DecodeArgs(data, atts)
		if err != nil {
			if !errors.Is(err, ErrInvalidPacket) && !errors.Is(err, ErrTooDeep) {
				t.Fatalf("DecodeArgs error %v is neither ErrInvalidPacket nor ErrTooDeep", err)
			}
			return
		}
		if len(data) > 0 && (!stdValid || ValidJSON(data, MaxArgsDepth) != nil) {
			t.Fatalf("DecodeArgs accepted invalid JSON %q", data)
		}
		checkArgsRoundTrip(t, args)

		// The decoder agrees on placeholders: a binary event built from the same payload is
		// accepted by Decoder exactly when DecodeArgs accepted it (given valid, shallow JSON).
		if len(atts) > 0 && len(atts) <= DefaultMaxAttachments && vErr == nil &&
			ValidJSON(data, DefaultMaxDepth) == nil && len(args) > 0 {
			if _, ok := args[0].(string); ok {
				p := &Packet{Type: PacketEvent, ID: NoID, Data: data, Attachments: atts}
				var d Decoder
				if _, err := d.AddText(Encode(p)); err != nil {
					t.Fatalf("Decoder rejects %q that DecodeArgs accepts: %v", Encode(p), err)
				}
			}
		}
	})
}

// TestDecoderAndDecodeArgsAgreeOnPlaceholders pins the cases where the Decoder's early
// placeholder check and DecodeArgs' reconstruction could diverge.
func TestDecoderAndDecodeArgsAgreeOnPlaceholders(t *testing.T) {
	payloads := []string{
		`["a",{"_placeholder":true,"num":1}]`,
		`["a",{"_placeholder":true,"num":0.5}]`,
		`["a",{"_placeholder":true}]`,
		`["a",{"_placeholder":true,"num":"0"}]`,
		`["a",{"\u005fplaceholder":true,"num":4}]`,
		`["a",{"x":{"_placeholder":true,"num":0,"y":{"_placeholder":true,"num":9}}}]`,
		`["a",{"_placeholder":true,"num":0}]`,
	}
	for _, data := range payloads {
		atts := [][]byte{{1}}
		_, argsErr := DecodeArgs(raw(data), atts)
		var d Decoder
		_, decErr := d.AddText(Encode(&Packet{Type: PacketEvent, ID: NoID, Data: raw(data), Attachments: atts}))
		if (argsErr == nil) != (decErr == nil) {
			t.Errorf("%s: DecodeArgs %v, Decoder %v", data, argsErr, decErr)
		}
	}
}
