package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ionbus/ionbus/adapter/emitter"
)

// emitTimeout bounds the Redis round trip of `ionbus emit`.
const emitTimeout = 10 * time.Second

// repeated is a flag that may be given several times (each value may
// also be comma-separated).
type repeated []string

func (r *repeated) String() string { return strings.Join(*r, ",") }

func (r *repeated) Set(v string) error {
	*r = append(*r, splitComma(v)...)
	return nil
}

// runEmit publishes one operation to the cluster through Redis, as
// @socket.io/redis-emitter would (package adapter/emitter), without
// being a node. Exit codes: 0 published, 1 Redis error, 2 usage error.
func runEmit(ctx context.Context, args []string, io stdio) error {
	fs := flag.NewFlagSet("emit", flag.ContinueOnError)
	fs.SetOutput(io.err)
	redisURL := fs.String("redis", "", "Redis URL (env IONBUS_REDIS_URL)")
	key := fs.String("key", "", "channel prefix, as redis.key (env IONBUS_REDIS_KEY; default socket.io)")
	nsp := fs.String("namespace", "/", "namespace")
	event := fs.String("event", "", "event name to emit")
	data := fs.String("data", "", "JSON array of the event's arguments, or one JSON value (one argument)")
	join := fs.String("sockets-join", "", "make the selected sockets join this room")
	leave := fs.String("sockets-leave", "", "make the selected sockets leave this room")
	disconnect := fs.Bool("disconnect", false, "disconnect the selected sockets")
	closeConn := fs.Bool("close", false, "with --disconnect: also close their connections")
	volatile := fs.Bool("volatile", false, "with --event: droppable for congested clients")
	var rooms, except repeated
	fs.Var(&rooms, "room", "target room (repeatable); none = every socket of the namespace")
	fs.Var(&except, "except", "excluded room (repeatable)")
	fs.Usage = func() {
		fmt.Fprintln(io.err, "usage: ionbus emit --redis URL [--key socket.io] [--namespace /] [--room R]... [--except R]...\n"+
			"                   (--event E [--data JSON] [--volatile] | --sockets-join R | --sockets-leave R | --disconnect [--close])")
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected arguments %q", errUsage, fs.Args())
	}
	if *redisURL == "" {
		*redisURL, _ = io.getenv("IONBUS_REDIS_URL")
	}
	if *key == "" {
		if *key, _ = io.getenv("IONBUS_REDIS_KEY"); *key == "" {
			*key = "socket.io"
		}
	}
	ops := 0
	for _, set := range []bool{*event != "", *join != "", *leave != "", *disconnect} {
		if set {
			ops++
		}
	}
	switch {
	case *redisURL == "":
		return fmt.Errorf("%w: --redis (or IONBUS_REDIS_URL) is required", errUsage)
	case ops != 1:
		return fmt.Errorf("%w: give exactly one of --event, --sockets-join, --sockets-leave, --disconnect", errUsage)
	case *data != "" && *event == "":
		return fmt.Errorf("%w: --data needs --event", errUsage)
	case *closeConn && !*disconnect:
		return fmt.Errorf("%w: --close needs --disconnect", errUsage)
	case *volatile && *event == "":
		return fmt.Errorf("%w: --volatile needs --event", errUsage)
	}
	var emitArgs []any
	if *data != "" {
		var err error
		if emitArgs, err = emitData(*data); err != nil {
			return fmt.Errorf("%w: --data: %v", errUsage, err)
		}
	}
	opt, err := redis.ParseURL(*redisURL)
	if err != nil {
		if !strings.Contains(*redisURL, "://") && !strings.Contains(*redisURL, "@") {
			// A bare host:port (no password to leak): say what works.
			return fmt.Errorf("%w: --redis %q is not a URL; did you mean redis://%s ?", errUsage, *redisURL, *redisURL)
		}
		return fmt.Errorf("%w: --redis: invalid URL (redis://[user:password@]host:port[/db], rediss:// for TLS)", errUsage) // never echo a password
	}
	// One try, and go-redis's own pool logs kept out of the output: a
	// Redis that is down is one clear line, below.
	opt.MaxRetries = -1
	redis.SetLogger(quietRedis{})
	client := redis.NewClient(opt)
	defer client.Close()

	ctx, cancel := context.WithTimeout(ctx, emitTimeout)
	defer cancel()
	op := emitter.New(client, emitter.Options{Key: *key}).Of(*nsp).To(rooms...).Except(except...)
	switch {
	case *event != "":
		if *volatile {
			op = op.Volatile()
		}
		err = op.Emit(ctx, *event, emitArgs...)
		if errors.Is(err, emitter.ErrReservedEvent) {
			return fmt.Errorf("%w: %v", errUsage, err)
		}
	case *join != "":
		err = op.SocketsJoin(ctx, *join)
	case *leave != "":
		err = op.SocketsLeave(ctx, *leave)
	default:
		err = op.DisconnectSockets(ctx, *closeConn)
	}
	if err != nil {
		if cause := errors.Unwrap(err); cause != nil {
			err = cause // the emitter's channel name says nothing to the user
		}
		return fmt.Errorf("cannot publish through Redis at %s: %w", opt.Addr, err)
	}
	return nil
}

// quietRedis drops go-redis's internal log lines (dial retries); the
// command reports the outcome itself.
type quietRedis struct{}

func (quietRedis) Printf(context.Context, string, ...any) {}

// emitData reads --data: a JSON array is the argument list, any other
// JSON value is the single argument. Values are forwarded verbatim.
func emitData(s string) ([]any, error) {
	raw := json.RawMessage(bytes.TrimSpace([]byte(s)))
	if !json.Valid(raw) {
		return nil, errors.New("not valid JSON")
	}
	if raw[0] != '[' {
		return []any{raw}, nil
	}
	var list []json.RawMessage
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, err
	}
	out := make([]any, len(list))
	for i, v := range list {
		out[i] = v
	}
	return out, nil
}
