package adaptertest

import (
	"context"
	"encoding/json"
	"sync"
	"time"

	"github.com/ionbus/ionbus/adapter"
)

// Recorder is a Handler that records messages and answers requests with
// data naming its node, so a test can tell which node answered.
type Recorder struct {
	Name string
	// Silent makes the recorder never answer requests.
	Silent bool
	// Acks is the ClientCount a RequestBroadcastAck is answered with; that
	// many acks follow from another goroutine.
	Acks int

	mu       sync.Mutex
	messages []adapter.Message
	requests []adapter.Request
	acks     sync.WaitGroup // goroutines sending broadcast acks
}

// Wait waits for the goroutines sending broadcast acks.
func (r *Recorder) Wait() { r.acks.Wait() }

var _ adapter.Handler = (*Recorder)(nil)

// HandleMessage records m.
func (r *Recorder) HandleMessage(_ context.Context, m adapter.Message) {
	r.mu.Lock()
	r.messages = append(r.messages, m)
	r.mu.Unlock()
}

// HandleRequest records q and answers it unless Silent.
func (r *Recorder) HandleRequest(_ context.Context, q adapter.Request, reply func(adapter.Reply)) {
	r.mu.Lock()
	r.requests = append(r.requests, q)
	silent, acks := r.Silent, r.Acks
	r.mu.Unlock()
	if silent {
		return
	}
	switch q.Kind {
	case adapter.RequestFetchSockets:
		reply(adapter.Reply{Sockets: []adapter.SocketInfo{{
			ID:    "sock-" + r.Name,
			Rooms: []string{"sock-" + r.Name, "room-" + r.Name, "shared"},
			Data:  json.RawMessage(`{"node":"` + r.Name + `"}`),
			Handshake: adapter.Handshake{
				Headers: map[string]string{"host": "example"},
				Time:    "Thu Jan 01 1970",
				Address: "127.0.0.1",
				Issued:  1700000000000,
				URL:     "/socket.io/?EIO=4",
				Query:   map[string]string{"EIO": "4"},
				Auth:    json.RawMessage(`{"token":"t"}`),
			},
		}}})
	case adapter.RequestAllRooms:
		// Consistent with the sockets above: in socket.io every socket id is
		// a room, and an adapter may derive all-rooms from fetched sockets.
		reply(adapter.Reply{Rooms: []string{"sock-" + r.Name, "room-" + r.Name, "shared"}})
	case adapter.RequestServerSideEmit:
		reply(adapter.Reply{Data: json.RawMessage(`["ack-` + r.Name + `"]`)})
	case adapter.RequestBroadcastAck:
		reply(adapter.Reply{ClientCount: acks})
		r.acks.Add(1)
		go func() {
			defer r.acks.Done()
			for i := 0; i < acks; i++ {
				time.Sleep(time.Millisecond)
				reply(adapter.Reply{Data: json.RawMessage(`["ack-` + r.Name + `"]`)})
			}
		}()
	}
}

// Messages returns a copy of the messages received so far.
func (r *Recorder) Messages() []adapter.Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]adapter.Message(nil), r.messages...)
}

// Requests returns a copy of the requests received so far.
func (r *Recorder) Requests() []adapter.Request {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]adapter.Request(nil), r.requests...)
}

// SetSilent changes Silent safely while the adapter runs.
func (r *Recorder) SetSilent(v bool) {
	r.mu.Lock()
	r.Silent = v
	r.mu.Unlock()
}

// Eventually polls cond every 5ms until it holds or timeout passes.
func Eventually(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
}
