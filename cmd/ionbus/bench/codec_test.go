package bench

import (
	"bytes"
	"testing"
)

func TestDecodeSIO(t *testing.T) {
	tests := []struct {
		in      string
		typ     byte
		nsp     string
		id      int64
		attach  int
		data    string
		wantErr bool
	}{
		{in: "0", typ: sioConnect, nsp: "/", id: -1},
		{in: `0{"sid":"abc"}`, typ: sioConnect, nsp: "/", id: -1, data: `{"sid":"abc"}`},
		{in: `0/admin,{"sid":"x"}`, typ: sioConnect, nsp: "/admin", id: -1, data: `{"sid":"x"}`},
		{in: `2["bench",{"seq":1}]`, typ: sioEvent, nsp: "/", id: -1, data: `["bench",{"seq":1}]`},
		{in: `2/chat,12["m"]`, typ: sioEvent, nsp: "/chat", id: 12, data: `["m"]`},
		{in: `212["m"]`, typ: sioEvent, nsp: "/", id: 12, data: `["m"]`},
		{in: `3/chat,7[{"ok":true}]`, typ: sioAck, nsp: "/chat", id: 7, data: `[{"ok":true}]`},
		{in: `4{"message":"nope"}`, typ: sioConnectError, nsp: "/", id: -1, data: `{"message":"nope"}`},
		{in: `1/chat,`, typ: sioDisconnect, nsp: "/chat", id: -1},
		{in: `51-["b",{"_placeholder":true,"num":0}]`, typ: sioBinaryEvent, nsp: "/", id: -1, attach: 1, data: `["b",{"_placeholder":true,"num":0}]`},
		{in: `62-/n,9[{"_placeholder":true,"num":0}]`, typ: sioBinaryAck, nsp: "/n", id: 9, attach: 2, data: `[{"_placeholder":true,"num":0}]`},
		{in: ``, wantErr: true},
		{in: `9[]`, wantErr: true},
		{in: `5["x"]`, wantErr: true},
		{in: `2` + "99999999999999999999[]", wantErr: true},
	}
	for _, tt := range tests {
		p, err := decodeSIO([]byte(tt.in))
		if tt.wantErr {
			if err == nil {
				t.Errorf("decodeSIO(%q): want error, got %+v", tt.in, p)
			}
			continue
		}
		if err != nil {
			t.Errorf("decodeSIO(%q): %v", tt.in, err)
			continue
		}
		if p.Type != tt.typ || p.Namespace != tt.nsp || p.ID != tt.id || p.Attachments != tt.attach || string(p.Data) != tt.data {
			t.Errorf("decodeSIO(%q) = %c %q %d %d %q", tt.in, p.Type, p.Namespace, p.ID, p.Attachments, p.Data)
		}
	}
}

func TestEncode(t *testing.T) {
	tests := []struct{ got, want string }{
		{string(appendSIO(nil, sioConnect, "/", -1, nil)), "40"},
		{string(appendSIO(nil, sioConnect, "/admin", -1, []byte(`{"token":"t"}`))), `40/admin,{"token":"t"}`},
		{string(appendSIO(nil, sioDisconnect, "/", -1, nil)), "41"},
		{string(appendEvent(nil, "/", -1, "join_room", []byte(`{"room_name":"r"}`))), `42["join_room",{"room_name":"r"}]`},
		{string(appendEvent(nil, "/", 0, "join_room", []byte(`{}`))), `420["join_room",{}]`},
		{string(appendEvent(nil, "/chat", 17, "echo", []byte(`"x"`), []byte(`1`))), `42/chat,17["echo","x",1]`},
		{string(appendEvent(nil, "/", -1, "noargs")), `42["noargs"]`},
		{string(appendEvent(nil, "/", -1, `we"ird`)), `42["we\"ird"]`},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("got %s, want %s", tt.got, tt.want)
		}
	}
}

// An encoded event must decode to the same namespace, id and payload.
func TestEncodeDecodeRoundTrip(t *testing.T) {
	msg := appendEvent(nil, "/x", 5, "bench", []byte(`{"seq":3,"t":99}`))
	if msg[0] != eioMessage {
		t.Fatalf("no engine.io message prefix: %q", msg)
	}
	p, err := decodeSIO(msg[1:])
	if err != nil {
		t.Fatal(err)
	}
	name, rest, ok := eventName(p.Data)
	if !ok || name != "bench" || p.Namespace != "/x" || p.ID != 5 {
		t.Fatalf("got %q %q %d", name, p.Namespace, p.ID)
	}
	st, ok := parseStamp(rest)
	if !ok || st.Seq != 3 || st.Unix != 99 {
		t.Fatalf("stamp %+v %v", st, ok)
	}
}

func TestEventName(t *testing.T) {
	tests := []struct {
		in, name, rest string
		ok             bool
	}{
		{`["bench",{"seq":1}]`, "bench", `,{"seq":1}]`, true},
		{`["room_joined"]`, "room_joined", `]`, true},
		{`["a\"b",1]`, `a"b`, `,1]`, true},
		{`["caf\u00e9"]`, "café", `]`, true},
		{`[1,2]`, "", "", false},
		{`{"a":1}`, "", "", false},
		{`["unterminated`, "", "", false},
	}
	for _, tt := range tests {
		name, rest, ok := eventName([]byte(tt.in))
		if ok != tt.ok || name != tt.name || string(rest) != tt.rest {
			t.Errorf("eventName(%s) = %q %q %v", tt.in, name, rest, ok)
		}
	}
}

func TestParseStamp(t *testing.T) {
	tests := []struct {
		rest string
		seq  int64
		unix int64
		ok   bool
	}{
		{`,{"seq":4,"t":1732500000123456789}]`, 4, 1732500000123456789, true},
		{`,{"t":5,"seq":0}]`, 0, 5, true},
		{`,{ "seq" : 2, "t" : 9 }]`, 2, 9, true}, // spaces: slow path
		{`,{"seq":1.0,"t":9}]`, 0, 0, false},     // not an integer
		{`,{"seq":1}]`, 0, 0, false},
		{`]`, 0, 0, false},
		{`,"junk"]`, 0, 0, false},
	}
	for _, tt := range tests {
		st, ok := parseStamp([]byte(tt.rest))
		if ok != tt.ok || ok && (st.Seq != tt.seq || st.Unix != tt.unix) {
			t.Errorf("parseStamp(%s) = %+v %v", tt.rest, st, ok)
		}
	}
}

func TestSplitPolling(t *testing.T) {
	got := splitPolling([]byte("2\x1e42[\"a\"]\x1e6"))
	want := []string{"2", `42["a"]`, "6"}
	if len(got) != len(want) {
		t.Fatalf("got %q", got)
	}
	for i := range want {
		if !bytes.Equal(got[i], []byte(want[i])) {
			t.Errorf("part %d = %q, want %q", i, got[i], want[i])
		}
	}
}

func TestMakeTarget(t *testing.T) {
	tg, err := makeTarget("127.0.0.1:4000", "/socket.io/", nil)
	if err != nil {
		t.Fatal(err)
	}
	if tg.wsURL != "ws://127.0.0.1:4000/socket.io/?EIO=4&transport=websocket" {
		t.Errorf("ws url %s", tg.wsURL)
	}
	if tg.pollURL != "http://127.0.0.1:4000/socket.io/?EIO=4&transport=polling" {
		t.Errorf("poll url %s", tg.pollURL)
	}
	tg, err = makeTarget("https://h:1/custom?x=1", "/socket.io/", nil)
	if err != nil {
		t.Fatal(err)
	}
	if tg.wsURL != "wss://h:1/custom/?EIO=4&transport=websocket&x=1" {
		t.Errorf("wss url %s", tg.wsURL)
	}
	if _, err := makeTarget("ftp://h", "/", nil); err == nil {
		t.Error("ftp accepted")
	}
}

func TestUsePollingShare(t *testing.T) {
	for _, share := range []float64{0, 0.1, 0.25, 1} {
		n := 0
		for i := 0; i < 1000; i++ {
			if usePolling(i, share) {
				n++
			}
		}
		if want := int(share * 1000); n != want {
			t.Errorf("share %v: %d polling of 1000, want %d", share, n, want)
		}
	}
}

func FuzzDecodeSIO(f *testing.F) {
	for _, s := range []string{"0", `2/a,1["x"]`, `51-["b",{"_placeholder":true,"num":0}]`, "3/", "2/", "5-", ""} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := decodeSIO(b)
		if err == nil && len(p.Data) > len(b) {
			t.Fatalf("data longer than input")
		}
		if err == nil && p.Type == sioEvent {
			_, _, _ = eventName(p.Data)
		}
		_, _ = parseStamp(b)
	})
}

// The receive hot path of fanout: decode, event name, stamp.
func BenchmarkFanoutReceivePath(b *testing.B) {
	msg := []byte(`2["bench",{"seq":12345,"t":1732500000123456789}]`)
	b.ReportAllocs()
	for b.Loop() {
		p, err := decodeSIO(msg)
		if err != nil {
			b.Fatal(err)
		}
		_, rest, ok := eventName(p.Data)
		if !ok {
			b.Fatal("no name")
		}
		if _, ok := parseStamp(rest); !ok {
			b.Fatal("no stamp")
		}
	}
}
