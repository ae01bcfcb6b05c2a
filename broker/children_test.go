package broker

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ionbus/ionbus/adapter"
)

// watchCounter is the in-memory adapter with namespace subscriptions
// counted, as the Redis adapter would hold them.
type watchCounter struct {
	adapter.Adapter
	mu      sync.Mutex
	watched map[string]bool
	watches int
}

func newWatchCounter() *watchCounter {
	return &watchCounter{Adapter: adapter.NewMemory(), watched: map[string]bool{}}
}

func (w *watchCounter) WatchNamespace(_ context.Context, ns string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.watched[ns] = true
	w.watches++
	return nil
}

func (w *watchCounter) UnwatchNamespace(_ context.Context, ns string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.watched, ns)
	return nil
}

func (w *watchCounter) has(ns string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.watched[ns]
}

func (w *watchCounter) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.watched)
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A refused CONNECT to a new dynamic namespace leaves nothing behind:
// no namespace, no adapter subscription, on one session or many.
func TestRefusedConnectLeavesNoNamespace(t *testing.T) {
	w := newWatchCounter()
	h := newHarness(t, Config{Adapter: w, EmptyChildTTL: time.Hour})
	h.srv.OfPattern(regexp.MustCompile(`^/auth-\d+$`)).Use(func(s *Socket) error {
		return &ConnectError{Message: "Authentication failed"}
	})
	before, watched := len(h.srv.Namespaces()), w.count()
	c := h.open()
	for i := range 1000 {
		h.text(c, fmt.Sprintf("0/auth-%d,", i))
	}
	if out := c.take(); len(out) != 1000 || !strings.HasPrefix(out[999], `4/auth-999,{"message":"Authentication failed"`) {
		t.Fatalf("%d answers, last %q", len(out), out[len(out)-1])
	}
	for range 10 { // and on sessions of their own
		h.text(h.open(), "0/auth-1,")
	}
	if n, st := len(h.srv.Namespaces()), h.srv.Stats(); n != before || st.DynamicNamespaces != 0 {
		t.Fatalf("namespaces %d (was %d), dynamic %d", n, before, st.DynamicNamespaces)
	}
	if w.count() != watched || w.watches != watched {
		t.Fatalf("adapter watches %d namespaces (%d watch calls), was %d", w.count(), w.watches, watched)
	}
}

// An admitted socket subscribes its child; once the child is empty for
// EmptyChildTTL it is removed with its subscription, and a later CONNECT
// creates it again. A CONNECT within the TTL keeps it.
func TestEmptyChildRemoved(t *testing.T) {
	w := newWatchCounter()
	h := newHarness(t, Config{Adapter: w, EmptyChildTTL: 50 * time.Millisecond})
	parent := h.srv.OfPattern(regexp.MustCompile(`^/room-\d+$`))
	c, s := h.connect("/room-1", "")
	if !w.has("/room-1") || h.srv.Stats().DynamicNamespaces != 1 {
		t.Fatal("admitted child not watched")
	}
	h.text(c, "1/room-1,")
	waitUntil(t, "the socket left", func() bool { return !s.Connected() })
	// Back within the TTL: same namespace object.
	first := h.srv.Lookup("/room-1")
	_, s2 := h.connect("/room-1", "")
	if s2.Namespace() != first {
		t.Fatal("a CONNECT within the TTL got a new namespace")
	}
	s2.Disconnect(false)
	waitUntil(t, "the empty child is removed", func() bool { return h.srv.Lookup("/room-1") == nil })
	if w.has("/room-1") || h.srv.Stats().DynamicNamespaces != 0 {
		t.Fatal("removed child still watched or counted")
	}
	if n := len(parent.childList()); n != 0 {
		t.Fatalf("parent keeps %d children", n)
	}
	got := make(chan string, 1)
	parent.OnConnection(func(s *Socket) { got <- s.Namespace().Name() })
	h.connect("/room-1", "")
	if name := <-got; name != "/room-1" || !w.has("/room-1") {
		t.Fatalf("recreated child %q watched %v", name, w.has("/room-1"))
	}
	// Broadcasting on the parent reaches the new child's socket.
	if err := parent.Emit("hello"); err != nil {
		t.Fatal(err)
	}
}

// Zero EmptyChildTTL keeps empty children, as the reference does.
func TestEmptyChildKeptByDefault(t *testing.T) {
	h := newHarness(t, Config{})
	h.srv.OfPattern(regexp.MustCompile(`^/keep-\d+$`))
	_, s := h.connect("/keep-1", "")
	s.Disconnect(false)
	time.Sleep(20 * time.Millisecond)
	if h.srv.Lookup("/keep-1") == nil {
		t.Fatal("empty child removed with EmptyChildTTL 0")
	}
}

// MaxDynamicNamespaces refuses the CONNECT that would create one child
// too many, counts it, and admits again once a child is gone.
func TestMaxDynamicNamespaces(t *testing.T) {
	h := newHarness(t, Config{MaxDynamicNamespaces: 2, EmptyChildTTL: 20 * time.Millisecond})
	h.srv.OfPattern(regexp.MustCompile(`^/t-\d+$`))
	h.connect("/t-1", "")
	_, s2 := h.connect("/t-2", "")
	h.connect("/t-1", "") // an existing child is not a new one
	c := h.open()
	h.text(c, "0/t-3,")
	want := `4/t-3,{"message":"Namespace limit exceeded","data":{"code":"NAMESPACE_LIMIT_EXCEEDED","limit":2}}`
	if out := c.take(); len(out) != 1 || out[0] != want {
		t.Fatalf("got %q, want %q", out, want)
	}
	if st := h.srv.Stats(); st.NamespacesRefused != 1 || st.DynamicNamespaces != 2 {
		t.Fatalf("stats refused %d dynamic %d", st.NamespacesRefused, st.DynamicNamespaces)
	}
	s2.Disconnect(false)
	waitUntil(t, "/t-2 removed", func() bool { return h.srv.Lookup("/t-2") == nil })
	h.connect("/t-3", "")
}

// Resolve (an API call for a namespace whose sockets are elsewhere)
// watches the child at once, and it expires like any empty child.
func TestResolvedChildExpires(t *testing.T) {
	w := newWatchCounter()
	h := newHarness(t, Config{Adapter: w, EmptyChildTTL: 30 * time.Millisecond})
	h.srv.OfPattern(regexp.MustCompile(`^/api-\d+$`))
	if ns := h.srv.Resolve("/api-1"); ns == nil || !w.has("/api-1") {
		t.Fatal("resolved child not watched")
	}
	waitUntil(t, "the resolved child expires", func() bool { return h.srv.Lookup("/api-1") == nil && !w.has("/api-1") })
}
