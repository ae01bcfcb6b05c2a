package connection_test

import (
	"context"
	"net/http"
	"time"

	"github.com/ionbus/ionbus/connection"
)

// echo sends every message back to its session.
type echo struct{}

func (echo) OnOpen(c connection.Conn, hs *connection.Handshake) error { return nil }
func (echo) OnMessage(c connection.Conn, m connection.Message) {
	// m.Data is only valid during the call: copy before keeping it.
	_ = c.Send(connection.NewMessage(m.Binary, append([]byte(nil), m.Data...)))
}
func (echo) OnClose(c connection.Conn, r connection.CloseReason) {}

func Example() {
	srv, err := connection.New(connection.Config{Path: "/socket.io/"}, echo{})
	if err != nil {
		panic(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/socket.io/", srv)
	_ = mux // http.ListenAndServe(":3000", mux)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(ctx) // closes every session with CloseServerShutdown
	// Output:
}
