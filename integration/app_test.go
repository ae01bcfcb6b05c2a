package integration

import (
	"context"
	"encoding/json"
	"regexp"
	"sort"
	"sync"
	"time"

	"github.com/ionbus/ionbus/broker"
)

// installApp registers the test application, the Go twin of
// js/reference-server.js: the same namespaces, middleware and events, so
// one js/client.js scenario can run against either server.
// Goroutines the handlers start are counted in bg, which the test
// server's cleanup waits for.
func installApp(srv *broker.Server, log *eventLog, bg *sync.WaitGroup) {
	for _, name := range []string{"/", "/a", "/b", "/c"} {
		app(srv.Of(name), srv, log, bg)
	}
	auth := srv.Of("/auth")
	auth.Use(func(s *broker.Socket) error {
		if s.Handshake().Auth["token"] == "good" {
			return nil
		}
		return &broker.ConnectError{Message: "Authentication failed", Data: map[string]any{"code": "AUTH_REQUIRED"}}
	})
	app(auth, srv, log, bg)
	app(srv.OfPattern(regexp.MustCompile(`^/dyn-\d+$`)), srv, log, bg)
}

func app(ns *broker.Namespace, srv *broker.Server, log *eventLog, bg *sync.WaitGroup) {
	ns.OnConnection(func(s *broker.Socket) {
		log.add(record{Kind: "connect", ID: s.ID(), SID: s.Conn().ID(), Nsp: s.Namespace().Name(),
			Transport: s.Transport(), Recovered: s.Recovered()})
		s.OnDisconnect(func(s *broker.Socket, reason string) {
			log.add(record{Kind: "disconnect", ID: s.ID(), SID: s.Conn().ID(), Nsp: s.Namespace().Name(), Reason: reason})
		})
		s.On("echo", func(e *broker.Event) {
			args, err := e.Args()
			if err != nil {
				return
			}
			_ = e.Ack(args...)
		})
		s.On("emit-back", func(e *broker.Event) {
			args, _ := e.Args()
			if len(args) == 0 {
				return
			}
			if ev, ok := args[0].(string); ok {
				_ = s.Emit(ev, args[1:]...)
			}
		})
		s.On("whoami", func(e *broker.Event) {
			rooms := s.Rooms()
			sort.Strings(rooms)
			log.add(record{Kind: "whoami", ID: s.ID(), SID: s.Conn().ID(), Nsp: s.Namespace().Name(), Transport: s.Transport()})
			_ = e.Ack(map[string]any{
				"id": s.ID(), "sid": s.Conn().ID(), "transport": s.Transport(),
				"nsp": s.Namespace().Name(), "rooms": rooms, "recovered": s.Recovered(),
			})
		})
		s.On("join", func(e *broker.Event) {
			args, _ := e.Args()
			if len(args) > 0 {
				s.Join(roomList(args[0])...)
			}
			_ = e.Ack(true)
		})
		s.On("leave", func(e *broker.Event) {
			args, _ := e.Args()
			if len(args) > 0 {
				s.Leave(roomList(args[0])...)
			}
			_ = e.Ack(true)
		})
		// ask: the server emits "question" with an ack and answers the
		// client's own ack with {answer} or {err: "timeout"}. The
		// reference resolves emitWithAck with the first argument.
		s.On("ask", func(e *broker.Event) {
			args, _ := e.Args()
			if len(args) < 2 {
				return
			}
			ms, _ := args[1].(json.Number).Int64()
			bg.Go(func() {
				ctx, cancel := context.WithTimeout(context.Background(), time.Duration(ms)*time.Millisecond)
				defer cancel()
				res, err := s.EmitWithAck(ctx, "question", args[0])
				if err != nil {
					_ = e.Ack(map[string]any{"err": "timeout"})
					return
				}
				var first any
				if len(res) > 0 {
					first = res[0]
				}
				_ = e.Ack(map[string]any{"answer": first})
			})
		})
		s.On("broadcast", func(e *broker.Event) {
			args, _ := e.Args()
			if len(args) == 0 {
				return
			}
			o, _ := args[0].(map[string]any)
			to, except := roomList(o["to"]), roomList(o["except"])
			var b *broker.Broadcast
			switch {
			case o["fromSocket"] == true && len(to) > 0:
				b = s.To(to...)
			case o["fromSocket"] == true:
				b = s.Broadcast()
			default:
				b = s.Namespace().To(to...)
			}
			if len(except) > 0 {
				b = b.Except(except...)
			}
			if o["volatile"] == true {
				b = b.Volatile()
			}
			if o["local"] == true {
				b = b.Local()
			}
			ev, _ := o["event"].(string)
			bargs, _ := o["args"].([]any)
			_ = b.Emit(ev, bargs...)
			_ = e.Ack(true)
		})
		s.On("disconnect-me", func(e *broker.Event) {
			args, _ := e.Args()
			close := len(args) > 0 && args[0] == true
			s.Disconnect(close)
		})
		s.On("stream", func(e *broker.Event) {
			args, _ := e.Args()
			if len(args) == 0 {
				return
			}
			n, _ := args[0].(json.Number).Int64()
			for i := range n {
				_ = s.Emit("tick", i)
			}
		})
		s.On("shutdown-server", func(e *broker.Event) {
			// Not on the session callback: Shutdown waits for sessions
			// to close, this one included.
			bg.Go(func() {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				_ = srv.Shutdown(ctx)
			})
		})
		s.On("server-log", func(e *broker.Event) {
			recs := log.all()
			out := make([]any, 0, len(recs))
			for _, r := range recs {
				if r.Kind == "whoami" {
					continue // the reference does not log these
				}
				m := map[string]any{"kind": r.Kind, "id": r.ID, "nsp": r.Nsp}
				if r.Kind == "disconnect" {
					m["reason"] = r.Reason
				} else {
					m["recovered"] = r.Recovered
				}
				out = append(out, m)
			}
			_ = e.Ack(out)
		})
		s.On("engine-count", func(e *broker.Event) { _ = e.Ack(srv.Engine().Len()) })
	})
}

// roomList reads a room argument: a string or an array of strings.
func roomList(v any) []string {
	switch x := v.(type) {
	case string:
		return []string{x}
	case []any:
		out := make([]string, 0, len(x))
		for _, e := range x {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}
