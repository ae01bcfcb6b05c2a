package online

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ionbus/ionbus/adapter"
	"github.com/ionbus/ionbus/broker"
	"github.com/ionbus/ionbus/presence"
)

// cluster starts two nodes sharing a memory bus and one memory store.
func cluster(t *testing.T, pcfg presence.Config) (a, b *node) {
	t.Helper()
	bus := adapter.NewMemoryBus()
	pcfg.NodeID = "a"
	store, err := presence.NewMemory(pcfg)
	if err != nil {
		t.Fatal(err)
	}
	a = startNode(t, "a", bus.Node("a"), store, pcfg, nil)
	b = startNode(t, "b", bus.Node("b"), store.Node("b"), pcfg, nil)
	return a, b
}

func user(id string) map[string]any { return map[string]any{"user": id, "name": "name-" + id} }

type listAck struct {
	Success    bool   `json:"success"`
	Room       string `json:"room"`
	NextCursor string `json:"next_cursor"`
	Members    []struct {
		ID          string          `json:"id"`
		Name        string          `json:"name"`
		Connections int             `json:"connections"`
		FirstSeen   string          `json:"first_seen"`
		Meta        json.RawMessage `json:"meta"`
	} `json:"members"`
	Error *ErrorBody `json:"error"`
}

func TestJoinLeaveAcrossNodes(t *testing.T) {
	a, b := cluster(t, presence.Config{DisableGrace: true})
	alice := dial(t, a, user("alice"))
	alice.waitEvent(presence.EventJoin, isEvent("", "alice")) // namespace presence, own join
	alice.join("chat:1")
	alice.waitEvent(presence.EventJoin, isEvent("chat:1", "alice"))

	bob := dial(t, b, user("bob"))
	// Namespace presence reaches the whole namespace on both nodes.
	alice.waitEvent(presence.EventJoin, isEvent("", "bob"))
	bob.join("chat:1")
	d := alice.waitEvent(presence.EventJoin, isEvent("chat:1", "bob"))
	e := decode[presenceEvent](t, d)
	if at, err := time.Parse(time.RFC3339Nano, e.Timestamp); e.User.Name != "name-bob" || e.Connections != 1 || err != nil || !strings.HasSuffix(e.Timestamp, "Z") || time.Since(at) > time.Minute {
		t.Fatalf("join payload %s", d)
	}
	bob.waitEvent(presence.EventJoin, isEvent("chat:1", "bob"))

	// An untracked room produces nothing.
	bob.join("other")
	noMatch(t, alice, presence.EventJoin, isEvent("other", "bob"), 50*time.Millisecond)

	bob.leave("chat:1")
	alice.waitEvent(presence.EventLeave, isEvent("chat:1", "bob"))

	// Disconnect: leave of the namespace room, seen on the other node.
	bob.close()
	alice.waitEvent(presence.EventLeave, isEvent("", "bob"))
	if n, err := a.on.Count(context.Background(), "/", ""); err != nil || n != 1 {
		t.Fatalf("namespace count %d %v", n, err)
	}
}

// noMatch asserts that no event called name matching m arrived within d.
func noMatch(t *testing.T, c *client, name string, m func(json.RawMessage) bool, d time.Duration) {
	t.Helper()
	time.Sleep(d)
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, f := range c.events {
		if f.name == name && m(f.data) {
			t.Fatalf("unexpected %s %s", name, f.data)
		}
	}
}

func TestTwoTabsOneMember(t *testing.T) {
	a, b := cluster(t, presence.Config{DisableGrace: true})
	watcher := dial(t, a, user("w"))
	watcher.join("chat:1")

	tab1 := dial(t, a, user("u1"))
	tab1.join("chat:1")
	watcher.waitEvent(presence.EventJoin, isEvent("chat:1", "u1"))
	tab2 := dial(t, b, user("u1")) // second tab, on the other node
	tab2.join("chat:1")
	noMatch(t, watcher, presence.EventJoin, isEvent("chat:1", "u1"), 100*time.Millisecond)

	ms, _, err := a.on.List(context.Background(), "/", "chat:1", "", 0)
	if err != nil || len(ms) != 2 {
		t.Fatalf("list %v %v", ms, err)
	}
	for _, m := range ms {
		if m.UserID == "u1" && m.Connections != 2 {
			t.Fatalf("u1 connections %d", m.Connections)
		}
	}

	tab1.close()
	noMatch(t, watcher, presence.EventLeave, isEvent("chat:1", "u1"), 100*time.Millisecond)
	tab2.close()
	watcher.waitEvent(presence.EventLeave, isEvent("chat:1", "u1"))
	watcher.waitEvent(presence.EventLeave, isEvent("", "u1"))
}

func TestGraceReconnect(t *testing.T) {
	a, b := cluster(t, presence.Config{Grace: 300 * time.Millisecond})
	watcher := dial(t, a, user("w"))
	watcher.join("chat:1")
	u := dial(t, a, user("u1"))
	u.join("chat:1")
	watcher.waitEvent(presence.EventJoin, isEvent("chat:1", "u1"))

	u.close()
	u2 := dial(t, b, user("u1")) // reconnects on the other node within grace
	u2.join("chat:1")
	noMatch(t, watcher, presence.EventLeave, isEvent("chat:1", "u1"), 500*time.Millisecond)
	noMatch(t, watcher, presence.EventJoin, isEvent("chat:1", "u1"), 0)

	start := time.Now()
	u2.close()
	watcher.waitEvent(presence.EventLeave, isEvent("chat:1", "u1"))
	if el := time.Since(start); el < 250*time.Millisecond {
		t.Fatalf("leave after %v, before the grace period", el)
	}
}

func TestAnonymousCountedBySocket(t *testing.T) {
	a, _ := cluster(t, presence.Config{DisableGrace: true})
	c1 := dial(t, a, nil)
	c2 := dial(t, a, nil)
	c1.join("chat:1")
	c2.join("chat:1")
	c1.waitEvent(presence.EventJoin, isEvent("chat:1", c2.sid))
	got := decode[CountResponse](t, c1.call(EventCount, map[string]any{"room": "chat:1"}))
	if !got.Success || got.Count != 2 {
		t.Fatalf("count %+v", got)
	}
}

func TestListPaging(t *testing.T) {
	a, b := cluster(t, presence.Config{DisableGrace: true})
	for _, id := range []string{"u1", "u2", "u3", "u4", "u5"} {
		n := a
		if id > "u3" {
			n = b
		}
		c := dial(t, n, user(id))
		c.join("public:lobby")
	}
	// outsider is not in the room: public:* is visible to everyone.
	outsider := dial(t, b, user("zed"))
	var ids []string
	cursor := ""
	pages := 0
	for {
		req := map[string]any{"room": "public:lobby", "limit": 2}
		if cursor != "" {
			req["cursor"] = cursor
		}
		page := decode[listAck](t, outsider.call(EventList, req))
		if !page.Success || page.Room != "public:lobby" || len(page.Members) > 2 {
			t.Fatalf("page %+v", page)
		}
		for _, m := range page.Members {
			if m.Name != "name-"+m.ID || m.Connections != 1 || !strings.HasSuffix(m.FirstSeen, "Z") || string(m.Meta) != "null" {
				t.Fatalf("member %+v", m)
			}
			ids = append(ids, m.ID)
		}
		pages++
		if page.NextCursor == "" {
			break
		}
		cursor = page.NextCursor
		if pages > 5 {
			t.Fatal("paging does not end")
		}
	}
	if strings.Join(ids, ",") != "u1,u2,u3,u4,u5" || pages != 3 {
		t.Fatalf("ids %v in %d pages", ids, pages)
	}
	// Default page size.
	page := decode[listAck](t, outsider.call(EventList, map[string]any{"room": "public:lobby"}))
	if len(page.Members) != 5 || page.NextCursor != "" {
		t.Fatalf("default page %+v", page)
	}
	// Namespace presence: every socket of the namespace may list it.
	page = decode[listAck](t, outsider.call(EventList, map[string]any{"room": ""}))
	if len(page.Members) != 6 {
		t.Fatalf("namespace page %+v", page)
	}
}

// errorEvent waits for the `error` event with code.
func errorEvent(t *testing.T, c *client, code string) ErrorEvent {
	t.Helper()
	d := c.waitEvent(EventError, func(d json.RawMessage) bool {
		return decode[ErrorEvent](t, d).Code == code
	})
	e := decode[ErrorEvent](t, d)
	at, err := time.Parse(time.RFC3339Nano, e.Timestamp)
	if e.Retry || e.Message == "" || e.Details["original_event"] == nil || err != nil || at.Before(time.Now().Add(-time.Minute)) {
		t.Fatalf("error event %s", d)
	}
	return e
}

func expectAckError(t *testing.T, raw json.RawMessage, code string) {
	t.Helper()
	got := decode[listAck](t, raw)
	if got.Success || got.Error == nil || got.Error.Code != code || got.Error.Message == "" {
		t.Fatalf("ack %s, want error %s", raw, code)
	}
}

func TestForbiddenRoom(t *testing.T) {
	a, _ := cluster(t, presence.Config{DisableGrace: true})
	owner := dial(t, a, user("u2"))
	owner.join("chat:secret")
	owner.join("user_u2")
	c := dial(t, a, user("u1"))

	expectAckError(t, c.call(EventList, map[string]any{"room": "chat:secret"}), CodeForbidden)
	e := errorEvent(t, c, CodeForbidden)
	if e.Details["room"] != "chat:secret" || e.Details["event"] != EventList {
		t.Fatalf("details %v", e.Details)
	}
	expectAckError(t, c.call(EventCount, map[string]any{"room": "chat:secret"}), CodeForbidden)
	errorEvent(t, c, CodeForbidden)
	// {user} placeholder: u1 may see user_u1, not user_u2.
	expectAckError(t, c.call(EventList, map[string]any{"room": "user_u2"}), CodeForbidden)
	errorEvent(t, c, CodeForbidden)
	if got := decode[listAck](t, c.call(EventList, map[string]any{"room": "user_u1"})); !got.Success {
		t.Fatalf("own room %+v", got)
	}
	// Without an ack the error event alone tells the client.
	c.emit(EventList, map[string]any{"room": "chat:secret"})
	errorEvent(t, c, CodeForbidden)
	// Once in the room, the socket may list it.
	c.join("chat:secret")
	got := decode[listAck](t, c.call(EventList, map[string]any{"room": "chat:secret"}))
	if !got.Success || len(got.Members) != 2 {
		t.Fatalf("member list %+v", got)
	}
	if st := a.on.Stats(); st.ClientErrors != 4 {
		t.Fatalf("client errors %d", st.ClientErrors)
	}
}

func TestInvalidPayloads(t *testing.T) {
	a, _ := cluster(t, presence.Config{DisableGrace: true, MaxMetaBytes: 64})
	c := dial(t, a, user("u1"))
	c.join("chat:1")
	cases := []struct {
		name, array, code string
	}{
		{"no argument", `["presence:list"]`, CodeInvalidPayload},
		{"string argument", `["presence:list","chat:1"]`, CodeInvalidPayload},
		{"room missing", `["presence:list",{}]`, CodeInvalidPayload},
		{"room wrong type", `["presence:count",{"room":5}]`, CodeInvalidPayload},
		{"limit wrong type", `["presence:list",{"room":"chat:1","limit":"10"}]`, CodeInvalidPayload},
		{"limit fraction", `["presence:list",{"room":"chat:1","limit":1.5}]`, CodeInvalidPayload},
		{"limit too large", `["presence:list",{"room":"chat:1","limit":1001}]`, CodeInvalidPayload},
		{"limit zero", `["presence:list",{"room":"chat:1","limit":0}]`, CodeInvalidPayload},
		{"cursor wrong type", `["presence:list",{"room":"chat:1","cursor":{}}]`, CodeInvalidPayload},
		{"meta missing", `["presence:update",{"room":"chat:1"}]`, CodeInvalidPayload},
		{"meta array", `["presence:update",{"meta":[1,2]}]`, CodeInvalidPayload},
		{"meta string", `["presence:update",{"meta":"away"}]`, CodeInvalidPayload},
		{"meta null", `["presence:update",{"meta":null}]`, CodeInvalidPayload},
		{"meta too large", `["presence:update",{"meta":{"status":"` + strings.Repeat("x", 64) + `"}}]`, CodeMetaTooLarge},
		{"meta too large in room", `["presence:update",{"room":"chat:1","meta":{"s":"` + strings.Repeat("x", 64) + `"}}]`, CodeMetaTooLarge},
		{"update room not joined", `["presence:update",{"room":"chat:2","meta":{}}]`, CodeForbidden},
		{"update untracked room", `["presence:update",{"room":"` + c.sid + `","meta":{}}]`, CodeForbidden},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			expectAckError(t, c.callRaw(tc.array), tc.code)
			errorEvent(t, c, tc.code)
		})
	}
	// Nothing was stored.
	ms, _, err := a.on.List(context.Background(), "/", "chat:1", "", 0)
	if err != nil || len(ms) != 1 || ms[0].Meta != nil {
		t.Fatalf("list after refusals %+v %v", ms, err)
	}
}

func TestUpdate(t *testing.T) {
	a, b := cluster(t, presence.Config{DisableGrace: true})
	watcher := dial(t, b, user("w"))
	watcher.join("chat:1")
	c := dial(t, a, user("u1"))
	c.join("chat:1")
	c.join("chat:2")

	// One room.
	ack := c.call(EventUpdate, map[string]any{"room": "chat:1", "meta": map[string]any{"status": "busy"}})
	if string(ack) != `{"success":true}` {
		t.Fatalf("ack %s", ack)
	}
	d := watcher.waitEvent(presence.EventUpdate, isEvent("chat:1", "u1"))
	if e := decode[presenceEvent](t, d); string(e.User.Meta) != `{"status":"busy"}` {
		t.Fatalf("update payload %s", d)
	}
	// Every tracked room, and rooms joined later.
	c.call(EventUpdate, map[string]any{"meta": map[string]any{"status": "away"}})
	watcher.waitEvent(presence.EventUpdate, isEvent("chat:1", "u1"))
	c.join("chat:3")
	for _, room := range []string{"", "chat:1", "chat:2", "chat:3"} {
		ms, _, err := a.on.List(context.Background(), "/", room, "", 0)
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, m := range ms {
			if m.UserID == "u1" {
				found = true
				if string(m.Meta) != `{"status":"away"}` {
					t.Fatalf("room %q meta %s", room, m.Meta)
				}
			}
		}
		if !found {
			t.Fatalf("u1 not in %q", room)
		}
	}
	// The list ack shows meta.
	page := decode[listAck](t, c.call(EventList, map[string]any{"room": "chat:2"}))
	if len(page.Members) != 1 || string(page.Members[0].Meta) != `{"status":"away"}` {
		t.Fatalf("list %+v", page)
	}
}

func TestHTTPHandler(t *testing.T) {
	a, b := cluster(t, presence.Config{DisableGrace: true})
	for _, id := range []string{"u1", "u2", "u3"} {
		c := dial(t, b, user(id))
		c.join("chat:1")
	}
	h := a.on.Handler()
	get := func(target string) (int, string) {
		req, _ := http.NewRequest(http.MethodGet, "http://x"+target, nil)
		rec := newRecorder()
		h.ServeHTTP(rec, req)
		return rec.status, rec.body.String()
	}
	cases := []struct {
		target string
		status int
		want   string // substring of the body
	}{
		{"/api/v1/presence?room=chat:1", 200, `"members":[{"id":"u1","name":"name-u1","connections":1,`},
		{"/api/v1/presence?namespace=/&room=chat:1&limit=2", 200, `"next_cursor":"u2"`},
		{"/api/v1/presence?namespace=%2F&room=chat:1&limit=2&cursor=u2", 200, `"next_cursor":""`},
		{"/api/v1/presence", 200, `"room":""`},
		{"/api/v1/presence/count?room=chat:1", 200, `"count":3`},
		{"/api/v1/presence/count", 200, `"count":3`},
		{"/api/v1/presence?room=chat:1&limit=0", 400, `"code":"BAD_REQUEST"`},
		{"/api/v1/presence?room=chat:1&limit=1001", 400, `"code":"BAD_REQUEST"`},
		{"/api/v1/presence?room=chat:1&limit=x", 400, `"code":"BAD_REQUEST"`},
		{"/api/v1/presence?room=chat:1&limit=", 400, `"code":"BAD_REQUEST"`},
		{"/api/v1/presence?room=a&room=b", 400, `"code":"BAD_REQUEST"`},
		{"/api/v1/presence?room=" + strings.Repeat("r", presence.MaxIDBytes+1), 400, `"code":"BAD_REQUEST"`},
		{"/api/v1/presence?namespace=/nope", 404, `"code":"NAMESPACE_NOT_FOUND"`},
		{"/api/v1/presence/other", 404, `"code":"NOT_FOUND"`},
	}
	for _, tc := range cases {
		status, body := get(tc.target)
		if status != tc.status || !strings.Contains(body, tc.want) {
			t.Errorf("GET %s: %d %s, want %d with %s", tc.target, status, body, tc.status, tc.want)
		}
	}
	req, _ := http.NewRequest(http.MethodPost, "http://x/api/v1/presence", strings.NewReader("{}"))
	rec := newRecorder()
	h.ServeHTTP(rec, req)
	if rec.status != 405 || rec.header.Get("Allow") == "" {
		t.Errorf("POST: %d", rec.status)
	}
	// Over a real listener, JSON with the content type.
	srv := newHTTPServer(h)
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/api/v1/presence/count?room=chat:1")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.Header.Get("Content-Type") != "application/json" || !strings.Contains(string(body), `"count":3`) {
		t.Fatalf("real GET %s %s", resp.Header, body)
	}
	// The embedder API validates too.
	if _, _, err := a.on.List(context.Background(), "/", "chat:1", "", 5000); !errors.Is(err, ErrInvalidLimit) {
		t.Fatalf("limit: %v", err)
	}
	if _, err := a.on.Count(context.Background(), "/nope", ""); !errors.Is(err, ErrUnknownNamespace) {
		t.Fatalf("namespace: %v", err)
	}
}

func TestShutdownAnnouncesLeaves(t *testing.T) {
	a, b := cluster(t, presence.Config{Grace: time.Hour})
	watcher := dial(t, b, user("w"))
	watcher.join("chat:1")
	u := dial(t, a, user("u1"))
	u.join("chat:1")
	watcher.waitEvent(presence.EventJoin, isEvent("chat:1", "u1"))

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := a.on.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := a.on.Shutdown(ctx); err != nil { // idempotent
		t.Fatal(err)
	}
	watcher.waitEvent(presence.EventLeave, isEvent("chat:1", "u1"))
	watcher.waitEvent(presence.EventLeave, isEvent("", "u1"))
	if n, _ := b.on.Count(ctx, "/", "chat:1"); n != 1 {
		t.Fatalf("count after shutdown %d", n)
	}
	// Sockets closed after the shutdown cost nothing and fail nothing.
	if err := a.srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if st := a.on.Stats(); st.StoreErrors != 0 {
		t.Fatalf("store errors %d", st.StoreErrors)
	}
}

func TestQueueOverflowAndLifecycle(t *testing.T) {
	srv, err := broker.New(broker.Config{NodeID: "q"})
	if err != nil {
		t.Fatal(err)
	}
	pcfg := presence.Config{NodeID: "q"}
	store, _ := presence.NewMemory(pcfg)
	on, err := New(Config{Presence: pcfg, Namespaces: testRules, QueueSize: 2}, store, srv)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ { // not started: nothing drains
		on.enqueue(presence.Event{Type: presence.EventJoin, Namespace: "/", Room: "chat:1"})
	}
	if st := on.Stats(); st.EventsDropped != 3 || st.QueueLength != 2 {
		t.Fatalf("stats %+v", st)
	}
	ctx := context.Background()
	if err := on.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := on.Start(ctx); err != nil { // idempotent
		t.Fatal(err)
	}
	waitFor(t, "queue drained", func() bool { return on.Stats().EventsSent == 2 })
	// An event for a namespace this node does not configure is dropped.
	on.enqueue(presence.Event{Type: presence.EventLeave, Namespace: "/other"})
	waitFor(t, "dropped", func() bool { return on.Stats().EventsDropped == 4 })
	if err := on.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	on.enqueue(presence.Event{Type: presence.EventJoin, Namespace: "/"})
	if st := on.Stats(); st.EventsDropped != 5 {
		t.Fatalf("after shutdown %+v", st)
	}
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestConfigValidation(t *testing.T) {
	srv, err := broker.New(broker.Config{NodeID: "v"})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown(context.Background())
	pcfg := presence.Config{NodeID: "v"}
	store, _ := presence.NewMemory(pcfg)
	bad := []Config{
		{Presence: pcfg},
		{Presence: pcfg, Namespaces: map[string]NamespaceRules{"chat": {}}},
		{Presence: presence.Config{NodeID: "v", OnEvent: func(presence.Event) {}}, Namespaces: testRules},
		{Presence: pcfg, Namespaces: testRules, QueueSize: -1},
		{Presence: presence.Config{}, Namespaces: testRules}, // no NodeID
	}
	for i, cfg := range bad {
		if _, err := New(cfg, store, srv); err == nil {
			t.Errorf("config %d accepted", i)
		}
	}
}

// TestDynamicNamespaces: the rules of a pattern parent apply to each of
// its children, each child is its own presence scope, and a child that
// exists only on other nodes is still listed through this node.
func TestDynamicNamespaces(t *testing.T) {
	a, b := cluster(t, presence.Config{DisableGrace: true})
	ctx := context.Background()
	alice := dialNS(t, a, "/tenant-1", user("alice"))
	alice.waitEvent(presence.EventJoin, isEvent("", "alice"))
	bob := dialNS(t, b, "/tenant-1", user("bob"))
	alice.waitEvent(presence.EventJoin, isEvent("", "bob"))
	alice.join("doc:1")
	bob.join("doc:1")
	alice.waitEvent(presence.EventJoin, isEvent("doc:1", "bob"))

	got := decode[listAck](t, alice.call(EventList, map[string]any{"room": "doc:1"}))
	if !got.Success || len(got.Members) != 2 || got.Members[0].ID != "alice" || got.Members[1].ID != "bob" {
		t.Fatalf("presence:list in /tenant-1: %+v", got)
	}
	// Rooms outside the pattern's rules are not tracked.
	bob.join("chat:1")
	noMatch(t, alice, presence.EventJoin, isEvent("chat:1", "bob"), 50*time.Millisecond)

	// Another tenant is another scope: same room name, no crosstalk.
	carol := dialNS(t, b, "/tenant-2", user("carol"))
	carol.join("doc:1")
	carol.waitEvent(presence.EventJoin, isEvent("doc:1", "carol"))
	noMatch(t, alice, presence.EventJoin, isEvent("doc:1", "carol"), 50*time.Millisecond)
	if n, err := a.on.Count(ctx, "/tenant-1", "doc:1"); err != nil || n != 2 {
		t.Fatalf("count /tenant-1 doc:1 = %d, %v", n, err)
	}

	// /tenant-2 has no socket on node a: the embedder API still answers.
	if a.srv.Lookup("/tenant-2") != nil {
		t.Fatal("node a has /tenant-2")
	}
	members, _, err := a.on.List(ctx, "/tenant-2", "doc:1", "", 0)
	if err != nil || len(members) != 1 || members[0].UserID != "carol" {
		t.Fatalf("List /tenant-2 on node a: %v, %v", members, err)
	}
	if _, err := a.on.Count(ctx, "/other-1", ""); !errors.Is(err, ErrUnknownNamespace) {
		t.Fatalf("Count of an unknown namespace: %v", err)
	}

	// Disconnect: the leave reaches the tenant's sockets on the other node.
	bob.close()
	alice.waitEvent(presence.EventLeave, isEvent("doc:1", "bob"))
	alice.waitEvent(presence.EventLeave, isEvent("", "bob"))
}
