package connection

import (
	"encoding/binary"
	"sync/atomic"

	"github.com/gobwas/ws"
)

// frameParser is an incremental websocket frame parser for client frames.
// It keeps per-socket partial state (a header being received, the rest of a
// frame's payload, a fragmented message) so it can be fed whatever bytes a
// read returned: a peer sending half a frame slowly pins no goroutine and
// no worker, and payload memory grows only as bytes arrive.
//
// Not safe for concurrent use: one reader (goroutine or worker) at a time.
type frameParser struct {
	hdr  [14]byte // header being received
	hdrN int

	inFrame bool
	fin     bool
	op      byte
	mask    [4]byte
	remain  int // payload bytes still expected for the current frame
	maskOff int

	fragOp byte   // opcode of the data message being assembled; 0: none
	buf    []byte // data message being assembled
	ctl    []byte // control frame payload being assembled (≤125 bytes)

	deflate    bool           // permessage-deflate negotiated: RSV1 allowed on a message's first frame
	compressed bool           // the message being assembled has RSV1
	inflated   []byte         // the decompressed message, during emit only
	inflations *atomic.Uint64 // counts decompressed messages (with deflate)
}

// headerLen returns the full header length given its first two bytes.
func headerLen(b0, b1 byte) int {
	n := 2
	switch b1 & 0x7F {
	case 126:
		n += 2
	case 127:
		n += 8
	}
	if b1&0x80 != 0 {
		n += 4
	}
	return n
}

// feed consumes p. For each complete data message or control frame it calls
// emit(op, payload); payload is valid only during the call. feed stops and
// returns false when emit does; it returns errWSProtocol or errWSTooLarge
// on bad input (limit bounds a data message's total length).
func (fp *frameParser) feed(p []byte, limit int, emit func(op byte, payload []byte) bool) (bool, error) {
	for {
		if !fp.inFrame {
			if len(p) == 0 {
				return true, nil
			}
			need := 2
			if fp.hdrN >= 2 {
				need = headerLen(fp.hdr[0], fp.hdr[1])
			}
			n := copy(fp.hdr[fp.hdrN:need], p)
			fp.hdrN += n
			p = p[n:]
			if fp.hdrN == 2 {
				need = headerLen(fp.hdr[0], fp.hdr[1])
				n = copy(fp.hdr[fp.hdrN:need], p)
				fp.hdrN += n
				p = p[n:]
			}
			if fp.hdrN < need {
				return true, nil // wait for the rest of the header
			}
			if err := fp.startFrame(limit); err != nil {
				return false, err
			}
		}
		take := min(fp.remain, len(p))
		if take > 0 {
			var region []byte
			if isControl(fp.op) {
				fp.ctl = append(fp.ctl, p[:take]...)
				region = fp.ctl[len(fp.ctl)-take:]
			} else {
				fp.buf = append(fp.buf, p[:take]...)
				region = fp.buf[len(fp.buf)-take:]
			}
			ws.Cipher(region, fp.mask, fp.maskOff)
			fp.maskOff += take
			fp.remain -= take
			p = p[take:]
		}
		if fp.remain > 0 {
			return true, nil // wait for the rest of the payload
		}
		fp.inFrame = false
		if isControl(fp.op) {
			ok := emit(fp.op, fp.ctl)
			fp.ctl = fp.ctl[:0]
			if !ok {
				return false, nil
			}
			continue
		}
		if !fp.fin {
			continue
		}
		op := fp.fragOp
		fp.fragOp = 0
		msg := fp.buf
		if fp.compressed {
			fp.compressed = false
			var err error
			if fp.inflated, err = inflate(fp.inflated, fp.buf, limit); err != nil {
				return false, err
			}
			msg = fp.inflated
			fp.inflations.Add(1)
		}
		ok := emit(op, msg)
		if cap(fp.buf) > 64<<10 { // do not pin a large buffer after a large message
			fp.buf = nil
		} else {
			fp.buf = fp.buf[:0]
		}
		fp.inflated = nil // an idle socket keeps no decompression buffer
		if !ok {
			return false, nil
		}
	}
}

func isControl(op byte) bool { return op&0x8 != 0 }

// startFrame validates the complete header in fp.hdr.
func (fp *frameParser) startFrame(limit int) error {
	b0, b1 := fp.hdr[0], fp.hdr[1]
	fp.hdrN = 0
	if b0&0x30 != 0 || b1&0x80 == 0 { // RSV2/RSV3 (no such extension); client frames must be masked
		return errWSProtocol
	}
	fp.fin = b0&0x80 != 0
	fp.op = b0 & 0x0F
	if b0&rsv1 != 0 { // permessage-deflate: a data message's first frame only
		if !fp.deflate || (fp.op != opText && fp.op != opBinary) {
			return errWSProtocol
		}
		fp.compressed = true
	}
	var length uint64
	i := 2
	switch l := b1 & 0x7F; l {
	case 126:
		length = uint64(binary.BigEndian.Uint16(fp.hdr[2:4]))
		i = 4
	case 127:
		length = binary.BigEndian.Uint64(fp.hdr[2:10])
		i = 10
	default:
		length = uint64(l)
	}
	copy(fp.mask[:], fp.hdr[i:i+4])
	switch fp.op {
	case opClose, opPing, opPong:
		if !fp.fin || length > 125 {
			return errWSProtocol
		}
	case opText, opBinary:
		if fp.fragOp != 0 {
			return errWSProtocol
		}
		fp.fragOp = fp.op
	case opContinuation:
		if fp.fragOp == 0 {
			return errWSProtocol
		}
	default:
		return errWSProtocol
	}
	if !isControl(fp.op) && length > uint64(limit-len(fp.buf)) {
		return errWSTooLarge
	}
	fp.remain = int(length)
	fp.maskOff = 0
	fp.inFrame = true
	return nil
}

// idle reports whether no partial frame or message is held.
func (fp *frameParser) idle() bool {
	return !fp.inFrame && fp.hdrN == 0 && fp.fragOp == 0
}
