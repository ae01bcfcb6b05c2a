package broker

import (
	"context"
	"errors"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ionbus/ionbus/adapter"

	"github.com/ionbus/ionbus/connection"
)

func TestEventMiddlewareAndNamespaceHandlers(t *testing.T) {
	h := newHarness(t, Config{})
	ns := h.srv.Of("/")
	ns.UseEvent(func(e *Event) error {
		if e.Name == "blocked" {
			_ = e.Socket.Emit("error", map[string]any{"code": "RATE_LIMIT_EXCEEDED"})
			return errors.New("blocked")
		}
		return nil
	})
	var seen []string
	ns.On("blocked", func(e *Event) { seen = append(seen, "ns:blocked") })
	ns.On("shared", func(e *Event) { seen = append(seen, "ns:shared") })
	ns.OnConnection(func(s *Socket) {
		s.On("own", func(e *Event) { seen = append(seen, "socket:own") })
	})
	c, _ := h.connect("/", "")
	h.text(c, `2["blocked"]`)
	h.text(c, `2["shared"]`)
	h.text(c, `2["own"]`)
	if !reflect.DeepEqual(seen, []string{"ns:shared", "socket:own"}) {
		t.Fatalf("handlers ran: %v", seen)
	}
	if got := c.take(); !reflect.DeepEqual(got, []string{`2["error",{"code":"RATE_LIMIT_EXCEEDED"}]`}) {
		t.Fatalf("sent %q", got)
	}
	if st := h.srv.Stats(); st.EventsRefused != 1 || st.EventsIn != 3 {
		t.Fatalf("stats %+v", st)
	}
}

func TestRoomHooks(t *testing.T) {
	h := newHarness(t, Config{})
	var log []string
	h.srv.Of("/").
		OnJoin(func(s *Socket, room string) { log = append(log, "join:"+room) }).
		OnLeave(func(s *Socket, room string) { log = append(log, "leave:"+room) })
	c, s := h.connect("/", "")
	s.Join("a", "b")
	s.Join("a") // already in: no hook
	s.Leave("a")
	c.Close(connection.CloseTransportClose) // leaves b
	sort.Strings(log[:2])
	want := []string{"join:a", "join:b", "leave:a", "leave:b"}
	if !reflect.DeepEqual(log, want) {
		t.Fatalf("hooks %v, want %v", log, want)
	}
}

func TestOnDrainedRunsBeforeAdapterClose(t *testing.T) {
	bus := adapter.NewMemoryBus()
	h1 := newHarness(t, Config{Adapter: bus.Node("n1"), NodeID: "n1"})
	h2 := newHarness(t, Config{Adapter: bus.Node("n2"), NodeID: "n2"})
	c2, _ := h2.connect("/", "")
	h1.connect("/", "")
	h1.srv.OnDrained(func(ctx context.Context) error {
		if h1.srv.Engine().Len() != 0 {
			t.Error("sessions still open when the drain hook runs")
		}
		return h1.srv.Emit("bye") // the adapter must still publish
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := h1.srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return c2.count() > 0 })
	if got := c2.take(); !reflect.DeepEqual(got, []string{`2["bye"]`}) {
		t.Fatalf("node 2 got %q", got)
	}
}

// watchingAdapter records the RoomWatcher calls the broker makes.
type watchingAdapter struct {
	*adapter.Memory
	mu  sync.Mutex
	log []string
}

func (w *watchingAdapter) RoomCreated(ns, room string) { w.add("+" + room) }
func (w *watchingAdapter) RoomDeleted(ns, room string) { w.add("-" + room) }
func (w *watchingAdapter) add(s string) {
	w.mu.Lock()
	w.log = append(w.log, s)
	w.mu.Unlock()
}

func TestOwnRoomIsIndexedWithoutAMapAndWatched(t *testing.T) {
	w := &watchingAdapter{Memory: adapter.NewMemory()}
	h := newHarness(t, Config{Adapter: w})
	c1, s1 := h.connect("/", "")
	c2, s2 := h.connect("/", "")
	s2.Join(s1.ID()) // following another socket's room is allowed
	_ = h.srv.To(s1.ID()).Emit("x")
	if a, b := c1.take(), c2.take(); len(a) != 1 || len(b) != 1 {
		t.Fatalf("own room broadcast reached %q and %q, want both", a, b)
	}
	if rooms := h.srv.Of("/").Rooms(); !contains(rooms, s1.ID()) || !contains(rooms, s2.ID()) {
		t.Fatalf("Rooms() = %v, want the socket id rooms", rooms)
	}
	c1.Close(connection.CloseTransportClose)
	_ = h.srv.To(s1.ID()).Emit("y") // s2 still follows the room
	if b := c2.take(); len(b) != 1 {
		t.Fatalf("after s1 left: %q", b)
	}
	s2.Leave(s1.ID())
	w.mu.Lock()
	defer w.mu.Unlock()
	want := []string{"+" + s1.ID(), "+" + s2.ID(), "-" + s1.ID()}
	if !reflect.DeepEqual(w.log, want) {
		t.Fatalf("watcher saw %v, want %v", w.log, want)
	}
}

// TestOnMatchAndOnUnhandled: exact handlers win over matchers, matchers
// over the fallback; the fallback runs only when nothing (OnAny included)
// handles the event; pattern children inherit all three.
func TestOnMatchAndOnUnhandled(t *testing.T) {
	h := newHarness(t, Config{})
	var mu sync.Mutex
	var seen []string
	record := func(tag string) EventHandler {
		return func(e *Event) {
			mu.Lock()
			seen = append(seen, tag+":"+e.Name)
			mu.Unlock()
		}
	}
	prefixed := func(p string) func(string) bool {
		return func(name string) bool { return strings.HasPrefix(name, p) }
	}
	configure := func(ns *Namespace) {
		ns.On("pause_exact", record("exact"))
		ns.OnMatch(prefixed("pause_"), record("match1"))
		ns.OnMatch(prefixed("pa"), record("match2"))
		ns.OnUnhandled(func(e *Event) {
			record("fallback")(e)
			_ = e.Ack("EVENT_NOT_HANDLED")
		})
	}
	configure(h.srv.Of("/"))
	configure(h.srv.OfPattern(regexp.MustCompile(`^/dyn-\d+$`)))
	h.srv.Of("/").OnConnection(func(s *Socket) {
		s.On("own", record("socket"))
	})

	for _, nsp := range []string{"/", "/dyn-1"} {
		mu.Lock()
		seen = nil
		mu.Unlock()
		c, _ := h.connect(nsp, "")
		prefix := "2"
		if nsp != "/" {
			prefix += nsp + ","
		}
		for _, ev := range []string{"pause_exact", "pause_x", "pat", "nothing"} {
			h.text(c, prefix+`["`+ev+`"]`)
		}
		h.text(c, prefix+`7["other"]`)
		want := []string{"exact:pause_exact", "match1:pause_x", "match2:pat", "fallback:nothing", "fallback:other"}
		mu.Lock()
		got := append([]string(nil), seen...)
		mu.Unlock()
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%s: handlers ran %v, want %v", nsp, got, want)
		}
		ackPrefix := "3"
		if nsp != "/" {
			ackPrefix += nsp + ","
		}
		if out := c.take(); !reflect.DeepEqual(out, []string{ackPrefix + `7["EVENT_NOT_HANDLED"]`}) {
			t.Fatalf("%s: sent %q", nsp, out)
		}
	}

	// A socket with an OnAny handler handles everything: no fallback.
	h.srv.Of("/any").OnUnhandled(record("fallback")).OnConnection(func(s *Socket) { s.OnAny(record("any")) })
	mu.Lock()
	seen = nil
	mu.Unlock()
	c, _ := h.connect("/any", "")
	h.text(c, `2/any,["nothing"]`)
	mu.Lock()
	defer mu.Unlock()
	if !reflect.DeepEqual(seen, []string{"any:nothing"}) {
		t.Fatalf("with OnAny: %v", seen)
	}
}
