// Command emitter publishes to an ionbus (or Node socket.io) cluster from a
// Go backend that holds no sockets, with package adapter/emitter: the Go
// counterpart of @socket.io/redis-emitter, same channels and bytes.
//
//	go run ./examples/emitter -redis redis://127.0.0.1:6379 -room user:42
//
// Every node sharing the Redis (classic or room mode) delivers the events
// to its own sockets of the room.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ionbus/ionbus/adapter/emitter"
)

func main() {
	url := flag.String("redis", "redis://127.0.0.1:6379", "Redis URL shared with the nodes")
	key := flag.String("key", "socket.io", "channel prefix (the nodes' redis.key)")
	room := flag.String("room", "user:42", "room to notify")
	flag.Parse()
	if err := run(context.Background(), *url, *key, *room); err != nil {
		fmt.Fprintln(os.Stderr, "emitter:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, url, key, room string) error {
	opt, err := redis.ParseURL(url)
	if err != nil {
		return fmt.Errorf("invalid Redis URL")
	}
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()

	e := emitter.New(rdb, emitter.Options{Key: key})
	// Messages from one goroutine reach each node in order: the sockets
	// join "vip" before the notification to "vip" is delivered.
	if err := e.In(room).SocketsJoin(ctx, "vip"); err != nil {
		return err
	}
	if err := e.To("vip").Emit(ctx, "notification", map[string]any{"text": "welcome", "at": time.Now().UnixMilli()}); err != nil {
		return err
	}
	// A namespace other than "/", excluding a room, binary payload.
	return e.Of("/chat").To("lobby").Except("muted").Emit(ctx, "blob", []byte{1, 2, 3})
}
