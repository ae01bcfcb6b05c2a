package main

import (
	"context"
	"runtime/debug"

	"github.com/ionbus/ionbus/connection"
	"github.com/ionbus/ionbus/node"
)

// serveGCPercent is the GC target a node runs with unless GOGC is set.
// A node's live heap is mostly long-lived per-socket state, and every
// websocket handshake leaves ~12 KiB of net/http garbage (bufio buffers
// that hijack never returns), so with Go's default of 100 the heap, and
// RSS, settles near twice the live state. 50 measured 5.5 KiB instead of
// 6.7 KiB of RSS per idle socket at 19,000 sockets (docs/benchmarks.md)
// for a little more GC CPU during connect storms; broadcasts allocate
// almost nothing per recipient, so they barely notice.
const serveGCPercent = 50

// runServe is `ionbus serve`: configuration sources → node.Config →
// node.New, the profile's handlers, then Run until a signal.
func runServe(ctx context.Context, args []string, io stdio) error {
	if _, set := io.getenv("GOGC"); !set {
		debug.SetGCPercent(serveGCPercent)
	}
	cfg, err := loadConfig(args, io.getenv, io.err)
	if err != nil {
		return err
	}
	n, err := newServeNode(cfg, io)
	if err != nil {
		return err
	}
	return n.Run(ctx)
}

// newServeNode builds the node of cfg with its profile's handlers.
func newServeNode(cfg serveConfig, io stdio) (*node.Node, error) {
	log, err := node.NewLogger(cfg.Log, io.err)
	if err != nil {
		return nil, err
	}
	n, err := node.New(cfg.Config, log)
	if err != nil {
		return nil, err
	}
	switch cfg.Profile {
	case profileConformance:
		registerConformanceHandlers(n.Server())
		echoCfg := n.Server().Engine().Config()
		echoCfg.Path = conformanceEchoPath
		echo, err := connection.New(echoCfg, echoHandler{})
		if err != nil {
			return nil, err
		}
		n.Handle(conformanceEchoPath, echo)
		n.OnShutdown(echo.Shutdown)
	case profileBench:
		registerBenchHandlers(n.Server())
	}
	if cfg.Profile != "" {
		log.Info().Str("profile", cfg.Profile).Msg("profile applied")
	}
	return n, nil
}
