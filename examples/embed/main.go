// Command embed is a full cluster node in a Go program: the Redis adapter,
// JWT authentication, cluster-wide limits and presence come from one
// node.Config, and the program adds an event handler of its own next to
// the configured rules.
//
//	REDIS_URL=redis://127.0.0.1:6379 JWT_SECRET=0123456789abcdef0123456789abcdef go run ./examples/embed
//
// A client: io("http://localhost:4000", {auth: {token}}).emitWithAck("whoami").
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/rs/zerolog"

	"github.com/ionbus/ionbus/broker"
	"github.com/ionbus/ionbus/broker/access"
	"github.com/ionbus/ionbus/node"
)

func main() {
	log := zerolog.New(os.Stderr).With().Timestamp().Logger()
	cfg := node.Default()
	cfg.Redis.URL = os.Getenv("REDIS_URL") // empty: one node, in memory
	cfg.Auth.JWT.Secret = os.Getenv("JWT_SECRET")
	cfg.Limits.MaxConnectionsPerUser = 3
	cfg.Namespaces = []node.NamespaceConfig{{
		Name: "/", Access: "authenticated", AutoJoin: []string{"user:{user}"},
		Rooms:    node.RoomsConfig{Allow: []string{"topic:*"}},
		Presence: node.NamespacePresence{Namespace: true},
	}}
	if err := node.ApplyEnv(&cfg, os.LookupEnv); err != nil { // IONBUS_* still override
		log.Fatal().Err(err).Msg("environment")
	}
	n, err := node.New(cfg, log)
	if err != nil {
		log.Fatal().Err(err).Msg("config")
	}
	n.Server().Of("/").OnConnection(func(s *broker.Socket) {
		s.On("whoami", func(e *broker.Event) { _ = e.Ack(access.Identity(s).UserID, n.NodeID()) })
	})
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := n.Run(ctx); err != nil {
		log.Fatal().Err(err).Msg("serve")
	}
}
