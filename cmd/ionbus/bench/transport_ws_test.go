package bench

import (
	"bufio"
	"net"
	"testing"

	"github.com/gobwas/ws"
)

func wsPair(t *testing.T) (*wsTransport, net.Conn) {
	t.Helper()
	client, server := net.Pipe()
	t.Cleanup(func() { client.Close(); server.Close() })
	return &wsTransport{conn: client, r: bufio.NewReaderSize(client, wsReadBuffer)}, server
}

// The read loop sees whole text messages: fragments are joined, pings are
// answered with a masked pong carrying the same payload, binary messages
// are dropped.
func TestWSReadMessage(t *testing.T) {
	tr, server := wsPair(t)
	go func() {
		frames := []ws.Frame{
			ws.NewFrame(ws.OpText, false, []byte(`42["ben`)),
			ws.NewPingFrame([]byte("hb")),
			ws.NewFrame(ws.OpContinuation, true, []byte(`ch"]`)),
			ws.NewFrame(ws.OpBinary, false, []byte{0x04, 0x01}),
			ws.NewFrame(ws.OpContinuation, true, []byte{0x02}),
			ws.NewTextFrame([]byte("2")),
		}
		for _, f := range frames {
			if err := ws.WriteFrame(server, f); err != nil {
				return
			}
		}
	}()
	pong := make(chan ws.Frame, 1)
	go func() {
		f, err := ws.ReadFrame(server)
		if err == nil {
			pong <- f
		}
	}()
	msg, err := tr.readMessage()
	if err != nil || string(msg) != `42["bench"]` {
		t.Fatalf("first message %q %v", msg, err)
	}
	f := <-pong
	if f.Header.OpCode != ws.OpPong || !f.Header.Masked {
		t.Fatalf("pong header %+v", f.Header)
	}
	ws.Cipher(f.Payload, f.Header.Mask, 0)
	if string(f.Payload) != "hb" {
		t.Errorf("pong payload %q", f.Payload)
	}
	msg, err = tr.readMessage()
	if err != nil || string(msg) != "2" {
		t.Fatalf("second message %q %v (binary not skipped?)", msg, err)
	}
}

// Client frames are masked (RFC 6455 5.3) with every length encoding.
func TestWSSendMasked(t *testing.T) {
	for _, n := range []int{0, 1, 125, 126, 65535, 65536} {
		tr, server := wsPair(t)
		payload := make([]byte, n)
		for i := range payload {
			payload[i] = byte('a' + i%26)
		}
		errc := make(chan error, 1)
		go func() { errc <- tr.send(payload) }()
		f, err := ws.ReadFrame(server)
		if err != nil {
			t.Fatalf("n=%d: %v", n, err)
		}
		if err := <-errc; err != nil {
			t.Fatalf("n=%d send: %v", n, err)
		}
		if !f.Header.Masked || f.Header.OpCode != ws.OpText || !f.Header.Fin || int(f.Header.Length) != n {
			t.Fatalf("n=%d header %+v", n, f.Header)
		}
		ws.Cipher(f.Payload, f.Header.Mask, 0)
		if string(f.Payload) != string(payload) {
			t.Fatalf("n=%d payload differs", n)
		}
	}
}

// A server close frame is answered and ends the read loop.
func TestWSServerClose(t *testing.T) {
	tr, server := wsPair(t)
	go func() {
		_ = ws.WriteFrame(server, ws.NewCloseFrame(ws.NewCloseFrameBody(ws.StatusGoingAway, "bye")))
		_, _ = ws.ReadFrame(server) // the echoed close
	}()
	if _, err := tr.readMessage(); err != errServerClose {
		t.Fatalf("err %v", err)
	}
}
