package adapter_test

import (
	"context"
	"encoding/json"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ionbus/ionbus/adapter"
	"github.com/ionbus/ionbus/adapter/adaptertest"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func memoryFactory(t *testing.T, n int) []adapter.Adapter {
	bus := adapter.NewMemoryBus()
	out := make([]adapter.Adapter, n)
	for i := range out {
		out[i] = bus.Node("node" + strconv.Itoa(i))
	}
	return out
}

func TestMemoryConformance(t *testing.T) { adaptertest.Run(t, memoryFactory) }

func TestNewMemorySingleNode(t *testing.T) {
	m := adapter.NewMemory()
	defer m.Close(context.Background())
	if err := m.Start(context.Background(), &adaptertest.Recorder{Name: "solo"}); err != nil {
		t.Fatal(err)
	}
	if err := m.Start(context.Background(), &adaptertest.Recorder{}); err != adapter.ErrStarted {
		t.Fatalf("second Start = %v", err)
	}
	if err := m.Publish(context.Background(), adapter.Message{Kind: adapter.KindBroadcast, Namespace: "/"}); err != nil {
		t.Fatal(err)
	}
	n, err := m.ServerCount(context.Background())
	if err != nil || n != 1 {
		t.Fatalf("ServerCount = %d, %v", n, err)
	}
}

// blockingHandler blocks in HandleMessage until released.
type blockingHandler struct {
	adaptertest.Recorder
	release chan struct{}
	entered atomic.Int32
}

func (b *blockingHandler) HandleMessage(ctx context.Context, m adapter.Message) {
	b.entered.Add(1)
	<-b.release
	b.Recorder.HandleMessage(ctx, m)
}

func TestMemoryPublishNeverBlocksOnSlowHandler(t *testing.T) {
	bus := adapter.NewMemoryBus()
	a, b := bus.Node("a"), bus.Node("b")
	slow := &blockingHandler{release: make(chan struct{})}
	if err := a.Start(context.Background(), &adaptertest.Recorder{}); err != nil {
		t.Fatal(err)
	}
	if err := b.Start(context.Background(), slow); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 1000; i++ {
		if err := a.Publish(context.Background(), adapter.Message{Kind: adapter.KindBroadcast, Namespace: "/", Packet: adapter.Packet{Data: json.RawMessage(`[1]`)}}); err != nil {
			t.Fatal(err)
		}
	}
	if !adaptertest.Eventually(time.Second, func() bool { return slow.entered.Load() == 1 }) {
		t.Fatal("handler not entered")
	}
	if st := b.Stats(); st.Queued != 1000 || st.MaxQueued != 1000 {
		t.Fatalf("stats %+v", st)
	}
	close(slow.release)
	if !adaptertest.Eventually(2*time.Second, func() bool { return len(slow.Messages()) == 1000 }) {
		t.Fatalf("delivered %d", len(slow.Messages()))
	}
	_ = a.Close(context.Background())
	_ = b.Close(context.Background())
}

func TestMemoryCloseWithPendingRequest(t *testing.T) {
	bus := adapter.NewMemoryBus()
	a, b := bus.Node("a"), bus.Node("b")
	_ = a.Start(context.Background(), &adaptertest.Recorder{})
	_ = b.Start(context.Background(), &adaptertest.Recorder{Silent: true})
	done := make(chan error, 1)
	go func() { done <- a.Request(context.Background(), adapter.Request{Kind: adapter.RequestAllRooms}, nil) }()
	time.Sleep(20 * time.Millisecond)
	_ = b.Close(context.Background())
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("request still waiting for a closed node")
	}
	_ = a.Close(context.Background())
}

func BenchmarkMemoryPublish(b *testing.B) {
	bus := adapter.NewMemoryBus()
	nodes := []*adapter.Memory{bus.Node("a"), bus.Node("b"), bus.Node("c")}
	var count atomic.Int64
	for _, n := range nodes {
		_ = n.Start(context.Background(), countingHandler{&count})
	}
	m := adapter.Message{Kind: adapter.KindBroadcast, Namespace: "/", Packet: adapter.Packet{Type: 2, Data: json.RawMessage(`["ev","x"]`), ID: -1}}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		_ = nodes[0].Publish(context.Background(), m)
	}
	b.StopTimer()
	for count.Load() < int64(2*b.N) {
		time.Sleep(time.Millisecond)
	}
	for _, n := range nodes {
		_ = n.Close(context.Background())
	}
}

type countingHandler struct{ n *atomic.Int64 }

func (c countingHandler) HandleMessage(context.Context, adapter.Message) { c.n.Add(1) }
func (c countingHandler) HandleRequest(context.Context, adapter.Request, func(adapter.Reply)) {
}
