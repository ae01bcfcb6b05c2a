package access

import (
	"reflect"
	"testing"

	"github.com/ionbus/ionbus/broker/auth"
	"github.com/ionbus/ionbus/connection"
)

func TestParseAccess(t *testing.T) {
	cases := []struct {
		in   string
		want Access
		bad  bool
	}{
		{"", Access{Level: Public}, false},
		{"public", Access{Level: Public}, false},
		{"authenticated", Access{Level: Authenticated}, false},
		{"role:admin", Access{Level: RoleRequired, Roles: []string{"admin"}}, false},
		{"role:admin, role:ops", Access{Level: RoleRequired, Roles: []string{"admin", "ops"}}, false},
		{"admin", Access{}, true},
		{"role:", Access{}, true},
		{"role:a,ops", Access{}, true},
	}
	for _, tc := range cases {
		got, err := ParseAccess(tc.in)
		if (err != nil) != tc.bad {
			t.Fatalf("%q: err %v", tc.in, err)
		}
		if !tc.bad && !reflect.DeepEqual(got, tc.want) {
			t.Fatalf("%q: got %+v want %+v", tc.in, got, tc.want)
		}
		if !tc.bad {
			back, _ := ParseAccess(got.String())
			if !reflect.DeepEqual(back, got) {
				t.Fatalf("%q does not round-trip through String: %q", tc.in, got.String())
			}
		}
	}
}

func TestGlob(t *testing.T) {
	cases := []struct {
		p, s string
		want bool
	}{
		{"chat:*", "chat:general", true},
		{"chat:*", "chat:", true},
		{"chat:*", "chats:x", false},
		{"*", "", true},
		{"a*b*c", "axxbyyc", true},
		{"a*b*c", "axxbyy", false},
		{"user_42_*", "user_42_inbox", true},
		{"user_42_*", "user_43_inbox", false},
		{"exact", "exact", true},
		{"exact", "exactly", false},
		{"*:*:x", "a:b:x", true},
	}
	for _, tc := range cases {
		if got := glob(tc.p, tc.s); got != tc.want {
			t.Fatalf("glob(%q, %q) = %v", tc.p, tc.s, got)
		}
	}
}

func TestExpandTemplatesAndRoomAllowed(t *testing.T) {
	id := &auth.Identity{UserID: "42", Roles: []string{"admin", "ops"}}
	got := expandTemplates([]string{"user:{user}", "role:{role}", "lobby", "user_{user}_*"}, id)
	want := []string{"user:42", "role:admin", "role:ops", "lobby", "user_42_*"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v want %v", got, want)
	}
	if got := expandTemplates([]string{"user:{user}", "lobby"}, nil); !reflect.DeepEqual(got, []string{"lobby"}) {
		t.Fatalf("anonymous: %v", got)
	}
	allow := []string{"chat:*", "user_{user}_*"}
	for room, ok := range map[string]bool{"chat:x": true, "user_42_files": true, "user_7_files": false, "admin": false} {
		if roomAllowed(allow, room, id) != ok {
			t.Fatalf("room %q: want %v", room, ok)
		}
	}
}

// OriginRefused builds the documented answer and counts it; the engine
// decides when (connection.TestOriginRefusedHook, and node's
// TestForeignOrigin through a running node).
func TestOriginRefused(t *testing.T) {
	g, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		e := g.OriginRefused("https://evil.example")
		if e.Status != 403 || e.Code != connection.ErrForbidden.Code || e.Message != "Forbidden" ||
			e.Context["code"] != CodeOriginNotAllowed || e.Context["origin"] != "https://evil.example" {
			t.Fatalf("%#v", e)
		}
	}
	if st := g.Stats(); st.Refused[CodeOriginNotAllowed] != 2 {
		t.Fatalf("stats %+v", st)
	}
}

func TestValidRoomName(t *testing.T) {
	long := make([]byte, 1001)
	for i := range long {
		long[i] = 'a'
	}
	for name, ok := range map[string]bool{"a": true, "": false, string(long): false, string(long[:1000]): true, "bad\xff": false} {
		if validRoomName(name) != ok {
			t.Fatalf("%q: want %v", name, ok)
		}
	}
}
