package integration

// Process harness of the cluster tests (cluster_test.go, presence_test.go,
// limits_cluster_test.go): the ionbus binary built once per run,
// redis-server (standalone and a 3-master Redis Cluster, started by
// internal/redistest) on free loopback ports, `ionbus serve` nodes each
// with its own YAML (renderConfig) and ports, and long-lived Node scripts driven by JSON lines on stdin
// (js/swarm.js: socket.io-client sockets; js/peer.js: a socket.io@4.8
// server with @socket.io/redis-adapter@8; js/emitter.js:
// @socket.io/redis-emitter@5). Every process started here is stopped by
// PID in t.Cleanup: SIGTERM, then SIGKILL after a bound. Node logs and
// script transcripts are printed when a test fails.
//
// Running (needs redis-server and redis-cli >= 7, Node >= 18, and
// `npm ci` in integration/; without redis-server or node the tests skip
// unless CI is set):
//
//	go test -race -run 'TestCluster' ./integration/
//
// About 20 s for all of them.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ionbus/ionbus/broker/auth"
)

// clusterSecret signs the JWTs of the cluster tests (HS256, 32+ bytes).
const clusterSecret = "cluster-secret-cluster-secret-cluster-secret"

// clusterAPIKey is the api.key of every node.
const clusterAPIKey = "k"

// ---------------------------------------------------------------------------
// Binary

var ionbusBin struct {
	once sync.Once
	path string
	out  string
	err  error
}

// ionbusBinary builds ./cmd/ionbus once per test run, into a fixed
// per-user directory under os.TempDir (overwritten by each run, so runs
// leave nothing behind but one binary; go build renames into place, so a
// concurrent run keeps executing its own copy).
func ionbusBinary(t *testing.T) string {
	t.Helper()
	ionbusBin.once.Do(func() {
		dir := filepath.Join(os.TempDir(), fmt.Sprintf("ionbus-integration-%d", os.Getuid()))
		if err := os.MkdirAll(dir, 0o700); err != nil {
			ionbusBin.err = err
			return
		}
		ionbusBin.path = filepath.Join(dir, "ionbus")
		cmd := exec.Command("go", "build", "-o", ionbusBin.path, "./cmd/ionbus")
		cmd.Dir = ".."
		out, err := cmd.CombinedOutput()
		ionbusBin.out, ionbusBin.err = string(out), err
	})
	if ionbusBin.err != nil {
		t.Fatalf("go build ./cmd/ionbus: %v\n%s", ionbusBin.err, ionbusBin.out)
	}
	return ionbusBin.path
}

// requireTool finds a binary on PATH; it skips only when the binary is
// missing outside CI.
func requireTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "" {
			t.Skipf("%s not found in PATH (set CI=1 to make this a failure)", name)
		}
		t.Fatalf("%s not found in PATH", name)
	}
	return p
}

// requireClusterTools checks everything the cluster tests run.
func requireClusterTools(t *testing.T) {
	t.Helper()
	requireTool(t, "redis-server")
	requireTool(t, "redis-cli")
	requireNode(t)
	for _, pkg := range []string{"@socket.io/redis-adapter", "@socket.io/redis-emitter", "redis"} {
		if _, err := os.Stat(filepath.Join("node_modules", pkg, "package.json")); err != nil {
			t.Fatalf("integration/node_modules/%s is missing: run `npm ci` in integration/ (%v)", pkg, err)
		}
	}
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	portsMu.Lock()
	defer portsMu.Unlock()
	for {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		// The kernel may hand a just-closed port out again: two calls for
		// one node (listen, api.listen) must not get the same one.
		if !portsGiven[port] {
			portsGiven[port] = true
			return port
		}
	}
}

var (
	portsMu    sync.Mutex
	portsGiven = map[int]bool{}
)

// poll is eventually with a message built when it fails.
func poll(t *testing.T, d time.Duration, what func() string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// ---------------------------------------------------------------------------
// Processes

// proc is one child process with its combined output captured.
type proc struct {
	name string
	cmd  *exec.Cmd
	out  *lockedBuffer
	done chan struct{} // closed when Wait returned
	err  error
}

func startProc(t *testing.T, name string, cmd *exec.Cmd) *proc {
	t.Helper()
	p := launch(t, name, cmd)
	t.Cleanup(func() { p.stop(5 * time.Second) })
	return p
}

// launch starts cmd; the caller owns stopping it.
func launch(t *testing.T, name string, cmd *exec.Cmd) *proc {
	t.Helper()
	p := &proc{name: name, cmd: cmd, out: &lockedBuffer{}, done: make(chan struct{})}
	if cmd.Stdout == nil {
		cmd.Stdout = p.out
	}
	if cmd.Stderr == nil {
		cmd.Stderr = p.out
	}
	cmd.WaitDelay = 2 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM and SIGKILL after grace; it returns once the
// process is reaped. Safe to call more than once.
func (p *proc) stop(grace time.Duration) {
	if p.exited() {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// kill sends SIGKILL and waits until the process is reaped.
func (p *proc) kill() {
	if p.exited() {
		return
	}
	_ = p.cmd.Process.Kill()
	<-p.done
}

// ---------------------------------------------------------------------------
// ionbus nodes

// nodeSpec is the configuration of one `ionbus serve` process, rendered
// to YAML in the contract of cmd/ionbus (see the README config table).
type nodeSpec struct {
	ID           string
	RedisURL     string
	Mode         string // classic (default) | sharded | room
	Key          string // channel prefix
	ClusterAddrs []string
	Access       string // public (default) | authenticated
	Limits       bool
	MaxConnsUser int
	Presence     bool
	Parser       string // json (default) | msgpack
}

type ionbusNode struct {
	spec   nodeSpec
	port   int
	apiPor int
	cfg    string
	env    []string // extra KEY=value for the process
	p      *proc
	http   *http.Client
}

func (n *ionbusNode) url() string    { return fmt.Sprintf("http://127.0.0.1:%d", n.port) }
func (n *ionbusNode) apiURL() string { return fmt.Sprintf("http://127.0.0.1:%d", n.apiPor) }

func renderConfig(s nodeSpec, port, apiPort int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "listen: \"127.0.0.1:%d\"\n", port)
	fmt.Fprintf(&b, "node_id: %q\n", s.ID)
	fmt.Fprintf(&b, "api: {listen: \"127.0.0.1:%d\", key: %q}\n", apiPort, clusterAPIKey)
	b.WriteString("engine: {ping_interval: 1s, ping_timeout: 1s}\n")
	b.WriteString("shutdown_timeout: 3s\n")
	if s.Parser != "" {
		fmt.Fprintf(&b, "parser: %s\n", s.Parser)
	}
	b.WriteString("log: {level: info, format: json}\n")
	if s.RedisURL != "" || len(s.ClusterAddrs) > 0 {
		mode := s.Mode
		if mode == "" {
			mode = "classic"
		}
		key := s.Key
		if key == "" {
			key = "socket.io"
		}
		quoted := make([]string, len(s.ClusterAddrs))
		for i, a := range s.ClusterAddrs {
			quoted[i] = fmt.Sprintf("%q", a)
		}
		fmt.Fprintf(&b, "redis: {url: %q, mode: %s, key: %q, request_timeout: 2s, cluster_addrs: [%s]}\n",
			s.RedisURL, mode, key, strings.Join(quoted, ", "))
	}
	fmt.Fprintf(&b, "auth: {jwt: {secret: %q, algorithms: [HS256]}}\n", clusterSecret)
	if s.Limits {
		fmt.Fprintf(&b, "limits: {enabled: true, max_connections_per_user: %d, node_ttl: 3s, messages_per_user: 1000, messages_window: 1m}\n", s.MaxConnsUser)
	}
	if s.Presence {
		b.WriteString("presence: {grace: 500ms, node_ttl: 3s}\n")
	}
	access := s.Access
	if access == "" {
		access = "public"
	}
	b.WriteString("namespaces:\n  - name: /\n")
	fmt.Fprintf(&b, "    access: %s\n", access)
	b.WriteString("    auto_join: [\"user:{user}\"]\n")
	b.WriteString("    rooms: {allow: [\"*\"]}\n")
	if s.Presence {
		b.WriteString("    presence: {namespace: true, rooms: [\"chat:*\"], visible: [\"chat:*\"]}\n")
		// Dynamic namespaces: each /tenant-<x> is its own presence scope.
		b.WriteString("  - name: /tenant-*\n")
		fmt.Fprintf(&b, "    access: %s\n", access)
		b.WriteString("    rooms: {allow: [\"*\"]}\n")
		b.WriteString("    presence: {namespace: true, rooms: [\"doc:*\"], visible: [\"doc:*\"]}\n")
	}
	return b.String()
}

// startIonbus runs `ionbus serve --config` for each spec and waits until
// every node answers /healthz with "ok".
func startIonbus(t *testing.T, specs ...nodeSpec) []*ionbusNode {
	t.Helper()
	var nodes []*ionbusNode
	for _, s := range specs {
		nodes = append(nodes, launchIonbus(t, s.ID, func(port, apiPort int) string { return renderConfig(s, port, apiPort) }))
	}
	return waitIonbus(t, nodes)
}

// startIonbusYAML runs one `ionbus serve` with a configuration of the
// test's own: render gets the node's public and API ports and returns
// the whole YAML (api.key must be clusterAPIKey for do/emit). Extra
// environment variables (KEY=value) are added to the process's.
func startIonbusYAML(t *testing.T, id string, render func(port, apiPort int) string, env ...string) *ionbusNode {
	t.Helper()
	return waitIonbus(t, []*ionbusNode{launchIonbus(t, id, render, env...)})[0]
}

// launchIonbus writes the configuration of one node and starts it.
func launchIonbus(t *testing.T, id string, render func(port, apiPort int) string, env ...string) *ionbusNode {
	t.Helper()
	bin := ionbusBinary(t)
	n := &ionbusNode{spec: nodeSpec{ID: id}, port: freePort(t), apiPor: freePort(t),
		http: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}}
	n.cfg = filepath.Join(t.TempDir(), "ionbus-"+id+".yaml")
	if err := os.WriteFile(n.cfg, []byte(render(n.port, n.apiPor)), 0o600); err != nil {
		t.Fatal(err)
	}
	n.env = env
	n.start(t, bin)
	return n
}

// waitIonbus waits until every node answers /healthz with "ok", and
// prints their logs when the test fails.
func waitIonbus(t *testing.T, nodes []*ionbusNode) []*ionbusNode {
	t.Helper()
	for _, n := range nodes {
		n.waitHealth(t, "ok", 15*time.Second)
	}
	t.Cleanup(func() {
		if t.Failed() {
			for _, n := range nodes {
				t.Logf("--- log of node %s (%s) ---\n%s", n.spec.ID, n.cfg, n.p.out.String())
			}
		}
	})
	return nodes
}

func (n *ionbusNode) start(t *testing.T, bin string) {
	cmd := exec.Command(bin, "serve", "--config", n.cfg)
	cmd.Env = append(os.Environ(), n.env...)
	n.p = startProc(t, "ionbus "+n.spec.ID, cmd)
}

// health returns the /healthz status ("" when unreachable).
func (n *ionbusNode) health() string {
	resp, err := n.http.Get(n.apiURL() + "/healthz")
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	var h struct {
		Status string `json:"status"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&h)
	return h.Status
}

func (n *ionbusNode) waitHealth(t *testing.T, want string, d time.Duration) {
	t.Helper()
	var got string
	poll(t, d, func() string {
		return fmt.Sprintf("node %s /healthz %q (last %q)\nconfig:\n%s\nlog:\n%s", n.spec.ID, want, got, readFile(n.cfg), n.p.out.String())
	}, func() bool {
		if n.p.exited() {
			t.Fatalf("node %s exited: %v\nconfig:\n%s\nlog:\n%s", n.spec.ID, n.p.err, readFile(n.cfg), n.p.out.String())
		}
		got = n.health()
		return got == want
	})
}

func readFile(p string) string {
	b, _ := os.ReadFile(p)
	return string(b)
}

// do sends an API request with the node's key and decodes a JSON answer.
func (n *ionbusNode) do(t *testing.T, method, path string, body any, out any) int {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, n.apiURL()+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+clusterAPIKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := n.http.Do(req)
	if err != nil {
		t.Fatalf("%s %s on node %s: %v", method, path, n.spec.ID, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if out != nil && len(raw) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s %s on node %s: status %d, body %q: %v", method, path, n.spec.ID, resp.StatusCode, raw, err)
		}
	}
	return resp.StatusCode
}

// socketList is the answer of GET /api/v1/sockets.
type socketList struct {
	Sockets []struct {
		ID   string `json:"id"`
		Node string `json:"node"`
	} `json:"sockets"`
	Complete bool   `json:"complete"`
	Error    string `json:"error"`
}

// emit is POST /api/v1/emit; it returns the status and the raw body.
func (n *ionbusNode) emit(t *testing.T, rooms, except []string, event string, data ...any) (int, string) {
	t.Helper()
	body := map[string]any{"namespace": "/", "event": event, "data": data, "rooms": rooms, "except": except}
	var out json.RawMessage
	code := n.do(t, http.MethodPost, "/api/v1/emit", body, &out)
	return code, string(out)
}

// mustEmit is emit that requires 202/200.
func (n *ionbusNode) mustEmit(t *testing.T, rooms, except []string, event string, data ...any) {
	t.Helper()
	if code, body := n.emit(t, rooms, except, event, data...); code != http.StatusAccepted && code != http.StatusOK {
		t.Fatalf("emit %s via node %s: status %d %s", event, n.spec.ID, code, body)
	}
}

// token mints an HS256 JWT for user valid for an hour.
func token(t *testing.T, user string) string {
	t.Helper()
	now := time.Now()
	tok, err := auth.Sign(map[string]any{"sub": user, "name": "N-" + user, "exp": now.Add(time.Hour).Unix(), "iat": now.Unix()}, "HS256", []byte(clusterSecret))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// ---------------------------------------------------------------------------
// Node scripts driven by JSON lines

// jsProc is a long-lived Node script: commands go to its stdin as JSON
// lines, every JSON line it prints is kept in order.
type jsProc struct {
	t    *testing.T
	name string
	p    *proc
	in   io.WriteCloser

	mu    sync.Mutex
	lines []map[string]any
	raw   []string
	rdone chan struct{}
}

func startJS(t *testing.T, script string, env []string, args ...string) *jsProc {
	t.Helper()
	node := requireNode(t)
	cmd := exec.Command(node, append([]string{filepath.Join("js", script)}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	j := &jsProc{t: t, name: script, in: stdin, rdone: make(chan struct{})}
	stderr := &lockedBuffer{}
	cmd.Stderr = stderr
	j.p = startProc(t, script, cmd)
	j.p.out = stderr
	go func() {
		defer close(j.rdone)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
		for sc.Scan() {
			line := sc.Text()
			var m map[string]any
			ok := json.Unmarshal([]byte(line), &m) == nil
			j.mu.Lock()
			j.raw = append(j.raw, line)
			if ok {
				j.lines = append(j.lines, m)
			}
			j.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		_ = stdin.Close()
		j.p.stop(3 * time.Second)
		<-j.rdone
		if t.Failed() {
			t.Logf("--- %s ---\n%s", j.name, j.transcript())
		}
	})
	return j
}

func (j *jsProc) send(cmd map[string]any) {
	j.t.Helper()
	b, err := json.Marshal(cmd)
	if err != nil {
		j.t.Fatal(err)
	}
	if _, err := j.in.Write(append(b, '\n')); err != nil {
		j.t.Fatalf("write to %s: %v\n%s", j.name, err, j.transcript())
	}
}

// snapshot returns the JSON lines printed so far.
func (j *jsProc) snapshot() []map[string]any {
	j.mu.Lock()
	defer j.mu.Unlock()
	return append([]map[string]any(nil), j.lines...)
}

// find returns the lines matching pred, in order, with their index.
func (j *jsProc) find(pred func(m map[string]any) bool) (out []map[string]any, idx []int) {
	for i, m := range j.snapshot() {
		if pred(m) {
			out = append(out, m)
			idx = append(idx, i)
		}
	}
	return out, idx
}

// waitLine waits for the first line matching pred after line index from.
func (j *jsProc) waitLine(d time.Duration, what string, from int, pred func(m map[string]any) bool) (map[string]any, int) {
	j.t.Helper()
	var found map[string]any
	at := -1
	poll(j.t, d, func() string { return what + " from " + j.name + "\n" + j.transcript() }, func() bool {
		if j.p.exited() {
			j.t.Fatalf("%s exited (%v) while waiting for %s\n%s", j.name, j.p.err, what, j.transcript())
		}
		lines := j.snapshot()
		for i := from; i < len(lines); i++ {
			if f, ok := lines[i]["fatal"]; ok {
				j.t.Fatalf("%s: fatal %v\n%s", j.name, f, j.transcript())
			}
			if pred(lines[i]) {
				found, at = lines[i], i
				return true
			}
		}
		return false
	})
	return found, at
}

func (j *jsProc) mark() int {
	j.mu.Lock()
	defer j.mu.Unlock()
	return len(j.lines)
}

func (j *jsProc) transcript() string {
	j.mu.Lock()
	out := strings.Join(j.raw, "\n")
	j.mu.Unlock()
	if len(out) > 60000 {
		out = "...\n" + out[len(out)-60000:]
	}
	return "--- stdout ---\n" + out + "\n--- stderr ---\n" + j.p.out.String()
}
