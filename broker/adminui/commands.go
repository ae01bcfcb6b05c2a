package adminui

import (
	"context"

	"github.com/ionbus/ionbus/broker"
)

// registerCommands handles the UI's commands on one admin socket
// (upstream's registerFeatureHandlers, Socket.IO v4 flavour): each
// applies to the sockets of namespace nsp on every node, all of them or
// those in room filter (a room name or a socket id). A read-only UI gets
// none: its commands are dropped. Malformed commands (wrong types, an
// unknown namespace, a reserved event name) are dropped and logged at
// debug. A command asked with an ack is acked with no argument once it
// was applied here and published to the other nodes.
func (a *AdminUI) registerCommands(s *broker.Socket) {
	if a.cfg.ReadOnly {
		return
	}
	s.On(CommandEmit, func(e *broker.Event) {
		args, err := e.Args()
		if err != nil || len(args) < 3 {
			a.dropped(e, "want (nsp, filter, event, ...args)")
			return
		}
		target, ok := a.target(args[0], args[1])
		event, isStr := args[2].(string)
		if !ok || !isStr {
			a.dropped(e, "want (nsp, filter, event, ...args)")
			return
		}
		if err := target.Emit(event, args[3:]...); err != nil {
			a.log.Debug().Err(err).Str("event", event).Msg("admin ui: emit command")
		}
		_ = e.Ack()
	})
	rooms := func(name string, apply func(ctx context.Context, b *broker.Broadcast, room string) error) {
		s.On(name, func(e *broker.Event) {
			args, err := e.Args()
			if err != nil || len(args) < 2 {
				a.dropped(e, "want (nsp, room, filter)")
				return
			}
			var filter any
			if len(args) > 2 {
				filter = args[2]
			}
			target, ok := a.target(args[0], filter)
			room, isStr := args[1].(string)
			if !ok || !isStr || room == "" {
				a.dropped(e, "want (nsp, room, filter)")
				return
			}
			ctx, cancel := context.WithTimeout(context.Background(), a.cfg.CommandTimeout)
			defer cancel()
			if err := apply(ctx, target, room); err != nil {
				a.log.Debug().Err(err).Str("command", name).Msg("admin ui: command")
			}
			_ = e.Ack()
		})
	}
	rooms(CommandJoin, func(ctx context.Context, b *broker.Broadcast, room string) error { return b.SocketsJoin(ctx, room) })
	rooms(CommandLeave, func(ctx context.Context, b *broker.Broadcast, room string) error { return b.SocketsLeave(ctx, room) })
	s.On(CommandDisconnect, func(e *broker.Event) {
		args, err := e.Args()
		if err != nil || len(args) < 2 {
			a.dropped(e, "want (nsp, close, filter)")
			return
		}
		var filter any
		if len(args) > 2 {
			filter = args[2]
		}
		target, ok := a.target(args[0], filter)
		closeTransport, isBool := args[1].(bool)
		if !ok || !isBool {
			a.dropped(e, "want (nsp, close, filter)")
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), a.cfg.CommandTimeout)
		defer cancel()
		if err := target.DisconnectSockets(ctx, closeTransport); err != nil {
			a.log.Debug().Err(err).Msg("admin ui: _disconnect command")
		}
		_ = e.Ack()
	})
}

// target is the selection of a command: namespace nsp (an existing one,
// or a child of a pattern as a client would create it), narrowed to the
// room filter when it is a non-empty string; null or absent means every
// socket of the namespace.
func (a *AdminUI) target(nsp, filter any) (*broker.Broadcast, bool) {
	name, ok := nsp.(string)
	if !ok || name == "" {
		return nil, false
	}
	ns := a.srv.Resolve(name)
	if ns == nil {
		return nil, false
	}
	switch f := filter.(type) {
	case nil:
		return ns.To(), true
	case string:
		if f == "" {
			return ns.To(), true
		}
		return ns.To(f), true
	}
	return nil, false
}

func (a *AdminUI) dropped(e *broker.Event, why string) {
	a.log.Debug().Str("command", e.Name).Str("why", why).Msg("admin ui: malformed command dropped")
}
