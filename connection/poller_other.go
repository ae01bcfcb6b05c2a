//go:build !linux

package connection

import (
	"errors"
	"net"
	"time"
)

// Without epoll every websocket is read by its own goroutine (readLoop).
type poller struct{ goroutines tracker }

type pollConn struct{}

func newPoller(*Server) (*poller, error) { return nil, nil }
func (p *poller) detach(*wsConn) bool    { return false }
func (p *poller) start(*wsConn)          {}
func (p *poller) stop()                  {}
func (pc *pollConn) close()              {}
func (pc *pollConn) drain()              {}
func (pc *pollConn) writeBlocking(*net.Buffers, time.Duration) error {
	return errors.New("connection: no poller")
}
func (pc *pollConn) writeSome(*[][]byte) (bool, error) {
	return false, errors.New("connection: no poller")
}
func (pc *pollConn) nextPark() uint32        { return 0 }
func (pc *pollConn) parkWrite()              {}
func (pc *pollConn) unparkWrite(uint32) bool { return false }
