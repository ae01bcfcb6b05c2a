package presence

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestRulesMatch(t *testing.T) {
	r := Rules{Namespace: true, Rooms: []string{"chat:*", "user_{user}_*", "lobby", "a*b*c"}}
	for _, tc := range []struct {
		room, user string
		want       bool
	}{
		{"", "u", true},
		{"chat:1", "u", true},
		{"chat:", "u", true},
		{"chat", "u", false},
		{"user_u1_inbox", "u1", true},
		{"user_u1_inbox", "u2", false},
		{"user_u1_", "u1", true},
		{"user_u*_x", "u1", false}, // template is literal
		{"user_*_x", "*", true},
		{"lobby", "u", true},
		{"lobby2", "u", false},
		{"abc", "u", true},
		{"aXbYc", "u", true},
		{"acb", "u", false},
		{"abcb", "u", false},
	} {
		if got := r.Match(tc.room, tc.user); got != tc.want {
			t.Errorf("Match(%q, %q) = %v, want %v", tc.room, tc.user, got, tc.want)
		}
	}
	if (Rules{}).Match("", "u") || (Rules{}).Match("x", "u") {
		t.Error("zero Rules must match nothing")
	}
}

// TestKeyNames pins the Redis key layout (a wire format shared by every node
// of a cluster) and checks Lua builds the same names as Go.
func TestKeyNames(t *testing.T) {
	base := keyBase("ionbus:presence")
	for got, want := range map[string]string{
		roomKey(base, "m", "/chat", "r:1"): "{ionbus:presence}:m:5:/chat:r:1",
		roomKey(base, "h", "/", ""):        "{ionbus:presence}:h:1:/:",
		heartbeatKey(base, "node-a"):       "{ionbus:presence}:hb:node-a",
		nodeConnsKey(base, "node-a"):       "{ionbus:presence}:conns:node-a",
		nodesKey(base):                     "{ionbus:presence}:nodes",
	} {
		if got != want {
			t.Errorf("key %q, want %q", got, want)
		}
	}
	h := miniredisHarness(t)
	s := h.newStore(t, h.config("node-a")).(*Redis)
	mustJoin(t, s, Entry{Namespace: "/chat", Room: "r:1", UserID: "u", ConnID: "c"})
	b := s.keys[0]
	keys, err := h.client.Keys(t.Context(), b+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{roomKey(b, "m", "/chat", "r:1"): true, roomKey(b, "h", "/chat", "r:1"): true,
		heartbeatKey(b, "node-a"): true, nodeConnsKey(b, "node-a"): true, nodesKey(b): true}
	if len(keys) != len(want) {
		t.Fatalf("keys %v, want %v", keys, want)
	}
	for _, k := range keys {
		if !want[k] {
			t.Fatalf("unexpected key %q (have %v)", k, keys)
		}
	}
	mustLeave(t, s, Ref{Namespace: "/chat", Room: "r:1", UserID: "u", ConnID: "c"})
	if n, _ := h.client.Exists(t.Context(), roomKey(b, "m", "/chat", "r:1"), roomKey(b, "h", "/chat", "r:1")).Result(); n != 0 {
		t.Fatalf("empty room left %d keys behind", n)
	}
}

func TestEventJSON(t *testing.T) {
	ts := time.Date(2025, 11, 25, 1, 0, 0, 123456789, time.UTC)
	e := Event{Type: EventJoin, Namespace: "/chat", Room: "chat:1", User: User{ID: "u1", Name: "Ann", Meta: json.RawMessage(`{"a":1}`)}, Connections: 2, Timestamp: ts}
	b, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"room":"chat:1","user":{"id":"u1","name":"Ann","meta":{"a":1}},"connections":2,"timestamp":"2025-11-25T01:00:00.123Z"}`
	if string(b) != want {
		t.Fatalf("got  %s\nwant %s", b, want)
	}
	e.User.Meta = nil
	b, _ = json.Marshal(e)
	if !strings.Contains(string(b), `"meta":null`) {
		t.Fatalf("nil meta: %s", b)
	}
}

func TestConfig(t *testing.T) {
	c := Config{NodeID: "n"}.withDefaults()
	if err := c.validate(); err != nil {
		t.Fatal(err)
	}
	if c.NodeTTL != 30*time.Second || c.SweepInterval != 10*time.Second || c.HeartbeatInterval != 5*time.Second ||
		c.Grace != 5*time.Second || c.MaxMetaBytes != 1024 || c.KeyPrefix != "ionbus:presence" || c.liveTTL() != 20*time.Second {
		t.Fatalf("defaults: %+v", c)
	}
	for name, bad := range map[string]Config{
		"no node":         {},
		"sweep >= ttl":    {NodeID: "n", NodeTTL: time.Second, SweepInterval: time.Second},
		"heartbeat slow":  {NodeID: "n", NodeTTL: 3 * time.Second, SweepInterval: time.Second, HeartbeatInterval: 1500 * time.Millisecond},
		"negative grace":  {NodeID: "n", Grace: -1},
		"page > max page": {NodeID: "n", PageSize: 10, MaxPageSize: 5},
	} {
		if err := bad.withDefaults().validate(); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if _, err := NewMemory(Config{}); err == nil {
		t.Error("NewMemory without NodeID")
	}
	if _, err := NewRedis(nil, Config{NodeID: "n"}); err == nil {
		t.Error("NewRedis without client")
	}
}

func TestTrackedPatterns(t *testing.T) {
	st, err := NewMemory(Config{NodeID: "n"})
	if err != nil {
		t.Fatal(err)
	}
	tr, err := NewTracker(st, Config{
		NodeID: "n",
		Rules:  map[string]Rules{"/": {Namespace: true}, "/tenant-admin": {}},
		Patterns: []PatternRules{
			{Namespace: regexp.MustCompile(`^/tenant-.+$`), Rules: Rules{Namespace: true, Rooms: []string{"doc:*"}}},
			{Namespace: regexp.MustCompile(`^/t.*$`), Rules: Rules{Rooms: []string{"*"}}},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		ns, room string
		want     bool
	}{
		{"/", NamespaceRoom, true},
		{"/", "doc:1", false},
		{"/tenant-7", NamespaceRoom, true}, // first matching pattern
		{"/tenant-7", "doc:1", true},
		{"/tenant-7", "chat", false},      // not the second pattern's "*"
		{"/tenant-admin", "doc:1", false}, // an exact entry wins over patterns
		{"/team", "chat", true},
		{"/other", "doc:1", false},
	} {
		if got := tr.Tracked(tc.ns, tc.room, "u"); got != tc.want {
			t.Errorf("Tracked(%q, %q) = %v, want %v", tc.ns, tc.room, got, tc.want)
		}
	}
	if _, err := NewTracker(st, Config{NodeID: "n", Patterns: []PatternRules{{}}}); err == nil {
		t.Error("a pattern without a regexp was accepted")
	}
}
