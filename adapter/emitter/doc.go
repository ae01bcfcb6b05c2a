// Package emitter publishes to a cluster of ionbus and Node.js socket.io
// servers through Redis without being a server itself. It is the Go
// counterpart of @socket.io/redis-emitter v5 and produces the same bytes
// on the same channels (pinned by golden tests against the npm package).
//
// An Emitter and the operators derived from it are immutable values:
// safe for concurrent use, and every call publishes synchronously with
// one PUBLISH (no goroutine, no buffering). Messages published from one
// goroutine reach each server in call order, so SocketsJoin followed by
// Emit to the joined room is applied in that order.
//
// Use it from backends that publish but hold no sockets:
//
//	e := emitter.New(redisClient, emitter.Options{})
//	_ = e.In("sid1").SocketsJoin(ctx, "news")
//	_ = e.To("news").Except("muted").Emit(ctx, "headline", "text", []byte{1, 2})
//	_ = e.Of("/admin").DisconnectSockets(ctx, true)
package emitter
