package connection

import (
	"bufio"
	"bytes"
	"compress/flate"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/gobwas/httphead"
	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsflate"
)

// compressClient compresses p as a permessage-deflate message body.
func compressClient(t *testing.T, p []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, _ := flate.NewWriter(&buf, flate.BestSpeed)
	_, _ = w.Write(p)
	_ = w.Flush()
	return buf.Bytes()[:buf.Len()-4]
}

func TestInflateRoundTrip(t *testing.T) {
	for _, p := range []string{"", "4x", eventJSON(2048), strings.Repeat("ab", 40000)} {
		got, err := inflate(nil, compressClient(t, []byte(p)), 1<<20)
		if err != nil || string(got) != p {
			t.Fatalf("inflate(%d bytes): %v, %d bytes back", len(p), err, len(got))
		}
	}
	// A small compressed body that expands past the limit is refused.
	bomb := compressClient(t, bytes.Repeat([]byte{'a'}, 1<<20))
	if _, err := inflate(nil, bomb, 1000); !errors.Is(err, errWSTooLarge) {
		t.Fatalf("%d-byte bomb: %v, want errWSTooLarge", len(bomb), err)
	}
	if _, err := inflate(nil, []byte{0xff, 0xff, 0xff}, 1000); !errors.Is(err, errWSProtocol) {
		t.Fatalf("garbage: %v, want errWSProtocol", err)
	}
}

// dialDeflate opens a direct websocket session offering permessage-deflate
// as the ws library does, and returns the client, the sid and whether the
// server accepted the extension.
func (x *testServer) dialDeflate() (*wsClient, string, bool) {
	x.t.Helper()
	offer := httphead.Option{Name: []byte("permessage-deflate")}
	offer.Parameters.Set([]byte("client_max_window_bits"), nil)
	d := ws.Dialer{Extensions: []httphead.Option{offer}}
	conn, br, hs, err := d.Dial(context.Background(), "ws"+strings.TrimPrefix(x.base, "http")+"?EIO=4&transport=websocket")
	if err != nil {
		x.t.Fatal(err)
	}
	x.t.Cleanup(func() { conn.Close() })
	if br == nil {
		br = bufio.NewReader(conn)
	}
	accepted := false
	for _, e := range hs.Extensions {
		if string(e.Name) == "permessage-deflate" {
			var p wsflate.Parameters
			if err := p.Parse(e); err != nil || !p.ServerNoContextTakeover || !p.ClientNoContextTakeover {
				x.t.Fatalf("accepted %s: %v %+v", e.String(), err, p)
			}
			accepted = true
		}
	}
	c := &wsClient{t: x.t, conn: conn, br: br}
	op, open := c.read()
	if op != ws.OpText || !strings.HasPrefix(open, `0{"sid":"`) {
		x.t.Fatalf("open packet %q", open)
	}
	return c, open[9:29], accepted
}

// sendCompressed writes a masked text message with RSV1 set.
func (c *wsClient) sendCompressed(p string) {
	c.t.Helper()
	f := ws.NewFrame(ws.OpText, true, compressClient(c.t, []byte(p)))
	f.Header.Rsv = ws.Rsv(true, false, false)
	f = ws.MaskFrameInPlace(f)
	if err := ws.WriteFrame(c.conn, f); err != nil {
		c.t.Fatal(err)
	}
}

// readRaw returns the next data frame's header and payload.
func (c *wsClient) readRaw() (ws.Header, []byte) {
	c.t.Helper()
	for {
		f, err := ws.ReadFrame(c.br)
		if err != nil {
			c.t.Fatal(err)
		}
		if f.Header.OpCode != ws.OpPong {
			return f.Header, f.Payload
		}
	}
}

// With the extension on, a client that offers it gets it without context
// takeover; compressed messages in are decoded, messages out of at least
// the threshold are compressed (the same bytes for every socket), smaller
// ones are not.
func TestPerMessageDeflate(t *testing.T) {
	h := newRecorder()
	h.echo = true
	x := newTestServer(t, Config{PerMessageDeflate: PerMessageDeflate{Enabled: true}}, h)
	c, _, accepted := x.dialDeflate()
	if !accepted {
		t.Fatal("permessage-deflate not negotiated")
	}
	big := "4" + eventJSON(2048)
	c.sendCompressed(big)
	hd, p := c.readRaw()
	if hd.Rsv != ws.Rsv(true, false, false) || hd.OpCode != ws.OpText {
		t.Fatalf("echo of %d bytes: rsv %b op %v, want compressed text", len(big), hd.Rsv, hd.OpCode)
	}
	got, err := inflate(nil, p, 1<<20)
	if err != nil || string(got) != big {
		t.Fatalf("echo: %v %q", err, got)
	}
	if len(p) > len(big)/2 {
		t.Errorf("%d bytes compressed to %d", len(big), len(p))
	}
	c.sendCompressed("4small")
	if hd, p := c.readRaw(); hd.Rsv != 0 || string(p) != "4small" {
		t.Fatalf("small echo: rsv %b %q", hd.Rsv, p)
	}
	c.send(ws.OpText, "4plain in")
	if hd, p := c.readRaw(); hd.Rsv != 0 || string(p) != "4plain in" {
		t.Fatalf("plain echo: rsv %b %q", hd.Rsv, p)
	}
	st := x.srv.Stats()
	if st.FramesDeflated != 1 || st.FramesInflated != 2 {
		t.Fatalf("stats: %d deflated, %d inflated; want 1, 2", st.FramesDeflated, st.FramesInflated)
	}

	// One broadcast message to two sockets is compressed once.
	c2, sid2, _ := x.dialDeflate()
	_, sid1, _ := x.dialDeflate()
	m := NewMessage(false, []byte(eventJSON(4096)))
	for _, sid := range []string{sid1, sid2} {
		if err := h.conn(sid).Send(m); err != nil {
			t.Fatal(err)
		}
	}
	if hd, _ := c2.readRaw(); hd.Rsv == 0 {
		t.Fatal("broadcast not compressed")
	}
	f1 := m.wsDeflateFrame()
	if f2 := m.wsDeflateFrame(); &f1[0] != &f2[0] {
		t.Fatal("compressed frame rebuilt per socket")
	}
}

// With the extension off it is not negotiated, and a frame with RSV1 is a
// protocol error.
func TestPerMessageDeflateOff(t *testing.T) {
	x := newTestServer(t, Config{}, nil)
	c, _, accepted := x.dialDeflate()
	if accepted {
		t.Fatal("permessage-deflate negotiated while disabled")
	}
	c.sendCompressed("4hello")
	c.expectClose(wsCloseProtocolError)
}

// An offer that limits the server's window (compress/flate cannot) is
// declined; the connection goes on uncompressed.
func TestPerMessageDeflateDeclinesWindowLimit(t *testing.T) {
	x := newTestServer(t, Config{PerMessageDeflate: PerMessageDeflate{Enabled: true}}, nil)
	offer := httphead.Option{Name: []byte("permessage-deflate")}
	offer.Parameters.Set([]byte("server_max_window_bits"), []byte("10"))
	d := ws.Dialer{Extensions: []httphead.Option{offer}}
	conn, _, hs, err := d.Dial(context.Background(), "ws"+strings.TrimPrefix(x.base, "http")+"?EIO=4&transport=websocket")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if len(hs.Extensions) != 0 {
		t.Fatalf("accepted %v", hs.Extensions)
	}
}

// BenchmarkDeflateFrame: the compressed frame of one 2 KiB JSON event,
// built once per broadcast whatever the number of sockets.
func BenchmarkDeflateFrame(b *testing.B) {
	data := []byte(eventJSON(2048))
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	var n int
	for b.Loop() {
		m := NewMessage(false, data)
		n = len(m.wsDeflateFrame())
	}
	b.ReportMetric(float64(n), "frame-bytes")
	b.ReportMetric(float64(len(NewMessage(false, data).wsFrame())), "plain-bytes")
}

// BenchmarkInflate: decoding one compressed 2 KiB client message.
func BenchmarkInflate(b *testing.B) {
	var buf bytes.Buffer
	w, _ := flate.NewWriter(&buf, flate.BestSpeed)
	_, _ = w.Write([]byte("4" + eventJSON(2048)))
	_ = w.Flush()
	src := buf.Bytes()[:buf.Len()-4]
	b.ReportAllocs()
	for b.Loop() {
		if _, err := inflate(nil, src, 1<<20); err != nil {
			b.Fatal(err)
		}
	}
}
