package limits

import (
	"context"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"
)

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }

func TestClientIP(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")}
	hdr := func(kv ...string) http.Header {
		h := http.Header{}
		for i := 0; i < len(kv); i += 2 {
			h.Add(kv[i], kv[i+1])
		}
		return h
	}
	tests := []struct {
		name   string
		remote string
		header http.Header
		want   string // "" = invalid
	}{
		{"direct peer", "203.0.113.5:4000", nil, "203.0.113.5"},
		{"untrusted peer, XFF ignored", "203.0.113.5:4000", hdr("X-Forwarded-For", "1.1.1.1"), "203.0.113.5"},
		{"trusted peer, one hop", "10.0.0.2:80", hdr("X-Forwarded-For", "198.51.100.9"), "198.51.100.9"},
		{"client spoofs left entries", "10.0.0.2:80", hdr("X-Forwarded-For", "6.6.6.6, 198.51.100.9"), "198.51.100.9"},
		{"two trusted hops", "10.0.0.2:80", hdr("X-Forwarded-For", "198.51.100.9, 10.1.1.1"), "198.51.100.9"},
		{"multiple XFF lines", "10.0.0.2:80", hdr("X-Forwarded-For", "6.6.6.6", "X-Forwarded-For", "198.51.100.9, 10.1.1.1"), "198.51.100.9"},
		{"all trusted: leftmost", "10.0.0.2:80", hdr("X-Forwarded-For", "10.9.9.9, 10.1.1.1"), "10.9.9.9"},
		{"garbage hop stops the walk", "10.0.0.2:80", hdr("X-Forwarded-For", "198.51.100.9, junk, 10.1.1.1"), "10.1.1.1"},
		{"garbage rightmost: the peer", "10.0.0.2:80", hdr("X-Forwarded-For", "198.51.100.9, junk"), "10.0.0.2"},
		{"trusted peer, no header", "10.0.0.2:80", nil, "10.0.0.2"},
		{"hop with port", "10.0.0.2:80", hdr("X-Forwarded-For", "198.51.100.9:5555"), "198.51.100.9"},
		{"IPv6 peer", "[2001:db8::1]:443", nil, "2001:db8::1"},
		{"IPv6 hop via trusted IPv6 proxy", "[fd00::1]:443", hdr("X-Forwarded-For", "2001:db8::7"), "2001:db8::7"},
		{"IPv4-mapped peer unmapped", "[::ffff:203.0.113.5]:80", nil, "203.0.113.5"},
		{"zone dropped", "[fe80::1%eth0]:80", nil, "fe80::1"},
		{"bare remote address", "203.0.113.5", nil, "203.0.113.5"},
		{"unparsable remote", "nonsense", nil, ""},
		{"Forwarded when no XFF", "10.0.0.2:80", hdr("Forwarded", `for=6.6.6.6, for="[2001:db8::7]:4711";proto=https`), "2001:db8::7"},
		{"Forwarded obfuscated hop", "10.0.0.2:80", hdr("Forwarded", "for=198.51.100.9, for=_hidden"), "10.0.0.2"},
		{"XFF preferred over Forwarded", "10.0.0.2:80", hdr("X-Forwarded-For", "198.51.100.9", "Forwarded", "for=6.6.6.6"), "198.51.100.9"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ClientIP(tt.remote, tt.header, trusted)
			if tt.want == "" {
				if got.IsValid() {
					t.Fatalf("got %v, want invalid", got)
				}
				return
			}
			if got != mustAddr(tt.want) {
				t.Fatalf("got %v, want %s", got, tt.want)
			}
		})
	}
	// A pinned header ignores the other one.
	l, err := New(Config{TrustedProxies: trusted, ProxyHeader: "Forwarded"}, NewMemorySlots(), NewMemoryRate(nil))
	if err != nil {
		t.Fatal(err)
	}
	if got := l.ClientIP("10.0.0.2:80", hdr("X-Forwarded-For", "6.6.6.6", "Forwarded", "for=198.51.100.9")); got != mustAddr("198.51.100.9") {
		t.Fatalf("pinned Forwarded: got %v", got)
	}
}

func TestIPKey(t *testing.T) {
	tests := []struct {
		addr string
		bits int
		want string
	}{
		{"203.0.113.5", 64, "203.0.113.5"},
		{"::ffff:203.0.113.5", 64, "203.0.113.5"},
		{"2001:db8:1:2:3:4:5:6", 64, "2001:db8:1:2::/64"},
		{"2001:db8:1:2:3:4:5:6", 128, "2001:db8:1:2:3:4:5:6"},
		{"2001:db8:1:2:3:4:5:6", 48, "2001:db8:1::/48"},
	}
	for _, tt := range tests {
		if got := ipKey(mustAddr(tt.addr), tt.bits); got != tt.want {
			t.Errorf("ipKey(%s, %d) = %s, want %s", tt.addr, tt.bits, got, tt.want)
		}
	}
}

// TestRedisKeyNames pins the Redis layout: changing it strands the slots
// of nodes running the previous version during a rolling deploy.
func TestRedisKeyNames(t *testing.T) {
	n := newRedisNames("ionbus:limits")
	got := []string{n.slots("user:42"), n.nodePrefix() + "n1", n.nodeSlotsPrefix() + "n1", n.nodes(), n.rate("msg:42"), n.window("msg:42"), UserSlotKey("42"), IPSlotKey("1.2.3.4"), connectRateKey("1.2.3.4"), messageRateKey("42")}
	want := []string{
		"{ionbus:limits}:slots:user:42",
		"{ionbus:limits}:node:n1",
		"{ionbus:limits}:nodeslots:n1",
		"{ionbus:limits}:nodes",
		"ionbus:limits:rate:msg:42",
		"ionbus:limits:window:msg:42",
		"user:42",
		"ip:1.2.3.4",
		"connect:ip:1.2.3.4",
		"msg:42",
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("name %d = %q, want %q", i, got[i], want[i])
		}
	}
}

func TestConfigDefaults(t *testing.T) {
	c := Config{}.withDefaults()
	if c.MaxConnectionsPerUser != 10 || c.MaxConnectionsPerIP != 100 || c.ConnectAttemptsPerIP != 100 ||
		c.ConnectAttemptsWindow != time.Hour || c.MessagesPerUser != 100 || c.MessagesWindow != time.Minute ||
		c.MaxMessageBytes != 10<<10 || c.MaxRoomsPerSocket != 50 || c.NodeTTL != 30*time.Second ||
		c.IPv6PrefixBits != 64 || c.KeyPrefix != "ionbus:limits" || c.NodeID == "" || c.Now == nil {
		t.Fatalf("defaults: %+v", c)
	}
	if err := c.validate(); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []Config{
		{MaxConnectionsPerUser: -1},
		{MessagesWindow: -time.Second},
		{NodeTTL: time.Millisecond},
		{IPv6PrefixBits: 129},
		{ProxyHeader: "X-Real-IP"},
		{NodeID: "a\nb"},
		{KeyPrefix: "{x}"},
		{TrustedProxies: []netip.Prefix{{}}},
	} {
		if _, err := New(bad, NewMemorySlots(), NewMemoryRate(nil)); err == nil {
			t.Errorf("New accepted %+v", bad)
		}
	}
	if _, err := New(Config{}, nil, NewMemoryRate(nil)); err == nil {
		t.Error("New accepted nil Slots with connection limits on")
	}
	if _, err := New(Config{DisableConnectionsPerIP: true, DisableConnectionsPerUser: true, DisableConnectAttempts: true, DisableMessageRate: true}, nil, nil); err != nil {
		t.Errorf("everything disabled: %v", err)
	}
}

func TestReasonStrings(t *testing.T) {
	want := []string{"none", "user_connections", "ip_connections", "connect_rate", "message_rate", "message_size", "rooms"}
	for i, w := range want {
		if got := Reason(i).String(); got != w {
			t.Errorf("Reason(%d) = %q, want %q", i, got, w)
		}
	}
	if reasonCount != len(want) {
		t.Fatal("reasonCount out of date")
	}
}

func TestLuaHeadersDescribeKeysAndArgv(t *testing.T) {
	for name, src := range map[string]string{
		"slots_acquire": slotsAcquireLua, "slots_release": slotsReleaseLua,
		"slots_heartbeat": slotsHeartbeatLua, "slots_sweep": slotsSweepLua, "rate_gcra": rateGCRALua,
		"rate_window":   rateWindowLua,
		"slots_restore": slotsRestoreLua,
	} {
		if !strings.HasPrefix(src, "-- "+name+".lua") || !strings.Contains(src, "KEYS[1]") || !strings.Contains(src, "ARGV[1]") {
			t.Errorf("%s.lua header must name the script and describe KEYS/ARGV", name)
		}
	}
}

// TestMemoryRateBounded: keys are forgotten once replenished.
func TestMemoryRateBounded(t *testing.T) {
	clock := newFakeClock()
	r := NewMemoryRate(clock.Now)
	ctx := context.Background()
	for i := range 10000 {
		if _, err := r.Allow(ctx, "ip:"+string(rune('a'+i%26))+strings.Repeat("x", i%100)+"-"+time.Duration(i).String(), 100, time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	if r.Len() != 10000 {
		t.Fatalf("Len = %d", r.Len())
	}
	clock.Advance(2 * time.Minute)
	// Touch every shard so each sweeps.
	for i := range 2000 {
		_, _ = r.Allow(ctx, "probe"+time.Duration(i).String(), 100, time.Minute)
	}
	if n := r.Len(); n > 2000 {
		t.Fatalf("Len = %d after every key replenished; idle keys were kept", n)
	}
}

// TestMemoryWindowRateBounded: keys are forgotten once their newest
// bucket has left the window.
func TestMemoryWindowRateBounded(t *testing.T) {
	clock := newFakeClock()
	r := NewMemoryWindowRate(clock.Now)
	ctx := context.Background()
	for i := range 10000 {
		if _, err := r.Allow(ctx, "ip:"+strconv.Itoa(i), 100, time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	if r.Len() != 10000 {
		t.Fatalf("Len = %d", r.Len())
	}
	clock.Advance(time.Minute + time.Second) // one window plus one bucket
	for i := range 2000 {
		_, _ = r.Allow(ctx, "probe"+strconv.Itoa(i), 100, time.Minute)
	}
	if n := r.Len(); n > 2000 {
		t.Fatalf("Len = %d after every key left its window; idle keys were kept", n)
	}
}

// TestWindowSpan pins the bucket arithmetic both backends share.
func TestWindowSpan(t *testing.T) {
	for _, tc := range []struct {
		window         time.Duration
		windowUS, bkUS int64
	}{
		{time.Minute, 60_000_000, 1_000_000},
		{time.Hour, 3_600_000_000, 60_000_000},
		{10 * time.Second, 10_000_000, 166_666},
		{50 * time.Millisecond, 50_000, 1_000}, // at least 1 ms
		{1500 * time.Nanosecond, 2, 1_000},     // rounded up to whole µs
	} {
		w, b := windowSpan(tc.window)
		if w != tc.windowUS || b != tc.bkUS {
			t.Errorf("windowSpan(%v) = %d, %d µs; want %d, %d", tc.window, w, b, tc.windowUS, tc.bkUS)
		}
	}
}

// TestMemorySlotsForgetEmptyKeys: released keys do not stay in memory.
func TestMemorySlotsForgetEmptyKeys(t *testing.T) {
	s := NewMemorySlots()
	ctx := context.Background()
	for i := range 100 {
		k := []SlotKey{{Key: "ip:" + time.Duration(i).String(), Limit: 1}}
		if _, err := s.Acquire(ctx, k, "s"); err != nil {
			t.Fatal(err)
		}
		if err := s.Release(ctx, k, "s"); err != nil {
			t.Fatal(err)
		}
	}
	s.mu.Lock()
	n := len(s.held)
	s.mu.Unlock()
	if n != 0 {
		t.Fatalf("%d empty keys kept", n)
	}
}

type failingBackend struct{}

func (failingBackend) Acquire(context.Context, []SlotKey, string) (Decision, error) {
	return Decision{}, errBackend
}
func (failingBackend) Release(context.Context, []SlotKey, string) error { return errBackend }
func (failingBackend) Allow(context.Context, string, int, time.Duration) (Decision, error) {
	return Decision{}, errBackend
}

func TestLimiterBackendFailure(t *testing.T) {
	ctx := context.Background()
	ip := mustAddr("192.0.2.1")
	for _, failClosed := range []bool{false, true} {
		l, err := New(Config{FailClosed: failClosed}, failingBackend{}, failingBackend{})
		if err != nil {
			t.Fatal(err)
		}
		d1, err1 := l.AcquireConnection(ctx, "u", ip, "s")
		d2, err2 := l.AllowConnectAttempt(ctx, ip)
		d3, err3 := l.AllowMessage(ctx, "u", 1)
		for i, d := range []Decision{d1, d2, d3} {
			if d.Allowed == failClosed {
				t.Errorf("FailClosed=%v check %d: Allowed=%v", failClosed, i, d.Allowed)
			}
		}
		for _, err := range []error{err1, err2, err3} {
			if err != errBackend && !strings.Contains(err.Error(), errBackend.Error()) {
				t.Errorf("err = %v", err)
			}
		}
		if st := l.Stats(); st.BackendErrors != 3 {
			t.Errorf("BackendErrors = %d", st.BackendErrors)
		}
	}
}

func TestLimiterAnonymousAndDisabled(t *testing.T) {
	ctx := context.Background()
	l, err := New(Config{MaxConnectionsPerIP: 1, DisableMessageSize: true, DisableRoomLimit: true}, NewMemorySlots(), NewMemoryRate(nil))
	if err != nil {
		t.Fatal(err)
	}
	ip := mustAddr("2001:db8::1")
	if d, _ := l.AcquireConnection(ctx, "", ip, "s1"); !d.Allowed {
		t.Fatal("anonymous refused")
	}
	// Same /64: counted as the same client.
	if d, _ := l.AcquireConnection(ctx, "", mustAddr("2001:db8::2"), "s2"); d.Allowed || d.Reason != ReasonIPConnections {
		t.Fatalf("same /64 not grouped: %+v", d)
	}
	if d, _ := l.AllowMessage(ctx, "u", 1<<30); !d.Allowed {
		t.Fatal("size check not disabled")
	}
	if d := l.AllowJoin(1 << 20); !d.Allowed {
		t.Fatal("room limit not disabled")
	}
	if d, _ := l.AcquireConnection(ctx, "", netip.Addr{}, "s3"); !d.Allowed {
		t.Fatal("no keys must allow")
	}
}

func FuzzClientIP(f *testing.F) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	f.Add("10.0.0.1:80", "1.2.3.4, 10.0.0.2", `for="[::1]:80", for=_x`)
	f.Add("[::1]:1", "", "")
	f.Add("garbage", ",,,", ";;;=")
	f.Fuzz(func(t *testing.T, remote, xff, fwd string) {
		h := http.Header{}
		if xff != "" {
			h.Set("X-Forwarded-For", xff)
		}
		if fwd != "" {
			h.Set("Forwarded", fwd)
		}
		got := ClientIP(remote, h, trusted)
		peer, ok := parseHop(remote)
		if !ok {
			if got.IsValid() {
				t.Fatalf("invalid remote gave %v", got)
			}
			return
		}
		if !isTrusted(peer, trusted) && got != peer {
			t.Fatalf("untrusted peer %v, got %v: headers were believed", peer, got)
		}
		if !got.IsValid() {
			t.Fatal("valid remote gave invalid address")
		}
	})
}
