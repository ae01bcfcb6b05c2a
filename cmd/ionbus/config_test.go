package main

import (
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ionbus/ionbus/node"
)

func writeFile(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ionbus.yaml")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func envMap(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestDurationYAML(t *testing.T) {
	path := writeFile(t, "engine:\n  ping_interval: 1500\n  ping_timeout: \"2s\"\n  connect_timeout: 3m\n")
	c, err := loadConfig([]string{"--config", path}, envMap(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.Engine.PingInterval.D() != 1500*time.Millisecond || c.Engine.PingTimeout.D() != 2*time.Second || c.Engine.ConnectTimeout.D() != 3*time.Minute {
		t.Fatalf("durations %+v", c.Engine)
	}
	for _, bad := range []string{"engine:\n  ping_interval: [1]\n", "engine:\n  ping_interval: soon\n", "recovery:\n  max_disconnection: -1\n"} {
		if _, err := loadConfig([]string{"--config", writeFile(t, bad)}, envMap(nil), io.Discard); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

// TestPrecedence checks defaults < file < env < flags, key by key.
func TestPrecedence(t *testing.T) {
	file := writeFile(t, `
listen: ":5000"
path: "/rt/"
engine: {ping_interval: 10s, ping_timeout: 5s, max_payload: 2000, transports: [websocket], max_queue_bytes: 4096, connect_timeout: 7s}
cors: {origins: ["http://file.example"], credentials: true}
namespaces: [{name: "/"}, {name: "/admin"}, {name: "/tenant-*"}]
recovery: {max_disconnection: 2m, skip_middlewares: false}
api: {listen: "127.0.0.1:5001", key: "file-key"}
redis: {mode: sharded, key: "file", request_timeout: 9s}
log: {level: debug, format: console}
`)
	tests := []struct {
		name  string
		args  []string
		env   map[string]string
		check func(t *testing.T, c serveConfig)
	}{
		{"defaults", nil, nil, func(t *testing.T, c serveConfig) {
			want := node.Default()
			if !reflect.DeepEqual(c.Config, want) {
				t.Fatalf("got %+v\nwant %+v", c, want)
			}
		}},
		{"file over defaults", []string{"--config", file}, nil, func(t *testing.T, c serveConfig) {
			if c.Listen != ":5000" || c.Path != "/rt/" || c.Engine.PingInterval.D() != 10*time.Second ||
				c.Engine.MaxPayload != 2000 || !reflect.DeepEqual(c.Engine.Transports, []string{"websocket"}) ||
				c.Engine.MaxQueueBytes != 4096 || c.Engine.ConnectTimeout.D() != 7*time.Second ||
				!reflect.DeepEqual(c.CORS.Origins, []string{"http://file.example"}) || !c.CORS.Credentials ||
				len(c.Namespaces) != 3 || c.Recovery.MaxDisconnection.D() != 2*time.Minute || c.Recovery.SkipMiddlewares ||
				c.API.Listen != "127.0.0.1:5001" || c.API.Key != "file-key" || c.Redis.Mode != "sharded" ||
				c.Redis.Key != "file" || c.Redis.RequestTimeout.D() != 9*time.Second ||
				c.Log.Level != "debug" || c.Log.Format != "console" {
				t.Fatalf("%+v", c)
			}
			// Keys absent from the file keep their defaults.
			if c.ShutdownTimeout.D() != 10*time.Second {
				t.Fatalf("shutdown_timeout %v", c.ShutdownTimeout.D())
			}
		}},
		{"config path from env", nil, map[string]string{"IONBUS_CONFIG": file}, func(t *testing.T, c serveConfig) {
			if c.Listen != ":5000" {
				t.Fatalf("listen %q", c.Listen)
			}
		}},
		{"env over file", []string{"--config", file}, map[string]string{
			"IONBUS_LISTEN": ":6000", "IONBUS_PATH": "/env/", "IONBUS_SHUTDOWN_TIMEOUT": "3s",
			"IONBUS_ENGINE_PING_INTERVAL": "11000", "IONBUS_ENGINE_PING_TIMEOUT": "6s",
			"IONBUS_ENGINE_MAX_PAYLOAD": "3000", "IONBUS_ENGINE_TRANSPORTS": "polling, websocket",
			"IONBUS_ENGINE_MAX_QUEUE_BYTES": "8192", "IONBUS_ENGINE_CONNECT_TIMEOUT": "8s",
			"IONBUS_CORS_ORIGINS": "http://a.example, http://b.example", "IONBUS_CORS_CREDENTIALS": "false",
			"IONBUS_NAMESPACES": "/,/chat", "IONBUS_RECOVERY_MAX_DISCONNECTION": "0",
			"IONBUS_RECOVERY_SKIP_MIDDLEWARES": "true", "IONBUS_API_LISTEN": "127.0.0.1:6001",
			"IONBUS_API_KEY": "env-key", "IONBUS_API_INSECURE": "true",
			"IONBUS_REDIS_URL": "redis://localhost:6379/0", "IONBUS_REDIS_MODE": "classic",
			"IONBUS_REDIS_KEY": "env", "IONBUS_REDIS_REQUEST_TIMEOUT": "1s",
			"IONBUS_LOG_LEVEL": "warn", "IONBUS_LOG_FORMAT": "json",
		}, func(t *testing.T, c serveConfig) {
			if c.Listen != ":6000" || c.Path != "/env/" || c.ShutdownTimeout.D() != 3*time.Second ||
				c.Engine.PingInterval.D() != 11*time.Second || c.Engine.PingTimeout.D() != 6*time.Second ||
				c.Engine.MaxPayload != 3000 || !reflect.DeepEqual(c.Engine.Transports, []string{"polling", "websocket"}) ||
				c.Engine.MaxQueueBytes != 8192 || c.Engine.ConnectTimeout.D() != 8*time.Second ||
				!reflect.DeepEqual(c.CORS.Origins, []string{"http://a.example", "http://b.example"}) || c.CORS.Credentials ||
				!reflect.DeepEqual(c.Namespaces, []node.NamespaceConfig{{Name: "/"}, {Name: "/chat"}}) ||
				c.Recovery.MaxDisconnection != 0 || !c.Recovery.SkipMiddlewares ||
				c.API.Listen != "127.0.0.1:6001" || c.API.Key != "env-key" || !c.API.Insecure ||
				c.Redis.URL != "redis://localhost:6379/0" || c.Redis.Mode != "classic" || c.Redis.Key != "env" ||
				c.Redis.RequestTimeout.D() != time.Second || c.Log.Level != "warn" || c.Log.Format != "json" {
				t.Fatalf("%+v", c)
			}
		}},
		{"empty env ignored", []string{"--config", file}, map[string]string{"IONBUS_LISTEN": "", "IONBUS_API_KEY": ""}, func(t *testing.T, c serveConfig) {
			if c.Listen != ":5000" || c.API.Key != "file-key" {
				t.Fatalf("%+v", c)
			}
		}},
		{"flags over env", []string{"--config", file, "--listen", ":7000", "--api-listen", "127.0.0.1:7001",
			"--path", "/flag/", "--redis-url", "redis://flag:6379", "--log-level", "error", "--log-format", "console",
			"--ping-interval", "12s", "--ping-timeout", "4000"},
			map[string]string{"IONBUS_LISTEN": ":6000", "IONBUS_API_LISTEN": "127.0.0.1:6001", "IONBUS_LOG_LEVEL": "warn",
				"IONBUS_ENGINE_PING_INTERVAL": "11s", "IONBUS_REDIS_URL": "redis://env:6379"},
			func(t *testing.T, c serveConfig) {
				if c.Listen != ":7000" || c.API.Listen != "127.0.0.1:7001" || c.Path != "/flag/" ||
					c.Redis.URL != "redis://flag:6379" || c.Log.Level != "error" || c.Log.Format != "console" ||
					c.Engine.PingInterval.D() != 12*time.Second || c.Engine.PingTimeout.D() != 4*time.Second {
					t.Fatalf("%+v", c)
				}
			}},
		{"profile under file", []string{"--profile", "conformance", "--config", writeFile(t, "listen: \":3100\"\n")}, nil, func(t *testing.T, c serveConfig) {
			if c.Listen != ":3100" || c.Engine.PingInterval.D() != 300*time.Millisecond || c.Profile != "conformance" {
				t.Fatalf("%+v", c)
			}
		}},
		{"profile from env", nil, map[string]string{"IONBUS_PROFILE": "conformance"}, func(t *testing.T, c serveConfig) {
			if c.Listen != ":3000" || c.Engine.PingTimeout.D() != 200*time.Millisecond ||
				!reflect.DeepEqual(c.Namespaces, []node.NamespaceConfig{{Name: "/"}, {Name: "/custom"}}) || c.API.Listen != "" {
				t.Fatalf("%+v", c)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := loadConfig(tc.args, envMap(tc.env), io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, c)
		})
	}
}

func TestConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		file string
		env  map[string]string
		want string // substring of the error
	}{
		{"unknown key", nil, "listen: \":1\"\nlisten_addr: \":2\"\n", nil, "listen_addr"},
		{"unknown nested key", nil, "engine:\n  ping_intervall: 1s\n", nil, "ping_intervall"},
		{"unknown namespace key", nil, "namespaces: [{name: /, auth: true}]\n", nil, "auth"},
		{"wrong type", nil, "engine:\n  max_payload: lots\n", nil, "lots"},
		{"missing file", []string{"--config", "/does/not/exist.yaml"}, "", nil, "no such file"},
		{"bad path", nil, "path: socket.io\n", nil, "path"},
		{"health path inside path", nil, "health_path: /socket.io/health\n", nil, "health_path"},
		{"health path trailing slash", nil, "health_path: /health/\n", nil, "health_path"},
		{"ready path is health path", nil, "ready_path: /healthz\n", nil, "ready_path"},
		{"bad transport", nil, "engine: {transports: [polling, sse]}\n", nil, "sse"},
		{"no transport", nil, "engine: {transports: []}\n", nil, "transports"},
		{"zero ping", nil, "engine: {ping_interval: 0}\n", nil, "ping_interval"},
		{"namespace without slash", nil, "namespaces: [{name: chat}]\n", nil, "chat"},
		{"duplicate namespace", nil, "namespaces: [{name: /a}, {name: /a}]\n", nil, "twice"},
		{"api on public listener", nil, "listen: \":4000\"\napi: {listen: \":4000\"}\n", nil, "api.listen"},
		{"redis mode", nil, "redis: {mode: cluster}\n", nil, "redis.mode"},
		{"redis url", nil, "redis: {url: \"http://user:hunter2@host\"}\n", nil, "redis.url"},
		{"log level", nil, "log: {level: loud}\n", nil, "log.level"},
		{"log format", nil, "log: {format: xml}\n", nil, "log.format"},
		{"bad env duration", nil, "", map[string]string{"IONBUS_ENGINE_PING_TIMEOUT": "soon"}, "IONBUS_ENGINE_PING_TIMEOUT"},
		{"bad env int", nil, "", map[string]string{"IONBUS_ENGINE_MAX_PAYLOAD": "1e6"}, "IONBUS_ENGINE_MAX_PAYLOAD"},
		{"bad env bool", nil, "", map[string]string{"IONBUS_API_INSECURE": "yes please"}, "IONBUS_API_INSECURE"},
		{"bad flag duration", []string{"--ping-interval", "soon"}, "", nil, "ping-interval"},
		{"unknown flag", []string{"--lissten", ":1"}, "", nil, "lissten"},
		{"unknown profile", []string{"--profile", "fast"}, "", nil, "fast"},
		{"extra argument", []string{"now"}, "", nil, "unexpected"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			args := tc.args
			if tc.file != "" {
				args = append(args, "--config", writeFile(t, tc.file))
			}
			_, err := loadConfig(args, envMap(tc.env), io.Discard)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one mentioning %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Fatalf("error leaks the Redis password: %v", err)
			}
		})
	}
}

// TestConfigErrorsAtOnce: every problem of the file and the variables in
// one error, in the file's terms (key path, line), never a Go type.
func TestConfigErrorsAtOnce(t *testing.T) {
	file := writeFile(t, `listen: ":4000"
engine:
  ping_interval: 5x
  max_payload: lots
bogus: 1
namespaces:
  - name: /
    acces: public
    compat_events: maybe
cors: {origins: "http://a"}
`)
	code, out, errs := runCmd([]string{"serve", "--config", file}, map[string]string{"IONBUS_ENGINE_PING_TIMEOUT": "soon"})
	if code != 1 || out != "" {
		t.Fatalf("exit %d %q", code, out)
	}
	for _, want := range []string{
		`engine.ping_interval: "5x" is not a duration`, "(line 3)",
		`engine.max_payload: "lots" is not an integer (line 4)`,
		`unknown key "bogus" at line 5`,
		`unknown key "namespaces[0].acces" at line 8`,
		`namespaces[0].compat_events: "maybe" is not true or false (line 9)`,
		`cors.origins: want a list`,
		`IONBUS_ENGINE_PING_TIMEOUT: invalid duration "soon"`,
	} {
		if !strings.Contains(errs, want) {
			t.Errorf("error lacks %q:\n%s", want, errs)
		}
	}
	if goism := regexp.MustCompile(`node\.|\bint(64)?\b|!!|unmarshal|time\.Duration|\[\]string|\bbool\b`).FindString(errs); goism != "" {
		t.Errorf("error shows %q:\n%s", goism, errs)
	}
	if strings.Count(errs, "bogus") != 1 {
		t.Errorf("printed more than once:\n%s", errs)
	}
	// YAML merge keys are not unknown keys.
	merged := writeFile(t, "namespaces:\n  - &ns {name: /a, compat_events: true}\n  - <<: *ns\n    name: /b\n")
	if c, err := loadConfig([]string{"--config", merged}, envMap(nil), io.Discard); err != nil || len(c.Namespaces) != 2 || !c.Namespaces[1].CompatEvents {
		t.Fatalf("merge key: %v %+v", err, c.Namespaces)
	}
}

// TestREADMEDocumentsConfig keeps the README configuration table in step
// with the code: every YAML key and environment variable appears in it.
func TestREADMEDocumentsConfig(t *testing.T) {
	data, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(data)
	for _, name := range node.EnvNames() {
		if !strings.Contains(readme, "`"+name+"`") {
			t.Errorf("README lacks %s", name)
		}
	}
	for _, key := range yamlKeys(reflect.TypeOf(node.Config{}), "") {
		if !strings.Contains(readme, "`"+key+"`") {
			t.Errorf("README lacks the key %s", key)
		}
	}
	for _, name := range []string{"--config", "--profile", "--listen", "--api-listen", "--path", "--redis-url", "--redis-mode", "--node-id", "--jwt-secret",
		"--log-level", "--log-format", "--ping-interval", "--ping-timeout"} {
		if !strings.Contains(readme, "`"+name+"`") {
			t.Errorf("README lacks the flag %s", name)
		}
	}
}

func yamlKeys(t reflect.Type, prefix string) []string {
	var out []string
	for i := range t.NumField() {
		f := t.Field(i)
		tag := strings.Split(f.Tag.Get("yaml"), ",")[0]
		if tag == "" || tag == "-" {
			continue
		}
		key := prefix + tag
		ft := f.Type
		if ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct {
			ft, key = ft.Elem(), key+"[]"
		}
		if ft.Kind() == reflect.Struct {
			out = append(out, yamlKeys(ft, key+".")...)
			continue
		}
		out = append(out, key)
	}
	return out
}

// TestREADMEExampleLoads parses the YAML example of the README with the
// real loader, so the documented file format cannot drift from the code.
func TestREADMEExampleLoads(t *testing.T) {
	data, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(data), "```yaml\n")
	block, _, closed := strings.Cut(rest, "```")
	if !ok || !closed {
		t.Fatal("README has no ```yaml block")
	}
	// Its /admin and /tenant-* namespaces need a key, which the file
	// leaves to the environment, as it recommends.
	secret := strings.Repeat("x", 32)
	c, err := loadConfig([]string{"--config", writeFile(t, block)}, envMap(map[string]string{"IONBUS_AUTH_JWT_SECRET": secret}), io.Discard)
	if err != nil {
		t.Fatalf("README example: %v", err)
	}
	want := node.Default()
	want.Auth.JWT.Secret = secret
	want.CORS = node.CORSConfig{Origins: []string{"http://localhost:3000"}, Credentials: true}
	want.Namespaces = []node.NamespaceConfig{
		{Name: "/", Access: "public", Authenticate: "jwt", ErrorCodes: map[string]string{}},
		{Name: "/admin", Access: "role:admin", Presence: node.NamespacePresence{Namespace: true}},
		{Name: "/tenant-*", Access: "authenticated", AutoJoin: []string{"user:{user}"}, Rooms: node.RoomsConfig{Allow: []string{"chat:*", "dm:{user}:*"}}},
	}
	// %+v prints nil and empty slices alike: the example writes the
	// default empty lists as [].
	if got, exp := fmt.Sprintf("%+v", c.Config), fmt.Sprintf("%+v", want); got != exp {
		t.Fatalf("the README example is not the defaults plus its cors/namespaces examples:\n got %s\nwant %s", got, exp)
	}
}

// TestPrecedenceNewKeys checks node_id, redis, auth, limits, presence and
// namespace rules through file < env < flags.
func TestPrecedenceNewKeys(t *testing.T) {
	const (
		fileSecret = "file-secret-0123456789abcdef0123456789"
		envSecret  = "env-secret-0123456789abcdef0123456789"
		flagSecret = "flag-secret-0123456789abcdef0123456789"
	)
	file := writeFile(t, `
node_id: file-node
redis: {url: "redis://file:6379/0", cluster_addrs: ["a:7000"], mode: room, key: fk, request_timeout: 2s}
auth:
  jwt: {secret: `+fileSecret+`, algorithms: [HS384], cookie: sess, query_param: tok, user_claim: uid,
        name_claim: nm, roles_claim: grp, issuer: iss, audience: aud, leeway: 5s}
limits:
  enabled: false
  max_connections_per_user: 1
  max_connections_per_ip: 2
  connect_attempts_per_ip: 3
  connect_attempts_window: 4s
  messages_per_user: 5
  messages_window: 6s
  max_message_bytes: 7
  max_rooms_per_socket: 8
  trusted_proxies: [10.0.0.0/8, "192.0.2.1"]
  proxy_header: forwarded
  node_ttl: 9s
  abuse_disconnect_after: 3
presence: {grace: 1s, node_ttl: 12s, max_meta_bytes: 64, page_size: 5, max_page_size: 50}
namespaces:
  - name: /
    access: role:admin,role:ops
    auto_join: ["user:{user}"]
    rooms: {allow: ["chat:*"]}
    compat_events: true
    redirect_url: https://login.example
    csrf: true
    presence: {namespace: true, rooms: ["chat:*"], visible: ["lobby"]}
  - name: /b
`)
	c, err := loadConfig([]string{"--config", file}, envMap(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	j, l, p, ns := c.Auth.JWT, c.Limits, c.Presence, c.Namespaces[0]
	if c.NodeID != "file-node" || c.Redis.URL != "redis://file:6379/0" || !reflect.DeepEqual(c.Redis.ClusterAddrs, []string{"a:7000"}) ||
		c.Redis.Mode != "room" || c.Redis.Key != "fk" || c.Redis.RequestTimeout.D() != 2*time.Second ||
		j.Secret != fileSecret || !reflect.DeepEqual(j.Algorithms, []string{"HS384"}) || j.Cookie != "sess" || j.QueryParam != "tok" ||
		j.UserClaim != "uid" || j.NameClaim != "nm" || j.RolesClaim != "grp" || j.Issuer != "iss" || j.Audience != "aud" || j.Leeway.D() != 5*time.Second ||
		l.Enabled || l.MaxConnectionsPerUser != 1 || l.MaxConnectionsPerIP != 2 || l.ConnectAttemptsPerIP != 3 ||
		l.ConnectAttemptsWindow.D() != 4*time.Second || l.MessagesPerUser != 5 || l.MessagesWindow.D() != 6*time.Second ||
		l.MaxMessageBytes != 7 || l.MaxRoomsPerSocket != 8 || len(l.TrustedProxies) != 2 || l.ProxyHeader != "forwarded" ||
		l.NodeTTL.D() != 9*time.Second || l.AbuseDisconnectAfter != 3 ||
		p.Grace.D() != time.Second || p.NodeTTL.D() != 12*time.Second || p.MaxMetaBytes != 64 || p.PageSize != 5 || p.MaxPageSize != 50 ||
		ns.Access != "role:admin,role:ops" || !reflect.DeepEqual(ns.AutoJoin, []string{"user:{user}"}) ||
		!reflect.DeepEqual(ns.Rooms.Allow, []string{"chat:*"}) || !ns.CompatEvents || ns.RedirectURL != "https://login.example" || !ns.CSRF ||
		!ns.Presence.Namespace || !reflect.DeepEqual(ns.Presence.Rooms, []string{"chat:*"}) || !reflect.DeepEqual(ns.Presence.Visible, []string{"lobby"}) {
		t.Fatalf("file: %+v", c)
	}

	env := map[string]string{
		"IONBUS_NODE_ID": "env-node", "IONBUS_REDIS_URL": "redis://env:6379", "IONBUS_REDIS_CLUSTER_ADDRS": "b:7000, c:7001",
		"IONBUS_REDIS_MODE":      "sharded",
		"IONBUS_AUTH_JWT_SECRET": envSecret, "IONBUS_AUTH_JWT_ALGORITHMS": "HS256,HS512", "IONBUS_AUTH_JWT_COOKIE": "c2",
		"IONBUS_AUTH_JWT_QUERY_PARAM": "q2", "IONBUS_AUTH_JWT_USER_CLAIM": "u2", "IONBUS_AUTH_JWT_NAME_CLAIM": "n2",
		"IONBUS_AUTH_JWT_ROLES_CLAIM": "r2", "IONBUS_AUTH_JWT_ISSUER": "i2", "IONBUS_AUTH_JWT_AUDIENCE": "a2", "IONBUS_AUTH_JWT_LEEWAY": "0",
		"IONBUS_LIMITS_ENABLED": "true", "IONBUS_LIMITS_MAX_CONNECTIONS_PER_USER": "11", "IONBUS_LIMITS_MAX_CONNECTIONS_PER_IP": "12",
		"IONBUS_LIMITS_CONNECT_ATTEMPTS_PER_IP": "13", "IONBUS_LIMITS_CONNECT_ATTEMPTS_WINDOW": "14s", "IONBUS_LIMITS_MESSAGES_PER_USER": "15",
		"IONBUS_LIMITS_MESSAGES_WINDOW": "16s", "IONBUS_LIMITS_MAX_MESSAGE_BYTES": "17", "IONBUS_LIMITS_MAX_ROOMS_PER_SOCKET": "18",
		"IONBUS_LIMITS_TRUSTED_PROXIES": "172.16.0.0/12", "IONBUS_LIMITS_PROXY_HEADER": "X-Forwarded-For",
		"IONBUS_LIMITS_NODE_TTL": "19s", "IONBUS_LIMITS_ABUSE_DISCONNECT_AFTER": "20",
		"IONBUS_PRESENCE_GRACE": "2s", "IONBUS_PRESENCE_NODE_TTL": "21s", "IONBUS_PRESENCE_MAX_META_BYTES": "22",
		"IONBUS_PRESENCE_PAGE_SIZE": "23", "IONBUS_PRESENCE_MAX_PAGE_SIZE": "24",
		"IONBUS_NAMESPACES": "/,/c",
	}
	c, err = loadConfig([]string{"--config", file}, envMap(env), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	j, l, p = c.Auth.JWT, c.Limits, c.Presence
	if c.NodeID != "env-node" || c.Redis.URL != "redis://env:6379" || !reflect.DeepEqual(c.Redis.ClusterAddrs, []string{"b:7000", "c:7001"}) ||
		c.Redis.Mode != "sharded" || j.Secret != envSecret || !reflect.DeepEqual(j.Algorithms, []string{"HS256", "HS512"}) ||
		j.Cookie != "c2" || j.QueryParam != "q2" || j.UserClaim != "u2" || j.NameClaim != "n2" || j.RolesClaim != "r2" ||
		j.Issuer != "i2" || j.Audience != "a2" || j.Leeway != 0 ||
		!l.Enabled || l.MaxConnectionsPerUser != 11 || l.MaxConnectionsPerIP != 12 || l.ConnectAttemptsPerIP != 13 ||
		l.ConnectAttemptsWindow.D() != 14*time.Second || l.MessagesPerUser != 15 || l.MessagesWindow.D() != 16*time.Second ||
		l.MaxMessageBytes != 17 || l.MaxRoomsPerSocket != 18 || !reflect.DeepEqual(l.TrustedProxies, []string{"172.16.0.0/12"}) ||
		l.ProxyHeader != "X-Forwarded-For" || l.NodeTTL.D() != 19*time.Second || l.AbuseDisconnectAfter != 20 ||
		p.Grace.D() != 2*time.Second || p.NodeTTL.D() != 21*time.Second || p.MaxMetaBytes != 22 || p.PageSize != 23 || p.MaxPageSize != 24 {
		t.Fatalf("env: %+v", c)
	}
	// IONBUS_NAMESPACES keeps the rules of a namespace the file declared.
	if len(c.Namespaces) != 2 || c.Namespaces[0].Access != "role:admin,role:ops" || c.Namespaces[1].Name != "/c" || c.Namespaces[1].Access != "" {
		t.Fatalf("namespaces %+v", c.Namespaces)
	}

	c, err = loadConfig([]string{"--config", file, "--node-id", "flag-node", "--redis-url", "redis://flag:6379",
		"--redis-mode", "classic", "--jwt-secret", flagSecret}, envMap(env), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.NodeID != "flag-node" || c.Redis.URL != "redis://flag:6379" || c.Redis.Mode != "classic" || c.Auth.JWT.Secret != flagSecret {
		t.Fatalf("flags: %+v", c)
	}
}

func TestConfigErrorsNewKeys(t *testing.T) {
	const secret = "s3cr3t-value-0123456789abcdef0123456789"
	pem := writeFile(t, "not a key")
	tests := []struct {
		name string
		file string
		env  map[string]string
		want string
	}{
		{"bad access", "namespaces: [{name: /, access: admins}]\n", nil, "namespaces[/].access"},
		{"bad role list", "namespaces: [{name: /, access: \"role:a,ops\"}]\n", nil, "access"},
		{"bad CIDR", "limits: {trusted_proxies: [10.0.0.0/33]}\n", nil, "limits.trusted_proxies"},
		{"bad CIDR env", "", map[string]string{"IONBUS_LIMITS_TRUSTED_PROXIES": "10.0.0.0/8,nope"}, "nope"},
		{"bad proxy header", "limits: {proxy_header: X-Real-IP}\n", nil, "limits.proxy_header"},
		{"unknown mode", "redis: {mode: cluster}\n", nil, "redis.mode"},
		{"unknown mode env", "", map[string]string{"IONBUS_REDIS_MODE": "pattern"}, "pattern"},
		{"cluster with db", "redis: {url: \"redis://:hunter2@x:6379/3\", cluster_addrs: [\"a:7000\"]}\n", nil, "database 3"},
		{"cluster addr", "redis: {cluster_addrs: [\"a\"]}\n", nil, "redis.cluster_addrs"},
		{"key with braces", "redis: {key: \"{app}\"}\n", nil, "redis.key"},
		{"algorithm without its key", "auth: {jwt: {secret: " + secret + ", algorithms: [RS256]}}\n", nil, "auth.jwt"},
		{"algorithms without key", "auth: {jwt: {algorithms: [HS256]}}\n", nil, "auth.jwt.algorithms"},
		{"alg none", "", map[string]string{"IONBUS_AUTH_JWT_SECRET": secret, "IONBUS_AUTH_JWT_ALGORITHMS": "none"}, "auth.jwt"},
		{"short secret", "", map[string]string{"IONBUS_AUTH_JWT_SECRET": "s3cr3t-value"}, "auth.jwt"},
		{"bad key file", "auth: {jwt: {public_key_file: " + pem + "}}\n", nil, "auth.jwt"},
		{"missing key file", "auth: {jwt: {public_key_file: /does/not/exist.pem}}\n", nil, "auth.jwt"},
		{"negative limit", "limits: {max_connections_per_ip: -1}\n", nil, "limits.max_connections_per_ip"},
		{"zero window", "limits: {messages_window: 0}\n", nil, "limits.messages_window"},
		{"zero abuse", "limits: {abuse_disconnect_after: 0}\n", nil, "abuse_disconnect_after"},
		{"page sizes", "presence: {page_size: 200, max_page_size: 100}\n", nil, "presence.page_size"},
		{"visible alone", "namespaces: [{name: /, presence: {visible: [x]}}]\n", nil, "visible"},
		{"unknown rooms key", "namespaces: [{name: /, rooms: {deny: [x]}}]\n", nil, "deny"},
		{"bad env limit", "", map[string]string{"IONBUS_LIMITS_MAX_MESSAGE_BYTES": "10k"}, "IONBUS_LIMITS_MAX_MESSAGE_BYTES"},
		{"bad env enabled", "", map[string]string{"IONBUS_LIMITS_ENABLED": "maybe"}, "IONBUS_LIMITS_ENABLED"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var args []string
			if tc.file != "" {
				args = []string{"--config", writeFile(t, tc.file)}
			}
			_, err := loadConfig(args, envMap(tc.env), io.Discard)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one mentioning %q", err, tc.want)
			}
			for _, s := range []string{"hunter2", "s3cr3t-value"} {
				if strings.Contains(err.Error(), s) {
					t.Fatalf("error leaks a secret: %v", err)
				}
			}
		})
	}
}

// TestExampleConfigLoads keeps examples/config/*.yaml valid and
// startable: every file loads, and its listen addresses can be bound on
// any machine (no address of a particular host).
func TestExampleConfigLoads(t *testing.T) {
	files, err := filepath.Glob("../../examples/config/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no example configs: %v", err)
	}
	env := map[string]string{"IONBUS_AUTH_JWT_SECRET": strings.Repeat("x", 32), "IONBUS_REDIS_URL": "redis://127.0.0.1:6379/0"}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			c, err := loadConfig([]string{"--config", file}, envMap(env), io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			for _, addr := range []string{c.Listen, c.API.Listen} {
				if addr == "" {
					continue
				}
				host, _, err := net.SplitHostPort(addr)
				if err != nil {
					t.Fatalf("%q: %v", addr, err)
				}
				l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
				if err != nil {
					t.Fatalf("%s binds %q, which this host cannot: %v", file, addr, err)
				}
				l.Close()
			}
			if filepath.Base(file) == "cluster.yaml" && (c.Redis.Mode != "room" || len(c.Namespaces) != 3 || !c.Namespaces[0].Presence.Namespace) {
				t.Fatalf("%+v", c)
			}
		})
	}
}

// TestAuthWithoutKey: a namespace that needs a token, with no key to
// verify one, refuses to start and names the namespace (it would refuse
// every socket); the example cluster file without its secret is one.
func TestAuthWithoutKey(t *testing.T) {
	_, err := loadConfig([]string{"--config", "../../examples/config/cluster.yaml"}, envMap(nil), io.Discard)
	if err == nil {
		t.Fatal("cluster.yaml loaded without a JWT key")
	}
	for _, want := range []string{`namespaces[/].access: "authenticated" needs a JWT key`, `namespaces[/admin].access: "role:admin"`, "IONBUS_AUTH_JWT_SECRET"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "/public") {
		t.Errorf("the public namespace is blamed: %v", err)
	}
	// A backend can identify sockets instead.
	file := writeFile(t, "backend: {url: \"http://127.0.0.1:1/hook\"}\nnamespaces: [{name: /, access: authenticated, authenticate: backend}]\n")
	if _, err := loadConfig([]string{"--config", file}, envMap(nil), io.Discard); err != nil {
		t.Fatalf("backend authentication: %v", err)
	}
}

func TestBenchProfileConfig(t *testing.T) {
	c, err := loadConfig([]string{"--profile", "bench"}, envMap(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.Limits.Enabled || !c.API.Insecure || c.API.Listen != "127.0.0.1:4001" || c.Log.Level != "warn" ||
		len(c.Namespaces) != 1 || !reflect.DeepEqual(c.Namespaces[0].Rooms.Allow, []string{"*"}) {
		t.Fatalf("%+v", c)
	}
}
