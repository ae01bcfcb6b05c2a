package connection

import (
	"bytes"
	"testing"
)

func TestDecodePacket(t *testing.T) {
	tests := []struct {
		in      string
		typ     packetType
		data    string
		wantErr bool
	}{
		{in: "0{\"sid\":\"x\"}", typ: packetOpen, data: "{\"sid\":\"x\"}"},
		{in: "1", typ: packetClose},
		{in: "2", typ: packetPing},
		{in: "2probe", typ: packetPing, data: "probe"},
		{in: "3", typ: packetPong},
		{in: "3probe", typ: packetPong, data: "probe"},
		{in: "4hello", typ: packetMessage, data: "hello"},
		{in: "4", typ: packetMessage},
		{in: "4héllo €", typ: packetMessage, data: "héllo €"},
		{in: "5", typ: packetUpgrade},
		{in: "6", typ: packetNoop},
		{in: "", wantErr: true},
		{in: "7", wantErr: true},
		{in: "abc", wantErr: true},
		{in: "/", wantErr: true},
		{in: "4\xff\xfe", wantErr: true},
		{in: "4\xed\xa0\x80", wantErr: true}, // surrogate half
	}
	for _, tt := range tests {
		p, err := decodePacket([]byte(tt.in))
		if (err != nil) != tt.wantErr {
			t.Errorf("decodePacket(%q) err = %v, want error %v", tt.in, err, tt.wantErr)
			continue
		}
		if err != nil {
			continue
		}
		if p.typ != tt.typ || string(p.data) != tt.data || p.binary {
			t.Errorf("decodePacket(%q) = %d %q, want %d %q", tt.in, p.typ, p.data, tt.typ, tt.data)
		}
		if got := appendPacketText(nil, p.typ, p.data); string(got) != tt.in {
			t.Errorf("re-encode %q = %q", tt.in, got)
		}
	}
}

func TestDecodePayload(t *testing.T) {
	type pk struct {
		typ    packetType
		binary bool
		data   string
	}
	tests := []struct {
		in      string
		want    []pk
		wantErr bool
	}{
		{in: "4hello", want: []pk{{packetMessage, false, "hello"}}},
		{in: "4test1\x1e4test2\x1e4test3", want: []pk{{4, false, "test1"}, {4, false, "test2"}, {4, false, "test3"}}},
		{in: "4hello\x1ebAQIDBA==", want: []pk{{4, false, "hello"}, {4, true, "\x01\x02\x03\x04"}}},
		{in: "3", want: []pk{{packetPong, false, ""}}},
		{in: "1", want: []pk{{packetClose, false, ""}}},
		{in: "b", want: []pk{{4, true, ""}}},
		{in: "", wantErr: true},
		{in: "abc", wantErr: true},
		{in: "4a\x1e", want: []pk{{4, false, "a"}}, wantErr: true}, // empty trailing packet
		{in: "bAQI*", wantErr: true},
		{in: "4a\x1e\xff", want: []pk{{4, false, "a"}}, wantErr: true},
	}
	for _, tt := range tests {
		var got []pk
		err := decodePayload([]byte(tt.in), func(p packet) error {
			got = append(got, pk{p.typ, p.binary, string(p.data)})
			return nil
		})
		if (err != nil) != tt.wantErr {
			t.Errorf("decodePayload(%q) err = %v, want error %v", tt.in, err, tt.wantErr)
		}
		if len(got) != len(tt.want) {
			t.Errorf("decodePayload(%q) = %v, want %v", tt.in, got, tt.want)
			continue
		}
		for i := range got {
			if got[i] != tt.want[i] {
				t.Errorf("decodePayload(%q)[%d] = %v, want %v", tt.in, i, got[i], tt.want[i])
			}
		}
	}
}

func TestMessageEncodings(t *testing.T) {
	tests := []struct {
		name      string
		m         *Message
		frameHead []byte
		framePay  string
		poll      string
	}{
		{"text", NewMessage(false, []byte("hello")), []byte{0x81, 6}, "4hello", "4hello"},
		{"binary", NewMessage(true, []byte{1, 2, 3, 4}), []byte{0x82, 4}, "\x01\x02\x03\x04", "bAQIDBA=="},
		{"ping", pingMessage, []byte{0x81, 1}, "2", "2"},
		{"noop", noopMessage, []byte{0x81, 1}, "6", "6"},
		{"close", closeMessage, []byte{0x81, 1}, "1", "1"},
		{"probe", pongProbeMessage, []byte{0x81, 6}, "3probe", "3probe"},
		{"126", NewMessage(false, bytes.Repeat([]byte("a"), 200)), []byte{0x81, 126, 0, 201}, "4" + string(bytes.Repeat([]byte("a"), 200)), ""},
		{"64k", NewMessage(true, make([]byte, 70000)), []byte{0x82, 127, 0, 0, 0, 0, 0, 1, 0x11, 0x70}, string(make([]byte, 70000)), ""},
	}
	for _, tt := range tests {
		f := tt.m.wsFrame()
		if !bytes.HasPrefix(f, tt.frameHead) || string(f[len(tt.frameHead):]) != tt.framePay {
			t.Errorf("%s: frame %x...", tt.name, f[:min(len(f), 12)])
		}
		if &tt.m.wsFrame()[0] != &f[0] {
			t.Errorf("%s: frame not cached", tt.name)
		}
		if tt.poll != "" && string(tt.m.pollForm()) != tt.poll {
			t.Errorf("%s: poll form %q, want %q", tt.name, tt.m.pollForm(), tt.poll)
		}
	}
}

func TestMessageEncodingsConcurrentFirstUse(t *testing.T) {
	m := NewMessage(false, []byte("shared"))
	res := make(chan *byte, 16)
	for range 16 {
		go func() { res <- &m.wsFrame()[0] }()
	}
	first := <-res
	for range 15 {
		if p := <-res; p != first {
			// Losers of the CAS must return the winner's slice.
			t.Fatal("different frame slices returned")
		}
	}
}

func TestCloseReasonStrings(t *testing.T) {
	// Values are stable wire/metric contracts.
	pins := map[CloseReason]string{
		0: "none", 1: "server shutting down", 2: "forced close", 3: "transport close",
		4: "transport error", 5: "ping timeout", 6: "parse error", 7: "client close",
		8: "slow consumer", 9: "payload too large", 10: "overlapping polling request", 11: "unknown",
	}
	for r, s := range pins {
		if r.String() != s {
			t.Errorf("%d.String() = %q, want %q", r, r.String(), s)
		}
	}
}

func FuzzDecodePacket(f *testing.F) {
	for _, s := range []string{"0{\"sid\":\"abc\",\"upgrades\":[],\"pingInterval\":25000}", "1", "2", "2probe",
		"3", "3probe", "4hello", "4", "5", "6", "40", "42[\"ev\",{\"a\":1}]", "451-[\"b\",{\"_placeholder\":true,\"num\":0}]",
		"", "abc", "4\xff", "4héllo"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := decodePacket(b)
		if err != nil {
			return
		}
		if got := appendPacketText(nil, p.typ, p.data); !bytes.Equal(got, b) {
			t.Fatalf("round trip %q -> %q", b, got)
		}
	})
}

func FuzzDecodePayload(f *testing.F) {
	for _, s := range []string{"4hello", "4test1\x1e4test2\x1e4test3", "4hello\x1ebAQIDBA==", "3", "1",
		"451-[\"b\",{\"_placeholder\":true,\"num\":0}]\x1ebAQID", "b", "bAQI", "4a\x1e", "\x1e", "4\x1e\x1e4",
		"2probe\x1e5\x1e6", "abc"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var out []byte
		n := 0
		err := decodePayload(b, func(p packet) error {
			if n > 0 {
				out = append(out, payloadSeparator)
			}
			n++
			out = appendPacketPolling(out, p.typ, p.binary, p.data)
			return nil
		})
		if err != nil {
			return
		}
		// Re-encoding must decode to the same packets (base64 may be
		// canonicalized, so compare decoded forms).
		var a, c []packet
		_ = decodePayload(b, func(p packet) error { a = append(a, p); return nil })
		if err := decodePayload(out, func(p packet) error { c = append(c, p); return nil }); err != nil {
			t.Fatalf("re-encoded payload %q does not decode: %v", out, err)
		}
		if len(a) != len(c) {
			t.Fatalf("packet count %d != %d", len(a), len(c))
		}
		for i := range a {
			if a[i].typ != c[i].typ || a[i].binary != c[i].binary || !bytes.Equal(a[i].data, c[i].data) {
				t.Fatalf("packet %d differs", i)
			}
		}
	})
}
