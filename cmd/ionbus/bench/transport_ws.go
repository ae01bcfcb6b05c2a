package bench

import (
	"bufio"
	"bytes"
	"compress/flate"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"time"

	"github.com/gobwas/httphead"
	"github.com/gobwas/ws"
)

// wsReadBuffer is the per-socket read buffer. Engine.IO traffic in a bench is
// small packets; larger frames are read straight into a payload slice.
const wsReadBuffer = 512

// writeTimeout bounds every client write; a server that stops reading fails the socket.
const writeTimeout = 10 * time.Second

// wsTransport is one client websocket. One goroutine reads (the socket's
// read loop); writes come from the read loop (pong) and from the mode driver
// (emits), so they are serialised by mu.
type wsTransport struct {
	conn net.Conn
	r    *bufio.Reader
	mu   sync.Mutex // guards writes and wbuf
	wbuf []byte
	msg  []byte // reassembly buffer for fragmented messages; reused

	deflate bool // permessage-deflate negotiated: messages with RSV1 are inflated
}

// deflateOffer asks for permessage-deflate without context takeover either
// way, so a compressed message needs no state from the ones before it.
var deflateOffer = func() httphead.Option {
	o := httphead.Option{Name: []byte("permessage-deflate")}
	o.Parameters.Set([]byte("client_no_context_takeover"), nil)
	o.Parameters.Set([]byte("server_no_context_takeover"), nil)
	return o
}()

var (
	flateReaders = sync.Pool{New: func() any { return flate.NewReader(bytes.NewReader(nil)) }}
	// deflateTail ends a message whose sync-flush trailer was removed
	// (RFC 7692 7.2.2), plus an empty final block so the reader stops.
	deflateTail = []byte{0x00, 0x00, 0xff, 0xff, 0x01, 0x00, 0x00, 0xff, 0xff}
)

// inflate decompresses one permessage-deflate message.
func inflate(p []byte) ([]byte, error) {
	r := flateReaders.Get().(io.ReadCloser)
	defer flateReaders.Put(r)
	if err := r.(flate.Resetter).Reset(io.MultiReader(bytes.NewReader(p), bytes.NewReader(deflateTail)), nil); err != nil {
		return nil, err
	}
	return io.ReadAll(io.LimitReader(r, 64<<20))
}

func dialWS(ctx context.Context, t target, local net.IP, timeout time.Duration) (*wsTransport, error) {
	nd := &net.Dialer{Timeout: timeout}
	if local != nil {
		nd.LocalAddr = &net.TCPAddr{IP: local}
	}
	d := ws.Dialer{
		Timeout:        timeout,
		NetDial:        nd.DialContext,
		ReadBufferSize: 1024,
		TLSConfig:      t.tls,
		Header:         ws.HandshakeHeaderHTTP(t.header),
	}
	if t.deflate {
		d.Extensions = []httphead.Option{deflateOffer}
	}
	conn, br, hs, err := d.Dial(ctx, t.wsURL)
	if err != nil {
		return nil, err
	}
	tr := &wsTransport{conn: conn}
	for _, e := range hs.Extensions {
		tr.deflate = tr.deflate || string(e.Name) == "permessage-deflate"
	}
	if br != nil && br.Buffered() > 0 {
		// The server's first frames arrived with the handshake response.
		pre, _ := br.Peek(br.Buffered())
		pre = bytes.Clone(pre)
		ws.PutReader(br)
		tr.r = bufio.NewReaderSize(io.MultiReader(bytes.NewReader(pre), conn), wsReadBuffer)
	} else {
		if br != nil {
			ws.PutReader(br)
		}
		tr.r = bufio.NewReaderSize(conn, wsReadBuffer)
	}
	return tr, nil
}

// readMessage returns the next text message. Control frames are handled
// inline; binary messages (Socket.IO attachments) are read and dropped: the
// bench measures the packets that announce them. The returned slice is
// valid until the next call.
func (t *wsTransport) readMessage() ([]byte, error) {
	t.msg = t.msg[:0]
	binary, compressed := false, false
	for {
		h, err := ws.ReadHeader(t.r)
		if err != nil {
			return nil, err
		}
		if h.Length > 64<<20 {
			return nil, fmt.Errorf("bench: frame of %d bytes", h.Length)
		}
		if h.OpCode.IsControl() {
			p := make([]byte, h.Length)
			if _, err := io.ReadFull(t.r, p); err != nil {
				return nil, err
			}
			if h.Masked {
				ws.Cipher(p, h.Mask, 0)
			}
			switch h.OpCode {
			case ws.OpPing:
				if err := t.writeFrame(ws.OpPong, p, writeTimeout); err != nil {
					return nil, err
				}
			case ws.OpClose:
				_ = t.writeFrame(ws.OpClose, p, 100*time.Millisecond)
				return nil, errServerClose
			}
			continue
		}
		if h.OpCode == ws.OpBinary {
			binary = true
		}
		if h.Rsv1() {
			if !t.deflate || h.OpCode == ws.OpContinuation {
				return nil, fmt.Errorf("bench: RSV1 set without permessage-deflate")
			}
			compressed = true
		}
		start := len(t.msg)
		need := start + int(h.Length)
		if cap(t.msg) < need {
			grown := make([]byte, start, need)
			copy(grown, t.msg)
			t.msg = grown
		}
		t.msg = t.msg[:need]
		if _, err := io.ReadFull(t.r, t.msg[start:]); err != nil {
			return nil, err
		}
		if h.Masked {
			ws.Cipher(t.msg[start:], h.Mask, 0)
		}
		if h.Fin && binary {
			t.msg, binary, compressed = t.msg[:0], false, false
			continue
		}
		if h.Fin && compressed {
			msg, err := inflate(t.msg)
			t.msg = t.msg[:0]
			return msg, err
		}
		if h.Fin {
			msg := t.msg
			if cap(t.msg) > 4096 {
				t.msg = nil // do not pin a large buffer on an idle socket
			}
			return msg, nil
		}
	}
}

// send writes one Engine.IO packet as a text frame. Goroutine-safe; blocks
// until the kernel takes the bytes or the write deadline passes.
func (t *wsTransport) send(p []byte) error { return t.writeFrame(ws.OpText, p, writeTimeout) }

func (t *wsTransport) sendWithin(p []byte, d time.Duration) error {
	return t.writeFrame(ws.OpText, p, d)
}

func (t *wsTransport) writeFrame(op ws.OpCode, p []byte, timeout time.Duration) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	b := t.wbuf[:0]
	b = append(b, 0x80|byte(op))
	switch n := len(p); {
	case n < 126:
		b = append(b, 0x80|byte(n))
	case n <= 0xffff:
		b = append(b, 0x80|126)
		b = binary.BigEndian.AppendUint16(b, uint16(n))
	default:
		b = append(b, 0x80|127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	var mask [4]byte
	binary.LittleEndian.PutUint32(mask[:], rand.Uint32())
	b = append(b, mask[:]...)
	start := len(b)
	b = append(b, p...)
	ws.Cipher(b[start:], mask, 0)
	_ = t.conn.SetWriteDeadline(time.Now().Add(timeout))
	_, err := t.conn.Write(b)
	if cap(b) <= 1024 {
		t.wbuf = b[:0]
	} else {
		t.wbuf = nil
	}
	return err
}

func (t *wsTransport) setReadDeadline(d time.Time) { _ = t.conn.SetReadDeadline(d) }

// close sends a close frame (best effort, short deadline) and closes the TCP connection.
func (t *wsTransport) close() {
	_ = t.writeFrame(ws.OpClose, ws.NewCloseFrameBody(ws.StatusNormalClosure, ""), 100*time.Millisecond)
	_ = t.conn.Close()
}

func (t *wsTransport) abort() { _ = t.conn.Close() }
