package main

import (
	"context"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
)

func TestRunPublishes(t *testing.T) {
	mr := miniredis.RunT(t)
	sub := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	defer sub.Close()
	ps := sub.PSubscribe(context.Background(), "app*")
	defer ps.Close()
	if _, err := ps.Receive(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := run(context.Background(), "redis://"+mr.Addr(), "app", "user:1"); err != nil {
		t.Fatal(err)
	}
	want := []string{"app-request#/#", "app#/#vip#", "app#/chat#lobby#"}
	for _, ch := range want {
		select {
		case m := <-ps.Channel():
			if m.Channel != ch {
				t.Fatalf("channel %q, want %q", m.Channel, ch)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("nothing on %s", ch)
		}
	}
}
