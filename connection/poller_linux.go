//go:build linux

package connection

import (
	"io"
	"net"
	"os"
	"slices"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// poller is the Linux readiness loop: one goroutine in epoll_wait for every
// adopted websocket, and a bounded pool of Config.Workers goroutines that
// read, parse and run handler callbacks. Each fd is armed EPOLLONESHOT, so
// at most one worker handles it at a time; the worker re-arms it when done.
// An idle websocket holds no goroutine and no read buffer: read buffers
// come from a pool for the duration of one wake-up, and partial frames live
// in the connection's frameParser.
//
// Writes belong to the flusher pool (flusher.go): a worker writes a
// session's queued frames with one non-blocking writev; on EAGAIN the
// remainder stays with the session, EPOLLOUT is armed, and the writable
// event (seen here, on the loop goroutine) pushes the session back on the
// ready queue. Nothing waits on a socket.
type poller struct {
	srv    *Server
	epfd   int
	wakeFd int // eventfd that stops the loop

	mu      sync.RWMutex
	conns   []*pollConn // indexed by fd: fds are small and dense, a map costs ~100 B more per socket
	stopped bool

	work       chan *pollConn
	goroutines tracker // loop and workers; Shutdown waits after stop
}

// pollConn is the poller's view of one websocket fd.
type pollConn struct {
	c  *wsConn
	fd int

	fdMu     sync.RWMutex // held (R) across syscalls on fd; (W) to close it
	fdClosed bool

	evMu      sync.Mutex // interest state
	readArmed bool
	writeWait bool   // a write is parked until EPOLLOUT
	parkGen   uint32 // counts parks, so a stale write timer cannot unpark a later one
	closed    bool   // close ran: a write must not park any more
}

// p is the server's poller (not a field: 8 B less per socket).
func (pc *pollConn) p() *poller { return pc.c.srv.poller }

const readBufSize = 32 << 10

var readBufPool = sync.Pool{New: func() any { b := make([]byte, readBufSize); return &b }}

func newPoller(srv *Server) (*poller, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("epoll_create1", err)
	}
	wfd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		unix.Close(epfd)
		return nil, os.NewSyscallError("eventfd", err)
	}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, wfd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(wfd)}); err != nil {
		unix.Close(epfd)
		unix.Close(wfd)
		return nil, os.NewSyscallError("epoll_ctl", err)
	}
	p := &poller{srv: srv, epfd: epfd, wakeFd: wfd,
		work: make(chan *pollConn, srv.cfg.Workers*4)}
	p.goroutines.add()
	go func() { defer p.goroutines.done(); p.loop() }()
	for range srv.cfg.Workers {
		p.goroutines.add()
		go func() { defer p.goroutines.done(); p.worker() }()
	}
	return p, nil
}

// stop ends the loop and the workers; adopted fds must be closed already
// (detach refuses after stop).
func (p *poller) stop() {
	p.mu.Lock()
	if p.stopped {
		p.mu.Unlock()
		return
	}
	p.stopped = true
	p.mu.Unlock()
	var one = [8]byte{1}
	_, _ = unix.Write(p.wakeFd, one[:])
}

func (p *poller) loop() {
	defer func() {
		close(p.work)
		unix.Close(p.wakeFd)
		unix.Close(p.epfd)
	}()
	events := make([]unix.EpollEvent, 256)
	for {
		n, err := unix.EpollWait(p.epfd, events, -1)
		if err != nil {
			if err == unix.EINTR {
				continue
			}
			p.srv.log.Error().Err(err).Msg("epoll_wait failed; poller stopped")
			return
		}
		for i := range n {
			ev := events[i]
			if int(ev.Fd) == p.wakeFd {
				return
			}
			p.mu.RLock()
			var pc *pollConn
			if int(ev.Fd) < len(p.conns) {
				pc = p.conns[ev.Fd]
			}
			p.mu.RUnlock()
			if pc == nil {
				continue
			}
			pc.onEvent(ev.Events)
		}
	}
}

func (p *poller) worker() {
	for pc := range p.work {
		pc.onReadable()
	}
}

// detach moves c's socket to the poller before c is published to other
// goroutines: it duplicates the fd, registers it disarmed, and closes the
// Go conn. It returns false (c unchanged) when the connection is not plain
// TCP (TLS keeps the goroutine path) or the poller stopped.
func (p *poller) detach(c *wsConn) bool {
	tc, ok := c.conn.(*net.TCPConn)
	if !ok {
		return false
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return false
	}
	fd := -1
	var dupErr error
	if err := rc.Control(func(f uintptr) {
		fd, dupErr = unix.FcntlInt(f, unix.F_DUPFD_CLOEXEC, 0)
	}); err != nil || dupErr != nil {
		return false
	}
	if unix.SetNonblock(fd, true) != nil ||
		unix.EpollCtl(p.epfd, unix.EPOLL_CTL_ADD, fd, &unix.EpollEvent{Events: unix.EPOLLONESHOT, Fd: int32(fd)}) != nil {
		unix.Close(fd)
		return false
	}
	pc := &pollConn{c: c, fd: fd}
	p.mu.Lock()
	if p.stopped {
		p.mu.Unlock()
		_ = unix.EpollCtl(p.epfd, unix.EPOLL_CTL_DEL, fd, nil)
		unix.Close(fd)
		return false
	}
	if fd >= len(p.conns) {
		p.conns = slices.Grow(p.conns, fd+1-len(p.conns))
		p.conns = p.conns[:cap(p.conns)]
	}
	p.conns[fd] = pc
	p.mu.Unlock()
	p.srv.counters.adopted.Add(1)

	if n := c.br.Buffered(); n > 0 {
		b, _ := c.br.Peek(n)
		c.early = append([]byte(nil), b...)
	}
	_ = c.conn.Close() // the dup keeps the socket open
	c.pc = pc
	c.br = nil   // the hijack's 4 KiB bufio.Reader goes back to the GC
	c.conn = nil // and the closed net.Conn with its addresses
	return true
}

// start feeds bytes that arrived with the handshake, then arms EPOLLIN.
func (p *poller) start(c *wsConn) {
	c.readMu.Lock()
	early := c.early
	c.early = nil
	more, err := true, error(nil)
	if len(early) > 0 {
		more, err = c.parser.feed(early, p.srv.cfg.MaxPayload, c.handle)
	}
	c.started = true
	c.readDone = err != nil || !more
	c.readMu.Unlock()
	if err != nil {
		c.onReadEnd(err)
		return
	}
	if !more {
		return
	}
	c.pc.armRead()
}

// drain reads and handles, on the calling goroutine, whatever the socket
// has already received, without waiting for the poller: a request that
// depends on this websocket's earlier messages (a polling GET racing the
// "2probe"/"5" of an upgrade) is then answered after them, in arrival
// order, as a single-threaded event loop would. It never blocks on the
// network; it waits only for a worker already reading c. Errors and EOF
// are left to the poller (the fd stays armed and readable), except a
// protocol error found while parsing, which ends reading as in onReadable.
func (pc *pollConn) drain() {
	c := pc.c
	c.readMu.Lock()
	if !c.started || c.readDone {
		c.readMu.Unlock()
		return
	}
	bp := readBufPool.Get().(*[]byte)
	buf := *bp
	var endErr error
	for range 4 {
		pc.fdMu.RLock()
		if pc.fdClosed {
			pc.fdMu.RUnlock()
			break
		}
		n, err := unix.Read(pc.fd, buf)
		pc.fdMu.RUnlock()
		if n > 0 {
			more, perr := c.parser.feed(buf[:n], pc.p().srv.cfg.MaxPayload, c.handle)
			if perr != nil || !more {
				c.readDone = true // a later wake-up must not read on
				endErr = perr
				break
			}
		}
		if err == unix.EINTR {
			continue
		}
		if err != nil || n <= 0 || n < len(buf) {
			break
		}
	}
	readBufPool.Put(bp)
	c.readMu.Unlock()
	if endErr != nil {
		c.onReadEnd(endErr)
	}
}

// rearmLocked sets the fd's one-shot interests from the state. evMu held.
func (pc *pollConn) rearmLocked() {
	var ev uint32
	if pc.readArmed {
		ev |= unix.EPOLLIN | unix.EPOLLRDHUP
	}
	if pc.writeWait {
		ev |= unix.EPOLLOUT
	}
	if ev == 0 {
		return
	}
	pc.fdMu.RLock()
	if !pc.fdClosed {
		_ = unix.EpollCtl(pc.p().epfd, unix.EPOLL_CTL_MOD, pc.fd, &unix.EpollEvent{Events: ev | unix.EPOLLONESHOT, Fd: int32(pc.fd)})
	}
	pc.fdMu.RUnlock()
}

func (pc *pollConn) armRead() {
	pc.evMu.Lock()
	pc.readArmed = true
	pc.rearmLocked()
	pc.evMu.Unlock()
}

// onEvent runs on the loop goroutine: dispatch a read to the pool, wake a
// parked writer, and re-arm whatever interest remains.
func (pc *pollConn) onEvent(events uint32) {
	pc.evMu.Lock()
	read := false
	if events&(unix.EPOLLIN|unix.EPOLLRDHUP|unix.EPOLLERR|unix.EPOLLHUP) != 0 && pc.readArmed {
		pc.readArmed = false
		read = true
	}
	resume := false
	if events&(unix.EPOLLOUT|unix.EPOLLERR|unix.EPOLLHUP) != 0 && pc.writeWait {
		pc.writeWait = false
		resume = true
	}
	pc.rearmLocked()
	pc.evMu.Unlock()
	if resume {
		pc.c.sess.resumeWrite() // a push on the ready queue; never blocks
	}
	if read {
		pc.p().work <- pc
	}
}

// onReadable runs on a worker: read what is available into a pooled
// buffer, feed the parser (handler callbacks run here), re-arm.
func (pc *pollConn) onReadable() {
	c := pc.c
	c.readMu.Lock()
	if c.readDone { // reading ended (here or in drain)
		c.readMu.Unlock()
		return
	}
	bp := readBufPool.Get().(*[]byte)
	buf := *bp
	var endErr error
	for range 4 { // bounded: let other sockets have the worker
		pc.fdMu.RLock()
		if pc.fdClosed {
			pc.fdMu.RUnlock()
			readBufPool.Put(bp)
			c.readMu.Unlock()
			return
		}
		n, err := unix.Read(pc.fd, buf)
		pc.fdMu.RUnlock()
		if n > 0 {
			more, perr := c.parser.feed(buf[:n], pc.p().srv.cfg.MaxPayload, c.handle)
			if perr != nil {
				endErr = perr
				break
			}
			if !more {
				c.readDone = true
				readBufPool.Put(bp)
				c.readMu.Unlock()
				return
			}
		}
		if err == unix.EINTR {
			continue
		}
		if err == unix.EAGAIN {
			break
		}
		if err != nil {
			endErr = os.NewSyscallError("read", err)
			break
		}
		if n == 0 {
			endErr = io.EOF
			break
		}
		if n < len(buf) {
			break
		}
	}
	readBufPool.Put(bp)
	if c.parser.idle() && cap(c.parser.buf) > 1<<10 {
		c.parser.buf = nil // an idle socket holds no read memory
	}
	c.readDone = endErr != nil
	c.readMu.Unlock()
	if endErr != nil {
		c.onReadEnd(endErr)
		return
	}
	pc.armRead()
}

// writeSome writes bufs to the non-blocking fd until they are all written
// (blocked false) or the socket buffer is full (blocked true; *bufs is
// the remainder). It never waits. Called by the one writer of the fd.
func (pc *pollConn) writeSome(bufs *[][]byte) (blocked bool, err error) {
	for len(*bufs) > 0 {
		iov := *bufs
		if len(iov) > 1024 { // IOV_MAX
			iov = iov[:1024]
		}
		pc.fdMu.RLock()
		if pc.fdClosed {
			pc.fdMu.RUnlock()
			return false, net.ErrClosed
		}
		var n int
		if len(iov) == 1 {
			n, err = unix.Write(pc.fd, iov[0])
		} else {
			n, err = unix.Writev(pc.fd, iov)
		}
		pc.fdMu.RUnlock()
		if n > 0 {
			consume((*net.Buffers)(bufs), n)
		}
		switch err {
		case nil, unix.EINTR:
		case unix.EAGAIN:
			return true, nil
		default:
			return false, os.NewSyscallError("writev", err)
		}
	}
	return false, nil
}

// nextPark starts a park of the fd's write and returns its generation.
func (pc *pollConn) nextPark() uint32 {
	pc.evMu.Lock()
	defer pc.evMu.Unlock()
	pc.parkGen++
	return pc.parkGen
}

// parkWrite arms EPOLLOUT for the parked write of the fd's session. When
// the fd is already closed the write is resumed at once (it then fails on
// the closed fd).
func (pc *pollConn) parkWrite() {
	pc.evMu.Lock()
	if pc.closed {
		pc.evMu.Unlock()
		pc.c.sess.resumeWrite()
		return
	}
	pc.writeWait = true
	pc.rearmLocked()
	pc.evMu.Unlock()
}

// unparkWrite takes over park gen if it is still parked (the write timer
// uses it); the caller then owns the write.
func (pc *pollConn) unparkWrite(gen uint32) bool {
	pc.evMu.Lock()
	defer pc.evMu.Unlock()
	if !pc.writeWait || pc.parkGen != gen {
		return false
	}
	pc.writeWait = false
	return true
}

// writeBlocking writes every buffer, waiting (poll(2), in short slices so
// close is never held up) while the socket is full, for at most timeout.
// Only for the rare direct writes of the upgrade path (probe answers,
// refusals); sessions write through the flusher.
func (pc *pollConn) writeBlocking(bufs *net.Buffers, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		b := [][]byte(*bufs)
		blocked, err := pc.writeSome(&b)
		*bufs = b
		if err != nil || !blocked {
			return err
		}
		left := time.Until(deadline)
		if left <= 0 {
			return os.ErrDeadlineExceeded
		}
		pc.fdMu.RLock()
		if pc.fdClosed {
			pc.fdMu.RUnlock()
			return net.ErrClosed
		}
		fds := []unix.PollFd{{Fd: int32(pc.fd), Events: unix.POLLOUT}}
		_, _ = unix.Poll(fds, int(min(left, 50*time.Millisecond)/time.Millisecond)+1)
		pc.fdMu.RUnlock()
	}
}

// consume drops the first n written bytes from bufs.
func consume(bufs *net.Buffers, n int) {
	b := *bufs
	for len(b) > 0 && n >= len(b[0]) {
		n -= len(b[0])
		b[0] = nil
		b = b[1:]
	}
	if len(b) > 0 {
		b[0] = b[0][n:]
	}
	*bufs = b
}

// close unregisters and closes the fd once no syscall is using it.
func (pc *pollConn) close() {
	p := pc.p()
	p.mu.Lock()
	if pc.fd < len(p.conns) && p.conns[pc.fd] == pc {
		p.conns[pc.fd] = nil
	}
	p.mu.Unlock()
	pc.fdMu.Lock()
	if !pc.fdClosed {
		pc.fdClosed = true
		_ = unix.EpollCtl(p.epfd, unix.EPOLL_CTL_DEL, pc.fd, nil)
		_ = unix.Close(pc.fd)
	}
	pc.fdMu.Unlock()
	// A write parked for EPOLLOUT will never see it now: resume it so it
	// fails on the closed fd and releases the session.
	pc.evMu.Lock()
	pc.closed = true
	resume := pc.writeWait
	pc.writeWait = false
	pc.evMu.Unlock()
	if resume {
		pc.c.sess.resumeWrite()
	}
}
