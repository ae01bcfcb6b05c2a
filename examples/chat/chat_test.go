package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/ionbus/ionbus/broker"
)

var httpClient = &http.Client{Timeout: 10 * time.Second}

// client is a bare Engine.IO long-polling client, enough to speak to the
// chat the way socket.io-client does.
type client struct {
	url     string
	pending []string
}

func dial(base string) (*client, error) {
	res, err := httpClient.Get(base + "/socket.io/?EIO=4&transport=polling")
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	var open struct{ Sid string }
	if len(body) < 2 || json.Unmarshal(body[1:], &open) != nil {
		return nil, fmt.Errorf("bad open packet %q", body)
	}
	return &client{url: base + "/socket.io/?EIO=4&transport=polling&sid=" + open.Sid}, nil
}

func (c *client) send(packet string) error {
	res, err := httpClient.Post(c.url, "text/plain", strings.NewReader(packet))
	if err != nil {
		return err
	}
	return res.Body.Close()
}

// next returns the next Socket.IO packet, answering pings.
func (c *client) next() (string, error) {
	for {
		for len(c.pending) > 0 {
			p := c.pending[0]
			c.pending = c.pending[1:]
			if p == "2" {
				if err := c.send("3"); err != nil {
					return "", err
				}
				continue
			}
			return p, nil
		}
		res, err := httpClient.Get(c.url)
		if err != nil {
			return "", err
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		c.pending = strings.Split(string(body), "\x1e")
	}
}

func startChat() (*broker.Server, *httptest.Server, error) {
	srv, err := broker.New(broker.Config{})
	if err != nil {
		return nil, nil, err
	}
	registerChat(srv, zerolog.Nop())
	if err := srv.Start(context.Background()); err != nil {
		return nil, nil, err
	}
	return srv, httptest.NewServer(srv), nil
}

func stopChat(srv *broker.Server, ts *httptest.Server) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(ctx)
	ts.Close()
}

// Example shows the chat from the wire: a client joins a room (with an
// acknowledgement), a room member's message reaches the room, and the
// server broadcasts to the room with srv.Of("/chat").To(room).Emit.
func Example() {
	srv, ts, err := startChat()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer stopChat(srv, ts)

	alice, _ := dial(ts.URL)
	_ = alice.send("40/chat,")
	connect, _ := alice.next()
	fmt.Println(strings.HasPrefix(connect, `40/chat,{"sid":`))

	_ = alice.send(`42/chat,1["join_room","lobby"]`)
	ack, _ := alice.next()
	fmt.Println(ack)

	_ = alice.send(`42/chat,["say","lobby","hello"]`)
	said, _ := alice.next()
	fmt.Println(strings.Contains(said, `"text":"hello"`))

	_ = srv.Of("/chat").To("lobby").Emit("said", map[string]string{"from": "server", "text": "welcome"})
	said, _ = alice.next()
	fmt.Println(said)
	// Output:
	// true
	// 43/chat,1[{"ok":true,"room":"lobby"}]
	// true
	// 42/chat,["said",{"from":"server","text":"welcome"}]
}

func TestRoomsIsolateMessages(t *testing.T) {
	srv, ts, err := startChat()
	if err != nil {
		t.Fatal(err)
	}
	defer stopChat(srv, ts)

	join := func(room string) *client {
		c, err := dial(ts.URL)
		if err != nil {
			t.Fatal(err)
		}
		_ = c.send("40/chat,")
		if p, _ := c.next(); !strings.HasPrefix(p, "40/chat,") {
			t.Fatalf("connect: %q", p)
		}
		_ = c.send(`42/chat,1["join_room","` + room + `"]`)
		if p, _ := c.next(); !strings.HasPrefix(p, "43/chat,1") {
			t.Fatalf("join ack: %q", p)
		}
		return c
	}
	a := join("red")
	b := join("blue")

	// Saying in a room one is not in is ignored.
	_ = a.send(`42/chat,["say","blue","intruder"]`)
	_ = a.send(`42/chat,["say","red","hi red"]`)
	_ = srv.Of("/chat").To("blue").Emit("said", map[string]string{"text": "hi blue"})

	if p, _ := a.next(); !strings.Contains(p, "hi red") {
		t.Fatalf("a got %q", p)
	}
	if p, _ := b.next(); !strings.Contains(p, "hi blue") {
		t.Fatalf("b got %q (the intruder message must not arrive)", p)
	}
	// An empty room name is refused through the ack.
	_ = a.send(`42/chat,2["join_room",""]`)
	if p, _ := a.next(); p != `43/chat,2[{"error":"room name required","ok":false}]` {
		t.Fatalf("refusal %q", p)
	}
}
