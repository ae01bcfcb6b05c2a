package connection

import (
	"bytes"
	"compress/flate"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gobwas/ws"
)

// TestPortableReader runs the websocket tests again on the goroutine
// reader (the path for TLS and non-Linux systems).
func TestPortableReader(t *testing.T) {
	testDisablePoller = true
	defer func() { testDisablePoller = false }()
	for name, f := range map[string]func(*testing.T){
		"Direct":            TestWebsocketDirect,
		"PeerCloseFrame":    TestWebsocketPeerCloseFrame,
		"Errors":            TestWebsocketErrors,
		"PingPongAndTimout": TestWebsocketPingPongAndTimeout,
		"Upgrade":           TestUpgrade,
		"AbandonedProbe":    TestUpgradeAbandonedProbe,
		"SecondWebsocket":   TestSecondWebsocketDuringProbe,
		"SlowConsumer":      TestWebsocketSlowConsumer,
		"LargeFrames":       TestWebsocketLargeFrames,
		"Shutdown":          TestShutdownClosesEverything,
		"HalfFrame":         TestHalfFrameDoesNotPin,
		"Broadcast":         TestBroadcastShared,
		"WriteResumes":      TestWebsocketWriteResumes,
	} {
		t.Run(name, f)
	}
}

func TestPollerUsed(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("epoll is Linux only")
	}
	h := newRecorder()
	h.echo = true
	x := newTestServer(t, Config{}, h)
	c, _ := x.openWS()
	c.send(ws.OpText, "4x")
	c.expect("4x")
	if x.srv.Stats().PollerAdopted != 1 {
		t.Fatal("websocket not adopted by the poller")
	}
}

// TestHalfFrameDoesNotPin: a peer that sends half a frame and stops must not
// block other sessions, and completing the frame later delivers it.
func TestHalfFrameDoesNotPin(t *testing.T) {
	h := newRecorder()
	h.echo = true
	x := newTestServer(t, Config{Workers: 1}, h)
	slow, _ := x.openWS()
	f := ws.MaskFrameInPlace(ws.NewTextFrame([]byte("4" + strings.Repeat("s", 1000))))
	raw, err := ws.CompileFrame(f)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := slow.conn.Write(raw[:7]); err != nil { // header split in the middle
		t.Fatal(err)
	}
	fast, _ := x.openWS()
	for range 5 {
		fast.send(ws.OpText, "4fast")
		fast.expect("4fast")
	}
	if _, err := slow.conn.Write(raw[7:500]); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Millisecond) // let the partial payload arrive separately
	if _, err := slow.conn.Write(raw[500:]); err != nil {
		t.Fatal(err)
	}
	slow.expect("4" + strings.Repeat("s", 1000))
}

func TestFrameParserByteByByte(t *testing.T) {
	var stream []byte
	add := func(op ws.OpCode, fin bool, p string) {
		b, _ := ws.CompileFrame(ws.MaskFrameInPlace(ws.NewFrame(op, fin, []byte(p))))
		stream = append(stream, b...)
	}
	add(ws.OpText, true, "4hello")
	add(ws.OpBinary, false, "ab")
	add(ws.OpPing, true, "p")
	add(ws.OpContinuation, true, "cd")
	add(ws.OpText, true, "")
	add(ws.OpBinary, true, strings.Repeat("x", 70000))
	want := []string{"1:4hello", "9:p", "2:abcd", "1:", "2:" + strings.Repeat("x", 70000)}
	for _, chunk := range []int{1, 3, 7, 1 << 20} {
		var fp frameParser
		var got []string
		for i := 0; i < len(stream); i += chunk {
			ok, err := fp.feed(stream[i:min(i+chunk, len(stream))], 1<<20, func(op byte, p []byte) bool {
				got = append(got, string(rune('0'+op))+":"+string(p))
				return true
			})
			if err != nil || !ok {
				t.Fatalf("chunk %d: %v %v", chunk, ok, err)
			}
		}
		if strings.Join(got, "|") != strings.Join(want, "|") {
			t.Fatalf("chunk %d: got %d messages", chunk, len(got))
		}
		if !fp.idle() {
			t.Fatal("parser not idle at a message boundary")
		}
	}
}

func TestFrameParserErrors(t *testing.T) {
	frame := func(f ws.Frame) []byte { b, _ := ws.CompileFrame(f); return b }
	tests := []struct {
		name string
		in   []byte
		err  error
	}{
		{"unmasked", frame(ws.NewTextFrame([]byte("4"))), errWSProtocol},
		{"rsv", func() []byte { b := frame(ws.MaskFrameInPlace(ws.NewTextFrame([]byte("4")))); b[0] |= 0x40; return b }(), errWSProtocol},
		{"bad opcode", frame(ws.MaskFrameInPlace(ws.NewFrame(ws.OpCode(3), true, nil))), errWSProtocol},
		{"orphan continuation", frame(ws.MaskFrameInPlace(ws.NewFrame(ws.OpContinuation, true, []byte("x")))), errWSProtocol},
		{"fragmented control", frame(ws.MaskFrameInPlace(ws.NewFrame(ws.OpPing, false, nil))), errWSProtocol},
		{"long control", frame(ws.MaskFrameInPlace(ws.NewPingFrame(make([]byte, 126)))), errWSProtocol},
		{"too large", frame(ws.MaskFrameInPlace(ws.NewBinaryFrame(make([]byte, 101)))), errWSTooLarge},
		{"too large fragments", append(frame(ws.MaskFrameInPlace(ws.NewFrame(ws.OpBinary, false, make([]byte, 60)))),
			frame(ws.MaskFrameInPlace(ws.NewFrame(ws.OpContinuation, true, make([]byte, 60))))...), errWSTooLarge},
		{"text inside fragments", append(frame(ws.MaskFrameInPlace(ws.NewFrame(ws.OpBinary, false, []byte("a")))),
			frame(ws.MaskFrameInPlace(ws.NewTextFrame([]byte("b"))))...), errWSProtocol},
	}
	for _, tt := range tests {
		var fp frameParser
		_, err := fp.feed(tt.in, 100, func(byte, []byte) bool { return true })
		if err != tt.err {
			t.Errorf("%s: err %v, want %v", tt.name, err, tt.err)
		}
	}
}

// FuzzFrameParser: arbitrary input never panics, and splitting the input
// at any point yields the same messages.
func FuzzFrameParser(f *testing.F) {
	for _, fr := range []ws.Frame{ws.NewTextFrame([]byte("4hello")), ws.NewBinaryFrame([]byte{1, 2, 3}),
		ws.NewPingFrame([]byte("p")), ws.NewFrame(ws.OpText, false, []byte("4a")), ws.NewCloseFrame(ws.NewCloseFrameBody(1000, "")),
		ws.NewBinaryFrame(make([]byte, 300))} {
		b, _ := ws.CompileFrame(ws.MaskFrameInPlaceWith(fr, [4]byte{1, 2, 3, 4}))
		f.Add(b, uint16(3))
	}
	var deflated bytes.Buffer // a permessage-deflate text message
	fw, _ := flate.NewWriter(&deflated, flate.BestSpeed)
	_, _ = fw.Write([]byte("4" + strings.Repeat("compressed ", 20)))
	_ = fw.Flush()
	cf := ws.NewFrame(ws.OpText, true, deflated.Bytes()[:deflated.Len()-4])
	cf.Header.Rsv = ws.Rsv(true, false, false)
	b, _ := ws.CompileFrame(ws.MaskFrameInPlaceWith(cf, [4]byte{1, 2, 3, 4}))
	f.Add(b, uint16(7))
	f.Fuzz(func(t *testing.T, in []byte, split uint16) {
		for _, deflate := range []bool{false, true} {
			fuzzFrames(t, in, split, deflate)
		}
	})
}

// fuzzFrames checks one input whole and split, with permessage-deflate
// negotiated or not.
func fuzzFrames(t *testing.T, in []byte, split uint16, deflate bool) {
	run := func(chunks ...[]byte) (string, error) {
		fp := frameParser{deflate: deflate, inflations: new(atomic.Uint64)}
		var out strings.Builder
		for _, c := range chunks {
			ok, err := fp.feed(c, 4096, func(op byte, p []byte) bool {
				out.WriteByte('0' + op)
				out.Write(p)
				out.WriteByte('|')
				return true
			})
			if err != nil || !ok {
				return out.String(), err
			}
		}
		return out.String(), nil
	}
	whole, err1 := run(in)
	k := int(split) % (len(in) + 1)
	parts, err2 := run(in[:k], in[k:])
	if whole != parts || err1 != err2 {
		t.Fatalf("deflate %v: split at %d changed the result: %q/%v vs %q/%v", deflate, k, whole, err1, parts, err2)
	}
}
