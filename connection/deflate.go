package connection

import (
	"bytes"
	"compress/flate"
	"io"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsflate"
)

// PerMessageDeflate controls the websocket permessage-deflate extension
// (RFC 7692). It is negotiated without context takeover in either
// direction, so an idle socket keeps no compressor state and a broadcast
// is compressed once for every socket that negotiated it.
type PerMessageDeflate struct {
	// Enabled accepts the extension when a client offers it. Default
	// false.
	Enabled bool
	// Threshold is the smallest outbound message, in bytes, sent
	// compressed. Default 1024.
	Threshold int
}

// deflateParams are the only ones ionbus accepts: no context takeover
// either way and the default 32 KiB windows (an offer that limits the
// server's window is declined, as compress/flate cannot honour it).
var deflateParams = wsflate.Parameters{ServerNoContextTakeover: true, ClientNoContextTakeover: true}

// upgrader returns the websocket upgrader for r and the extension
// negotiator to ask afterwards (nil when permessage-deflate is off).
func (srv *Server) upgrader() (ws.HTTPUpgrader, *wsflate.Extension) {
	u := ws.HTTPUpgrader{Timeout: srv.cfg.WriteTimeout}
	if !srv.cfg.PerMessageDeflate.Enabled {
		return u, nil
	}
	e := &wsflate.Extension{Parameters: deflateParams}
	u.Negotiate = e.Negotiate
	return u, e
}

func negotiated(e *wsflate.Extension) bool {
	if e == nil {
		return false
	}
	_, ok := e.Accepted()
	return ok
}

// frame returns the websocket frame c sends for m: the compressed form
// when c negotiated permessage-deflate and m is an application message of
// at least the threshold, else the plain frame.
func (c *wsConn) frame(m *Message) []byte {
	if c.parser.deflate && m.kind == kindMessage && m.queuedSize() >= c.srv.cfg.PerMessageDeflate.Threshold {
		if f := m.wsDeflateFrame(); f != nil {
			c.srv.counters.deflated.Add(1)
			return f
		}
	}
	return m.wsFrame()
}

var (
	flateWriters = sync.Pool{New: func() any {
		w, _ := flate.NewWriter(io.Discard, flate.DefaultCompression)
		return w
	}}
	flateReaders = sync.Pool{New: func() any { return flate.NewReader(bytes.NewReader(nil)) }}
)

// wsDeflateFrame returns m's compressed frame (RSV1 set), building it on
// first use and sharing it like the plain one; nil if it cannot be built.
func (m *Message) wsDeflateFrame() []byte {
	if p := atomic.LoadPointer(&m.enc.deflated); p != nil {
		return *(*[]byte)(p)
	}
	op := opText
	plain := m.wsFrame() // header + payload; the payload is what is compressed
	payload := plain[len(plain)-m.wireLen():]
	if m.Binary {
		op = opBinary
	}
	var buf bytes.Buffer
	buf.Grow(len(payload)/2 + 16)
	w := flateWriters.Get().(*flate.Writer)
	w.Reset(&buf)
	_, err := w.Write(payload)
	if err == nil {
		err = w.Flush() // sync flush: ends with 00 00 ff ff, removed below (RFC 7692 7.2.1)
	}
	flateWriters.Put(w)
	if err != nil || buf.Len() < 4 {
		return nil
	}
	body := buf.Bytes()[:buf.Len()-4]
	b := appendFrameHeader(make([]byte, 0, maxHeaderLen+len(body)), op, len(body))
	b[0] |= rsv1
	b = append(b, body...)
	if atomic.CompareAndSwapPointer(&m.enc.deflated, nil, unsafe.Pointer(&b)) {
		return b
	}
	return *(*[]byte)(atomic.LoadPointer(&m.enc.deflated))
}

// wireLen is the length of m's websocket payload (packet type included
// for text).
func (m *Message) wireLen() int {
	if m.Binary && m.kind == kindMessage {
		return len(m.Data)
	}
	return 1 + len(m.payload())
}

const rsv1 = 0x40 // the "compressed" bit of a message's first frame

// deflateTail completes a message compressed with a sync flush whose
// trailer was removed: the trailer, then an empty final stored block so
// the reader ends cleanly instead of waiting for more.
var deflateTail = []byte{0x00, 0x00, 0xff, 0xff, 0x01, 0x00, 0x00, 0xff, 0xff}

// inflate decompresses a permessage-deflate payload into dst[:0],
// refusing output over limit bytes with errWSTooLarge and corrupt input
// with errWSProtocol.
func inflate(dst, src []byte, limit int) ([]byte, error) {
	r := flateReaders.Get().(io.ReadCloser)
	defer flateReaders.Put(r)
	if err := r.(flate.Resetter).Reset(io.MultiReader(bytes.NewReader(src), bytes.NewReader(deflateTail)), nil); err != nil {
		return dst, errWSProtocol
	}
	dst = dst[:0]
	for {
		if len(dst) == cap(dst) {
			dst = append(dst, 0)[:len(dst)]
		}
		n, err := r.Read(dst[len(dst):cap(dst)])
		dst = dst[:len(dst)+n]
		if len(dst) > limit {
			return dst, errWSTooLarge
		}
		switch err {
		case nil:
		case io.EOF:
			return dst, nil
		default:
			return dst, errWSProtocol
		}
	}
}
