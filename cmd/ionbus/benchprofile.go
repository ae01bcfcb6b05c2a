package main

import (
	"github.com/ionbus/ionbus/broker"
	"github.com/ionbus/ionbus/node"
)

// The bench profile configures a node for load testers (`ionbus bench`
// or any Socket.IO load generator): namespace "/" whose clients may
// join_room any room, an "echo" event acknowledged with its own
// arguments, the HTTP API without a key on loopback (fanout mode
// publishes through it), no limits, and warn-level logs.
const profileBench = "bench"

func benchConfig(c *node.Config) {
	c.Namespaces = []node.NamespaceConfig{{Name: "/", Rooms: node.RoomsConfig{Allow: []string{"*"}}}}
	c.API.Listen = "127.0.0.1:4001"
	c.API.Insecure = true
	c.Limits.Enabled = false
	c.Log.Level = "warn"
}

// registerBenchHandlers installs the echo handler:
//
//	socket.on("echo", (...args) => { const ack = args.pop(); ack(...args); });
//
// An echo without an ack callback is sent back as an "echo" event.
func registerBenchHandlers(srv *broker.Server) {
	srv.Of("/").OnConnection(func(s *broker.Socket) {
		s.On("echo", func(e *broker.Event) {
			args, err := e.Args()
			if err != nil {
				return
			}
			if e.WantsAck() {
				_ = e.Ack(args...)
				return
			}
			_ = s.Emit("echo", args...)
		})
	})
}
