package node

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/ionbus/ionbus/broker/access"
	"github.com/ionbus/ionbus/presence"
)

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		err  bool
	}{
		{"25s", 25 * time.Second, false},
		{"1m30s", 90 * time.Second, false},
		{"300ms", 300 * time.Millisecond, false},
		{"25000", 25 * time.Second, false},
		{" 200 ", 200 * time.Millisecond, false},
		{"0", 0, false},
		{"0s", 0, false},
		{"", 0, true},
		{"-5", 0, true},
		{"-5s", 0, true},
		{"25", 25 * time.Millisecond, false},
		{"2.5", 0, true},
		{"ten seconds", 0, true},
	}
	for _, tc := range tests {
		got, err := ParseDuration(tc.in)
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v, err %v", tc.in, got, err, tc.want, tc.err)
		}
	}
}

func TestNamespacePattern(t *testing.T) {
	tests := []struct {
		name    string
		pattern bool
		match   []string
		noMatch []string
	}{
		{"/admin", false, nil, nil},
		{"/tenant-*", true, []string{"/tenant-1", "/tenant-acme"}, []string{"/tenant-", "/tenant-a/b", "/x/tenant-1", "/tenant"}},
		{"/org.*/room", true, []string{"/org.x/room"}, []string{"/orgAx/room", "/org.x/roomy"}},
	}
	for _, tc := range tests {
		re, ok := namespacePattern(tc.name)
		if ok != tc.pattern {
			t.Fatalf("%s: pattern %v", tc.name, ok)
		}
		for _, m := range tc.match {
			if !re.MatchString(m) {
				t.Errorf("%s should match %s", tc.name, m)
			}
		}
		for _, m := range tc.noMatch {
			if re.MatchString(m) {
				t.Errorf("%s should not match %s", tc.name, m)
			}
		}
	}
}

func TestMapConfig(t *testing.T) {
	c := Default()
	c.Path = "/rt/"
	c.Engine = EngineConfig{PingInterval: Duration(time.Second), PingTimeout: Duration(2 * time.Second), MaxPayload: 10,
		Transports: []string{"websocket"}, MaxQueueBytes: 20, ConnectTimeout: Duration(3 * time.Second)}
	c.CORS = CORSConfig{Origins: []string{"http://a"}, Credentials: true}
	c.Recovery = RecoveryConfig{MaxDisconnection: Duration(time.Minute), SkipMiddlewares: true}
	c.API = APIConfig{Key: "k", Insecure: true}
	c.Redis.RequestTimeout = Duration(4 * time.Second)
	log := zerolog.Nop()
	comp, err := mapConfig(c, &log)
	if err != nil {
		t.Fatal(err)
	}
	b, e := comp.Broker, comp.Broker.Engine
	if e.Path != "/rt/" || e.PingInterval != time.Second || e.PingTimeout != 2*time.Second || e.MaxPayload != 10 ||
		!reflect.DeepEqual(e.Transports, []string{"websocket"}) || e.MaxQueueBytes != 20 ||
		!reflect.DeepEqual(e.CORS.Origins, []string{"http://a"}) || !e.CORS.Credentials || e.Logger != &log {
		t.Errorf("engine %+v", e)
	}
	if b.ConnectTimeout != 3*time.Second || b.RequestTimeout != 4*time.Second || b.Recovery.MaxDisconnection != time.Minute ||
		!b.Recovery.SkipMiddlewares || b.Adapter != nil || b.Logger != &log || b.NodeID == "" || b.NodeID != comp.NodeID {
		t.Errorf("broker %+v", b)
	}
	if comp.API.Key != "k" || !comp.API.Insecure || comp.API.Logger != &log {
		t.Errorf("api %+v", comp.API)
	}
	// Slices are copied: the package configs do not alias the app config.
	c.Engine.Transports[0] = "polling"
	if e.Transports[0] != "websocket" {
		t.Error("engine transports alias the app config")
	}
	if e.CORS.Refused == nil || comp.Guard == nil || comp.Limiter == nil || comp.Redis != nil || comp.Slots != nil || comp.Store != nil {
		t.Errorf("single node: %+v", comp)
	}
}

// TestMapConfigCluster checks the package configs built for the new keys.
func TestMapConfigCluster(t *testing.T) {
	c := Default()
	c.NodeID = "n1"
	c.Redis = RedisConfig{URL: "redis://127.0.0.1:1/2", Mode: "room", Key: "k", RequestTimeout: Duration(3 * time.Second), MaxBackoff: Duration(time.Second)}
	c.Auth.JWT.Secret = strings.Repeat("s", 32)
	c.Auth.JWT.Cookie = ""
	c.Limits.MaxConnectionsPerIP = 0 // off
	c.Limits.TrustedProxies = []string{"10.1.2.3/8", "192.0.2.7"}
	c.Limits.ProxyHeader = "forwarded"
	c.Presence.Grace = 0
	c.Namespaces = []NamespaceConfig{
		{Name: "/", Access: "role:a,role:b", AutoJoin: []string{"user:{user}"}, Rooms: RoomsConfig{Allow: []string{"x:*"}}, CSRF: true,
			CompatEvents: true, RedirectURL: "https://r", Presence: NamespacePresence{Rooms: []string{"x:*"}, Visible: []string{"v"}}},
		{Name: "/plain"},
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	log := zerolog.Nop()
	comp, err := mapConfig(c, &log)
	if err != nil {
		t.Fatal(err)
	}
	defer comp.Redis.Close()
	if comp.NodeID != "n1" || comp.Broker.NodeID != "n1" || comp.Adapter == nil || comp.Adapter.ID() != "n1" ||
		comp.Adapter.Key() != "k" || comp.Broker.Adapter == nil || comp.Slots == nil || comp.Slots.NodeID() != "n1" {
		t.Fatalf("cluster wiring %+v", comp)
	}
	if opt := comp.Redis.(*redis.Client).Options(); opt.Addr != "127.0.0.1:1" || opt.DB != 2 {
		t.Fatalf("redis options %+v", opt)
	}
	lc := comp.Limiter.Config()
	if lc.KeyPrefix != "ionbus:k:limits" || pcPrefix(comp) != "ionbus:k:presence" {
		t.Fatalf("key prefixes %q %q", lc.KeyPrefix, pcPrefix(comp))
	}
	if !lc.DisableConnectionsPerIP || lc.DisableConnectionsPerUser || lc.MaxConnectionsPerUser != 10 || lc.NodeID != "n1" ||
		lc.NodeTTL != 30*time.Second || lc.ProxyHeader != "Forwarded" ||
		!reflect.DeepEqual(lc.TrustedProxies, []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.0.2.7/32")}) {
		t.Fatalf("limits %+v", lc)
	}
	r := comp.Rules["/"]
	if r.Access.Level != access.RoleRequired || !reflect.DeepEqual(r.Access.Roles, []string{"a", "b"}) ||
		!reflect.DeepEqual(r.AutoJoin, []string{"user:{user}"}) || !reflect.DeepEqual(r.RoomsAllow, []string{"x:*"}) ||
		!r.RequireCSRF || !r.CompatEvents || r.RedirectURL != "https://r" {
		t.Fatalf("rules %+v", r)
	}
	if comp.Rules["/plain"].Access.Level != access.Public {
		t.Fatalf("plain rules %+v", comp.Rules["/plain"])
	}
	pc := comp.Online.Presence
	if _, ok := comp.Store.(*presence.Redis); !ok || pc.NodeID != "n1" || !pc.DisableGrace || pc.NodeTTL != 30*time.Second ||
		pc.MaxMetaBytes != 1024 || pc.PageSize != 100 || pc.MaxPageSize != 1000 || len(comp.Online.Namespaces) != 1 ||
		!reflect.DeepEqual(comp.Online.Namespaces["/"].Track.Rooms, []string{"x:*"}) || comp.Online.Namespaces["/"].Track.Namespace ||
		!reflect.DeepEqual(comp.Online.Namespaces["/"].Visible, []string{"v"}) || comp.Online.Identify == nil {
		t.Fatalf("presence %+v / %T", comp.Online, comp.Store)
	}
	ac := authConfig(c.Auth.JWT)
	if string(ac.Secret) != c.Auth.JWT.Secret || !ac.DisableCookie || ac.UserClaim != "sub" || ac.Leeway != 30*time.Second || ac.DisableLeeway {
		t.Fatalf("auth %+v", ac)
	}

	// Redis Cluster: cluster_addrs win, the URL lends its password.
	c.Redis.URL = "redis://:pw@ignored:6379"
	c.Redis.ClusterAddrs = []string{"127.0.0.1:1", "127.0.0.1:2"}
	c.Redis.Mode = "sharded"
	comp2, err := mapConfig(c, &log)
	if err != nil {
		t.Fatal(err)
	}
	defer comp2.Redis.Close()
	cc, ok := comp2.Redis.(*redis.ClusterClient)
	if !ok || !reflect.DeepEqual(cc.Options().Addrs, []string{"127.0.0.1:1", "127.0.0.1:2"}) || cc.Options().Password != "pw" {
		t.Fatalf("cluster client %T", comp2.Redis)
	}
	// A random node id is shared by every component.
	c.NodeID = ""
	comp3, err := mapConfig(c, &log)
	if err != nil {
		t.Fatal(err)
	}
	defer comp3.Redis.Close()
	if len(comp3.NodeID) != 12 || comp3.Adapter.ID() != comp3.NodeID || comp3.Slots.NodeID() != comp3.NodeID ||
		comp3.Online.Presence.NodeID != comp3.NodeID {
		t.Fatalf("random node id %q", comp3.NodeID)
	}
}

func pcPrefix(comp components) string { return comp.Online.Presence.KeyPrefix }
