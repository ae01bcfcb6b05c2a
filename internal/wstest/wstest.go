// Package wstest dials raw websocket clients for tests: the returned
// connection's reads start with whatever the server sent together with
// its 101 response (an Engine.IO server sends the open packet at once,
// and ws.Dial may have buffered it), which a test that ignores ws.Dial's
// reader loses.
package wstest

import (
	"bufio"
	"context"
	"net"
	"net/http"

	"github.com/gobwas/ws"
)

// Dial opens a client websocket to url, sending header (nil: none) with
// the upgrade request.
func Dial(ctx context.Context, url string, header http.Header) (net.Conn, error) {
	conn, br, _, err := ws.Dialer{Header: ws.HandshakeHeaderHTTP(header)}.Dial(ctx, url)
	if err != nil {
		return nil, err
	}
	if br == nil {
		return conn, nil
	}
	return &bufferedConn{Conn: conn, br: br}, nil
}

// bufferedConn reads what ws.Dial buffered before the connection itself.
type bufferedConn struct {
	net.Conn
	br *bufio.Reader
}

func (c *bufferedConn) Read(p []byte) (int, error) {
	if c.br != nil {
		if c.br.Buffered() > 0 {
			return c.br.Read(p)
		}
		ws.PutReader(c.br)
		c.br = nil
	}
	return c.Conn.Read(p)
}
