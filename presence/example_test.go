package presence_test

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/ionbus/ionbus/presence"
)

func Example() {
	cfg := presence.Config{
		NodeID:       "node-1",
		DisableGrace: true, // leaves are immediate in this example
		Rules:        map[string]presence.Rules{"/chat": {Rooms: []string{"room:*"}}},
		OnEvent: func(e presence.Event) {
			// The broker emits e.Type with json.Marshal(e) as payload to
			// e.Room in e.Namespace.
			fmt.Println(e.Type, e.Room, e.User.ID, e.Connections)
		},
	}
	store, _ := presence.NewMemory(cfg) // presence.NewRedis(client, cfg) in a cluster
	tr, _ := presence.NewTracker(store, cfg)
	ctx := context.Background()

	tr.Connect(ctx, presence.Entry{Namespace: "/chat", Room: "room:1", UserID: "ann", Name: "Ann", ConnID: "sid-1"})
	tr.Connect(ctx, presence.Entry{Namespace: "/chat", Room: "room:1", UserID: "ann", Name: "Ann", ConnID: "sid-2"}) // second tab
	tr.Update(ctx, "/chat", "room:1", "ann", json.RawMessage(`{"status":"away"}`))
	members, next, _ := tr.List(ctx, "/chat", "room:1", "", 50)
	fmt.Println(members[0].UserID, members[0].Connections, string(members[0].Meta), next == "")
	tr.Disconnect(ctx, "/chat", "room:1", "ann", "sid-1")
	tr.Disconnect(ctx, "/chat", "room:1", "ann", "sid-2")
	tr.Shutdown(ctx)
	// Output:
	// presence:join room:1 ann 1
	// presence:update room:1 ann 2
	// ann 2 {"status":"away"} true
	// presence:leave room:1 ann 0
}
