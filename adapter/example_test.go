package adapter_test

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/ionbus/ionbus/adapter"
)

type printer struct{ name string }

func (p printer) HandleMessage(_ context.Context, m adapter.Message) {
	fmt.Printf("%s got %s from %s\n", p.name, m.Packet.Data, m.Origin)
}

func (p printer) HandleRequest(_ context.Context, r adapter.Request, reply func(adapter.Reply)) {
	reply(adapter.Reply{Rooms: []string{"room-of-" + p.name}})
}

// Two in-process nodes: a broadcast published by one reaches the other,
// and a request collects one answer per other node.
func ExampleMemoryBus() {
	bus := adapter.NewMemoryBus()
	a, b := bus.Node("a"), bus.Node("b")
	ctx := context.Background()
	_ = a.Start(ctx, printer{"a"})
	_ = b.Start(ctx, printer{"b"})
	defer a.Close(ctx)
	defer b.Close(ctx)

	_ = a.Publish(ctx, adapter.Message{Kind: adapter.KindBroadcast, Namespace: "/",
		Packet: adapter.Packet{Type: 2, Data: json.RawMessage(`["hello"]`), ID: -1}})

	rctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	_ = a.Request(rctx, adapter.Request{Kind: adapter.RequestAllRooms, Namespace: "/"}, func(r adapter.Reply) {
		fmt.Println("rooms from", r.From, r.Rooms)
	})
	// Output:
	// b got ["hello"] from a
	// rooms from b [room-of-b]
}
