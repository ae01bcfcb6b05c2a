package broker

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"
)

// TestOnSocketEmit: the hook sees direct emits (Emit, EmitVolatile,
// EmitWithAck) with their arguments, never broadcasts; nil removes it.
func TestOnSocketEmit(t *testing.T) {
	for _, recovery := range []bool{false, true} {
		t.Run(fmt.Sprintf("recovery=%v", recovery), func(t *testing.T) {
			cfg := Config{}
			if recovery { // direct emits then go through the delivery path
				cfg.Recovery.MaxDisconnection = time.Minute
			}
			h := newHarness(t, cfg)
			var (
				mu   sync.Mutex
				seen []string
			)
			h.srv.OnSocketEmit(func(s *Socket, event string, args []any) {
				mu.Lock()
				seen = append(seen, fmt.Sprintf("%s %s %v", s.Namespace().Name(), event, args))
				mu.Unlock()
			})
			_, s := h.connect("/", "")
			_ = s.Emit("one", 1, "x")
			_ = s.EmitVolatile("two")
			_ = h.srv.Of("/").Emit("broadcast", 3)
			_ = s.To("room").Emit("to-room")
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
			_, _ = s.EmitWithAck(ctx, "three", true)
			cancel()
			_ = s.Emit("connect") // reserved: refused before the hook
			h.srv.OnSocketEmit(nil)
			_ = s.Emit("after")
			mu.Lock()
			defer mu.Unlock()
			if want := []string{"/ one [1 x]", "/ two []", "/ three [true]"}; !slices.Equal(seen, want) {
				t.Fatalf("hook saw %q, want %q", seen, want)
			}
		})
	}
}
