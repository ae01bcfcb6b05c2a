package presence

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// The behaviour suite: every test runs against memory, miniredis and a real
// redis-server through forEachBackend.

const ns = "/chat"

func mustJoin(t testing.TB, s Store, e Entry) JoinResult {
	t.Helper()
	res, err := s.Join(context.Background(), e)
	if err != nil {
		t.Fatalf("join %+v: %v", e, err)
	}
	return res
}

func mustLeave(t testing.TB, s Store, r Ref) LeaveResult {
	t.Helper()
	res, err := s.Leave(context.Background(), r)
	if err != nil {
		t.Fatalf("leave %+v: %v", r, err)
	}
	return res
}

func mustCount(t testing.TB, s Store, room string) int {
	t.Helper()
	n, err := s.Count(context.Background(), ns, room)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func listAll(t testing.TB, s Store, room string, limit int) []Member {
	t.Helper()
	var all []Member
	cursor := ""
	for pages := 0; ; pages++ {
		if pages > 100000 {
			t.Fatal("paging does not end")
		}
		ms, next, err := s.List(context.Background(), ns, room, cursor, limit)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, ms...)
		if next == "" {
			return all
		}
		cursor = next
	}
}

func TestStoreTwoTabs(t *testing.T) {
	forEachBackend(t, func(t *testing.T, h *harness) {
		a := h.newStore(t, h.config("node-a"))
		b := h.newStore(t, h.config("node-b"))
		tab1 := Entry{Namespace: ns, Room: "r", UserID: "u1", Name: "Ann", ConnID: "c1", Meta: json.RawMessage(`{"k": 1}`)}
		tab2 := tab1
		tab2.ConnID, tab2.Meta = "c2", nil

		if got := mustJoin(t, a, tab1); got != (JoinResult{First: true, Connections: 1}) {
			t.Fatalf("first tab: %+v", got)
		}
		// The second tab, on another node: not first cluster-wide.
		if got := mustJoin(t, b, tab2); got != (JoinResult{First: false, Connections: 2}) {
			t.Fatalf("second tab: %+v", got)
		}
		// Joining the same connection again changes nothing.
		if got := mustJoin(t, a, tab1); got != (JoinResult{First: false, Connections: 2}) {
			t.Fatalf("rejoin: %+v", got)
		}
		if n := mustCount(t, a, "r"); n != 1 {
			t.Fatalf("count = %d, want 1 member", n)
		}
		ms := listAll(t, b, "r", 0)
		if len(ms) != 1 || ms[0].UserID != "u1" || ms[0].Name != "Ann" || ms[0].Connections != 2 ||
			string(ms[0].Meta) != `{"k":1}` || ms[0].FirstSeen.IsZero() {
			t.Fatalf("list = %+v", ms)
		}
		if !ms[0].FirstSeen.Equal(h.clock.Now().Truncate(time.Millisecond)) {
			t.Fatalf("first seen %v, want %v", ms[0].FirstSeen, h.clock.Now())
		}

		if got := mustLeave(t, a, Ref{Namespace: ns, Room: "r", UserID: "u1", ConnID: "c1"}); got.Last || !got.Removed || got.Connections != 1 {
			t.Fatalf("leave first tab: %+v", got)
		}
		if got := mustLeave(t, a, Ref{Namespace: ns, Room: "r", UserID: "u1", ConnID: "c1"}); got.Removed || got.Last {
			t.Fatalf("leave twice: %+v", got)
		}
		// KeepLast holds the last connection.
		if got := mustLeave(t, a, Ref{Namespace: ns, Room: "r", UserID: "u1", ConnID: "c2", KeepLast: true}); !got.Kept || !got.Last || got.Removed || got.Connections != 1 {
			t.Fatalf("keep last: %+v", got)
		}
		if n := mustCount(t, a, "r"); n != 1 {
			t.Fatalf("kept member not counted: %d", n)
		}
		got := mustLeave(t, b, Ref{Namespace: ns, Room: "r", UserID: "u1", ConnID: "c2"})
		if !got.Last || !got.Removed || got.Connections != 0 || got.Name != "Ann" || string(got.Meta) != `{"k":1}` {
			t.Fatalf("leave last tab: %+v", got)
		}
		if n := mustCount(t, a, "r"); n != 0 {
			t.Fatalf("count after last leave = %d", n)
		}
		if ms := listAll(t, a, "r", 0); len(ms) != 0 {
			t.Fatalf("list after last leave = %+v", ms)
		}
		// Rejoining is first again.
		if got := mustJoin(t, b, tab2); !got.First {
			t.Fatalf("join after leave: %+v", got)
		}
	})
}

func TestStoreAnonymousCountsBySocket(t *testing.T) {
	forEachBackend(t, func(t *testing.T, h *harness) {
		s := h.newStore(t, h.config("node-a"))
		for _, c := range []string{"s1", "s2"} {
			if got := mustJoin(t, s, Entry{Namespace: ns, Room: "lobby", ConnID: c}); !got.First {
				t.Fatalf("anonymous %s not first: %+v", c, got)
			}
		}
		if n := mustCount(t, s, "lobby"); n != 2 {
			t.Fatalf("count = %d, want 2 anonymous members", n)
		}
		if got := mustLeave(t, s, Ref{Namespace: ns, Room: "lobby", ConnID: "s1"}); !got.Last {
			t.Fatalf("anonymous leave: %+v", got)
		}
	})
}

func TestStoreInvalidEntry(t *testing.T) {
	forEachBackend(t, func(t *testing.T, h *harness) {
		s := h.newStore(t, h.config("node-a"))
		for _, e := range []Entry{
			{Namespace: ns, Room: "r", UserID: "u"},                   // no conn
			{Namespace: ns, Room: "r\x00x", UserID: "u", ConnID: "c"}, // NUL
			{Namespace: ns, Room: "r", UserID: "u", ConnID: strings.Repeat("c", MaxIDBytes+1)},
		} {
			if _, err := s.Join(context.Background(), e); !errors.Is(err, ErrInvalidEntry) {
				t.Fatalf("join %q: err = %v, want ErrInvalidEntry", e.Room, err)
			}
		}
		if n := mustCount(t, s, "r"); n != 0 {
			t.Fatalf("invalid entries stored: %d", n)
		}
	})
}

func TestStorePaging10k(t *testing.T) {
	forEachBackend(t, func(t *testing.T, h *harness) {
		s := h.newStore(t, h.config("node-a"))
		const n = 10000
		es := make([]Entry, n)
		for i := range es {
			es[i] = Entry{Namespace: ns, Room: "big", UserID: fmt.Sprintf("user-%05d", i), Name: "n", ConnID: fmt.Sprintf("c%d", i)}
		}
		// Shuffle-ish insertion order: paging must not depend on it.
		sort.Slice(es, func(i, j int) bool { return es[i].ConnID < es[j].ConnID })
		res, err := s.JoinBatch(context.Background(), es)
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range res {
			if !r.First || r.Connections != 1 {
				t.Fatalf("entry %d: %+v", i, r)
			}
		}
		if c := mustCount(t, s, "big"); c != n {
			t.Fatalf("count = %d", c)
		}
		for _, limit := range []int{1000, 777, 0} {
			all := listAll(t, s, "big", limit)
			if len(all) != n {
				t.Fatalf("limit %d: listed %d members, want %d", limit, len(all), n)
			}
			for i, m := range all {
				if want := fmt.Sprintf("user-%05d", i); m.UserID != want || m.Connections != 1 || m.Name != "n" {
					t.Fatalf("limit %d: member %d = %+v, want %s", limit, i, m, want)
				}
			}
		}
		// Page size is capped and defaulted.
		ms, next, err := s.List(context.Background(), ns, "big", "", 5000)
		if err != nil || len(ms) != 1000 || next != ms[999].UserID {
			t.Fatalf("capped page: %d members, next %q, err %v", len(ms), next, err)
		}
		ms, _, _ = s.List(context.Background(), ns, "big", "", 0)
		if len(ms) != 100 {
			t.Fatalf("default page: %d", len(ms))
		}
		// A cursor survives removal of the member it names.
		if _, err := s.LeaveBatch(context.Background(), []Ref{{Namespace: ns, Room: "big", UserID: "user-00099", ConnID: "c99"}}); err != nil {
			t.Fatal(err)
		}
		ms, _, _ = s.List(context.Background(), ns, "big", "user-00099", 1)
		if len(ms) != 1 || ms[0].UserID != "user-00100" {
			t.Fatalf("after removed cursor: %+v", ms)
		}
	})
}

func TestStoreConcurrentJoins(t *testing.T) {
	forEachBackend(t, func(t *testing.T, h *harness) {
		s := h.newStore(t, h.config("node-a"))
		const n = 2000
		var wg sync.WaitGroup
		firsts := make([]bool, n)
		errs := make(chan error, n)
		for i := range n {
			wg.Go(func() {
				// Two connections per user, racing: exactly one is first.
				res, err := s.Join(context.Background(), Entry{Namespace: ns, Room: "rush", UserID: fmt.Sprintf("u%d", i/2), ConnID: fmt.Sprintf("c%d", i)})
				if err != nil {
					errs <- err
				}
				firsts[i] = res.First
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		for i := 0; i < n; i += 2 {
			if firsts[i] == firsts[i+1] {
				t.Fatalf("user u%d: first flags %v %v, want exactly one", i/2, firsts[i], firsts[i+1])
			}
		}
		if c := mustCount(t, s, "rush"); c != n/2 {
			t.Fatalf("count = %d", c)
		}
		for _, m := range listAll(t, s, "rush", 1000) {
			if m.Connections != 2 {
				t.Fatalf("%+v", m)
			}
		}
	})
}

func TestStoreMetaValidation(t *testing.T) {
	forEachBackend(t, func(t *testing.T, h *harness) {
		cfg := h.config("node-a")
		cfg.MaxMetaBytes = 64
		s := h.newStore(t, cfg)
		ctx := context.Background()
		big := json.RawMessage(`{"a":"` + strings.Repeat("x", 60) + `"}`)
		bad := []json.RawMessage{big, json.RawMessage(`[1,2]`), json.RawMessage(`"s"`), json.RawMessage(`null`), json.RawMessage(`{"a":`), json.RawMessage(`42`)}
		for _, m := range bad {
			_, err := s.Join(ctx, Entry{Namespace: ns, Room: "m", UserID: "u1", ConnID: "c1", Meta: m})
			if !errors.Is(err, ErrInvalidMeta) {
				t.Fatalf("join meta %s: err = %v, want ErrInvalidMeta", m, err)
			}
		}
		// A batch with one bad entry stores nothing.
		_, err := s.JoinBatch(ctx, []Entry{
			{Namespace: ns, Room: "m", UserID: "u0", ConnID: "c0"},
			{Namespace: ns, Room: "m", UserID: "u1", ConnID: "c1", Meta: big},
		})
		if !errors.Is(err, ErrInvalidMeta) {
			t.Fatalf("batch err = %v", err)
		}
		if n := mustCount(t, s, "m"); n != 0 {
			t.Fatalf("invalid joins stored %d members", n)
		}

		mustJoin(t, s, Entry{Namespace: ns, Room: "m", UserID: "u1", Name: "Ann", ConnID: "c1", Meta: json.RawMessage(` { "v" : 1 } `)})
		for _, m := range bad {
			if _, err := s.SetMeta(ctx, ns, "m", "u1", m); !errors.Is(err, ErrInvalidMeta) {
				t.Fatalf("set meta %s: err = %v", m, err)
			}
		}
		ms := listAll(t, s, "m", 0)
		if len(ms) != 1 || string(ms[0].Meta) != `{"v":1}` {
			t.Fatalf("meta changed by rejected updates: %+v", ms)
		}
		got, err := s.SetMeta(ctx, ns, "m", "u1", json.RawMessage(`{"status":"away"}`))
		if err != nil || got.Name != "Ann" || got.Connections != 1 || string(got.Meta) != `{"status":"away"}` || got.FirstSeen.IsZero() {
			t.Fatalf("set meta = %+v, %v", got, err)
		}
		if ms := listAll(t, s, "m", 0); string(ms[0].Meta) != `{"status":"away"}` {
			t.Fatalf("listed meta %s", ms[0].Meta)
		}
		// Exactly at the limit is fine.
		atLimit := json.RawMessage(`{"a":"` + strings.Repeat("x", 64-8) + `"}`)
		if _, err := s.SetMeta(ctx, ns, "m", "u1", atLimit); err != nil {
			t.Fatalf("meta of %d bytes: %v", len(atLimit), err)
		}
		if _, err := s.SetMeta(ctx, ns, "m", "nobody", json.RawMessage(`{}`)); !errors.Is(err, ErrNotMember) {
			t.Fatalf("set meta of non-member: %v", err)
		}
		if n := mustCount(t, s, "m"); n != 1 {
			t.Fatalf("SetMeta of non-member created a member: %d", n)
		}
	})
}

// departures sorts departures for comparison.
func departureIDs(ds []Departure) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.Room + "/" + d.UserID + "@" + d.Node
	}
	sort.Strings(out)
	return out
}

func TestStoreCrashCleanup(t *testing.T) {
	forEachBackend(t, func(t *testing.T, h *harness) {
		ctx := context.Background()
		a := h.newStore(t, h.config("node-a"))
		b := h.newStore(t, h.config("node-b"))
		c := h.newStore(t, h.config("node-c"))
		for _, s := range []Store{a, b, c} {
			if err := s.Heartbeat(ctx); err != nil {
				t.Fatal(err)
			}
		}
		mustJoin(t, a, Entry{Namespace: ns, Room: "r", UserID: "u1", Name: "Ann", ConnID: "a1", Meta: json.RawMessage(`{"x":1}`)})
		mustJoin(t, a, Entry{Namespace: ns, Room: "r", UserID: "u2", ConnID: "a2"})
		mustJoin(t, a, Entry{Namespace: ns, Room: "r2", UserID: "u1", ConnID: "a3"})
		mustJoin(t, b, Entry{Namespace: ns, Room: "r", UserID: "u2", ConnID: "b1"})
		mustJoin(t, b, Entry{Namespace: ns, Room: "r", UserID: "u3", ConnID: "b2"})
		// A kept (grace) connection of a dying node is swept too.
		mustJoin(t, a, Entry{Namespace: ns, Room: "r3", UserID: "u4", ConnID: "a4"})
		mustLeave(t, a, Ref{Namespace: ns, Room: "r3", UserID: "u4", ConnID: "a4", KeepLast: true})

		// Node a stops heartbeating (crash); b and c keep going.
		live := h.nodeTTL - h.sweepInterval
		step := live / 4
		var elapsed time.Duration
		for elapsed+step < live {
			h.advance(step)
			elapsed += step
			for _, s := range []Store{b, c} {
				if err := s.Heartbeat(ctx); err != nil {
					t.Fatal(err)
				}
			}
			if ds, err := b.Sweep(ctx); err != nil || len(ds) != 0 {
				t.Fatalf("sweep while a is alive (%v after its heartbeat): %v, %v", elapsed, ds, err)
			}
		}
		// Sweeps run every SweepInterval, so the first sweep after the
		// heartbeat lapsed happens by NodeTTL after the last heartbeat.
		h.advance(live - elapsed + h.sweepInterval/2)
		elapsed = live + h.sweepInterval/2
		if elapsed > h.nodeTTL {
			t.Fatalf("test timing: %v > NodeTTL %v", elapsed, h.nodeTTL)
		}
		for _, s := range []Store{b, c} {
			if err := s.Heartbeat(ctx); err != nil {
				t.Fatal(err)
			}
		}
		// b and c sweep at the same time: each departure is reported once.
		var wg sync.WaitGroup
		var got [2][]Departure
		for i, s := range []Store{b, c} {
			wg.Go(func() {
				ds, err := s.Sweep(ctx)
				if err != nil {
					t.Error(err)
				}
				got[i] = ds
			})
		}
		wg.Wait()
		all := departureIDs(append(got[0], got[1]...))
		want := []string{"r/u1@node-a", "r2/u1@node-a", "r3/u4@node-a"}
		if fmt.Sprint(all) != fmt.Sprint(want) {
			t.Fatalf("departures = %v, want %v", all, want)
		}
		for _, d := range append(got[0], got[1]...) {
			if d.Room == "r" && (d.Name != "Ann" || string(d.Meta) != `{"x":1}`) {
				t.Fatalf("departure without member data: %+v", d)
			}
		}
		ms := listAll(t, b, "r", 0)
		if len(ms) != 2 || ms[0].UserID != "u2" || ms[0].Connections != 1 || ms[1].UserID != "u3" {
			t.Fatalf("room after sweep: %+v", ms)
		}
		for _, room := range []string{"r2", "r3"} {
			if n := mustCount(t, b, room); n != 0 {
				t.Fatalf("%s count after sweep = %d", room, n)
			}
		}
		if ds, _ := c.Sweep(ctx); len(ds) != 0 {
			t.Fatalf("second sweep reported again: %v", ds)
		}
		// The crashed node comes back: it learns its entries are gone.
		if err := a.Heartbeat(ctx); !errors.Is(err, ErrLapsed) {
			t.Fatalf("heartbeat after lapse: %v, want ErrLapsed", err)
		}
		// Graceful shutdown of b: its members with no other connection leave.
		mustJoin(t, c, Entry{Namespace: ns, Room: "r", UserID: "u3", ConnID: "c1"})
		ds, err := b.Evict(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if got := departureIDs(ds); fmt.Sprint(got) != "[r/u2@node-b]" {
			t.Fatalf("evict departures = %v", got)
		}
		if ms := listAll(t, c, "r", 0); len(ms) != 1 || ms[0].UserID != "u3" || ms[0].Connections != 1 {
			t.Fatalf("room after evict: %+v", ms)
		}
	})
}

func TestStoreSweepManyInBatches(t *testing.T) {
	forEachBackend(t, func(t *testing.T, h *harness) {
		ctx := context.Background()
		a := h.newStore(t, h.config("node-a"))
		b := h.newStore(t, h.config("node-b"))
		const n = 537 // > 10 sweep batches of 50
		es := make([]Entry, n)
		for i := range es {
			es[i] = Entry{Namespace: ns, Room: fmt.Sprintf("room-%d", i%7), UserID: fmt.Sprintf("u%d", i), ConnID: fmt.Sprintf("c%d", i)}
		}
		if _, err := a.JoinBatch(ctx, es); err != nil {
			t.Fatal(err)
		}
		h.advance(h.nodeTTL)
		if err := b.Heartbeat(ctx); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		var mu sync.Mutex
		seen := map[string]int{}
		for range 4 {
			wg.Go(func() {
				ds, err := b.Sweep(ctx)
				if err != nil {
					t.Error(err)
				}
				mu.Lock()
				for _, id := range departureIDs(ds) {
					seen[id]++
				}
				mu.Unlock()
			})
		}
		wg.Wait()
		if len(seen) != n {
			t.Fatalf("%d distinct departures, want %d", len(seen), n)
		}
		for id, k := range seen {
			if k != 1 {
				t.Fatalf("%s reported %d times", id, k)
			}
		}
	})
}
