package integration

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ionbus/ionbus/broker"
	"github.com/ionbus/ionbus/broker/api"
	"github.com/ionbus/ionbus/connection"
)

// TestMain checks that no test leaves a goroutine behind. Node runs as a
// child process; the goroutines os/exec starts for it end in
// nodeRun.wait, so nothing is ignored for them.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// apiKey is the bearer token of the test API listener.
const apiKey = "integration-secret"

// serverOptions tunes one in-process broker.
type serverOptions struct {
	pingInterval, pingTimeout time.Duration
	maxPayload                int
	recovery                  time.Duration
	corsOrigins               []string // with credentials
	perMessageDeflate         bool
	parser                    broker.Parser
}

// testServer is one in-process ionbus broker running the test application
// (app_test.go) on a loopback listener, with the HTTP API on a second one.
type testServer struct {
	srv    *broker.Server
	url    string // http://127.0.0.1:port, Socket.IO on /socket.io/
	apiURL string // http://127.0.0.1:port, broker/api
	log    *eventLog
	bg     sync.WaitGroup // goroutines of the test application
}

func startServer(t *testing.T, o serverOptions) *testServer {
	t.Helper()
	cfg := broker.Config{
		Engine: connection.Config{
			PingInterval:      o.pingInterval,
			PingTimeout:       o.pingTimeout,
			MaxPayload:        o.maxPayload,
			CORS:              connection.CORSConfig{Origins: o.corsOrigins, Credentials: len(o.corsOrigins) > 0},
			PerMessageDeflate: connection.PerMessageDeflate{Enabled: o.perMessageDeflate},
		},
		Recovery: broker.RecoveryConfig{MaxDisconnection: o.recovery, SkipMiddlewares: true},
		Parser:   o.parser,
	}
	srv, err := broker.New(cfg)
	if err != nil {
		t.Fatalf("broker.New: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Start(ctx); err != nil {
		t.Fatalf("broker Start: %v", err)
	}
	ts := &testServer{srv: srv, log: &eventLog{}}
	installApp(srv, ts.log, &ts.bg)

	mux := http.NewServeMux()
	mux.Handle("/socket.io/", srv)
	hs := httptest.NewServer(mux)
	as := httptest.NewServer(api.New(api.Config{Key: apiKey}, srv))
	ts.url, ts.apiURL = hs.URL, as.URL
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("broker Shutdown: %v", err)
		}
		ts.bg.Wait()
		as.Close()
		hs.Close()
	})
	return ts
}

// eventLog records what the test application saw, for tests to poll.
type eventLog struct {
	mu      sync.Mutex
	records []record
}

type record struct {
	Kind      string    `json:"kind"` // connect, disconnect, whoami
	ID        string    `json:"id"`
	SID       string    `json:"sid,omitempty"` // Engine.IO session id
	Nsp       string    `json:"nsp"`
	Reason    string    `json:"reason,omitempty"`
	Transport string    `json:"transport,omitempty"`
	Recovered bool      `json:"recovered"`
	At        time.Time `json:"-"`
}

func (l *eventLog) add(r record) {
	r.At = time.Now()
	l.mu.Lock()
	l.records = append(l.records, r)
	l.mu.Unlock()
}

func (l *eventLog) all() []record {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]record(nil), l.records...)
}

// find returns the first record of kind for socket id.
func (l *eventLog) find(kind, id string) (record, bool) {
	for _, r := range l.all() {
		if r.Kind == kind && r.ID == id {
			return r, true
		}
	}
	return record{}, false
}

// waitFor polls until the record of kind for id exists.
func (l *eventLog) waitFor(t *testing.T, kind, id string) record {
	t.Helper()
	var rec record
	eventually(t, 5*time.Second, fmt.Sprintf("%s record for %s", kind, id), func() bool {
		var ok bool
		rec, ok = l.find(kind, id)
		return ok
	})
	return rec
}

// eventually polls cond every 10ms until it holds or d passes.
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitIdle waits until the broker holds no Engine.IO session.
func (ts *testServer) waitIdle(t *testing.T) {
	t.Helper()
	eventually(t, 5*time.Second, "every Engine.IO session closed", func() bool { return ts.srv.Engine().Len() == 0 })
}

// requireNode finds node and the npm packages. It skips only when node is
// missing outside CI.
func requireNode(t *testing.T) string {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		if os.Getenv("CI") == "" {
			t.Skip("node not found in PATH (set CI=1 to make this a failure)")
		}
		t.Fatalf("node not found in PATH: install Node.js >= 18, then run `npm ci` in integration/")
	}
	for _, pkg := range []string{"socket.io-client", "socket.io", "ws"} {
		if _, err := os.Stat(filepath.Join("node_modules", pkg, "package.json")); err != nil {
			t.Fatalf("integration/node_modules/%s is missing: run `npm ci` in integration/ (%v)", pkg, err)
		}
	}
	return node
}

// nodeRun is one running Node script. Its stdout is read line by line;
// lines that are JSON objects are kept in order.
type nodeRun struct {
	t      *testing.T
	name   string
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	lines  chan map[string]any
	stderr *lockedBuffer
	done   chan struct{} // closed once the stdout reader finished

	mu     sync.Mutex
	seen   []map[string]any
	raw    []string
	waited bool
}

type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// startNode runs `node js/<script> args...` with env added to ours. The
// script has its own timeout (TIMEOUT_MS); the process is also killed
// after 45s whatever happens.
func startNode(t *testing.T, script string, env []string, args ...string) *nodeRun {
	t.Helper()
	node := requireNode(t)
	cmd := exec.Command(node, append([]string{filepath.Join("js", script)}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	cmd.WaitDelay = 2 * time.Second
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	r := &nodeRun{
		t: t, name: script + " " + strings.Join(args, " "), cmd: cmd, stdin: stdin,
		lines: make(chan map[string]any, 1024), stderr: &lockedBuffer{}, done: make(chan struct{}),
	}
	cmd.Stderr = r.stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", r.name, err)
	}
	kill := time.AfterFunc(45*time.Second, func() { _ = cmd.Process.Kill() })
	go func() {
		defer close(r.done)
		defer close(r.lines)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
		for sc.Scan() {
			line := sc.Text()
			r.mu.Lock()
			r.raw = append(r.raw, line)
			r.mu.Unlock()
			var m map[string]any
			if json.Unmarshal([]byte(line), &m) == nil {
				r.lines <- m
			}
		}
	}()
	t.Cleanup(func() {
		kill.Stop()
		r.mu.Lock()
		waited := r.waited
		r.mu.Unlock()
		if !waited {
			_ = cmd.Process.Kill()
			r.drain()
			_ = cmd.Wait()
		}
	})
	return r
}

func (r *nodeRun) drain() {
	for m := range r.lines {
		r.mu.Lock()
		r.seen = append(r.seen, m)
		r.mu.Unlock()
	}
	<-r.done
}

// next returns the next JSON line that has key, within d.
func (r *nodeRun) next(key string, d time.Duration) map[string]any {
	r.t.Helper()
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		select {
		case m, ok := <-r.lines:
			if !ok {
				r.t.Fatalf("%s exited before printing %q\n%s", r.name, key, r.transcript())
			}
			r.mu.Lock()
			r.seen = append(r.seen, m)
			r.mu.Unlock()
			if f, ok := m["fail"]; ok {
				r.t.Fatalf("%s failed: %v\n%s", r.name, f, r.transcript())
			}
			if _, ok := m[key]; ok {
				return m
			}
		case <-timer.C:
			r.t.Fatalf("%s printed no %q within %v\n%s", r.name, key, d, r.transcript())
		}
	}
}

// send writes one line to the script's stdin.
func (r *nodeRun) send(line string) {
	r.t.Helper()
	if _, err := io.WriteString(r.stdin, line+"\n"); err != nil {
		r.t.Fatalf("write to %s: %v", r.name, err)
	}
}

// wait waits for the script to exit and fails the test unless it exited
// with status 0 after printing {"done": ...}. It returns every JSON line.
func (r *nodeRun) wait() []map[string]any {
	r.t.Helper()
	r.drain()
	err := r.cmd.Wait()
	r.mu.Lock()
	r.waited = true
	seen := append([]map[string]any(nil), r.seen...)
	r.mu.Unlock()
	for _, m := range seen {
		if f, ok := m["fail"]; ok {
			r.t.Fatalf("%s failed: %v\n%s", r.name, f, r.transcript())
		}
	}
	if err != nil {
		r.t.Fatalf("%s: %v\n%s", r.name, err, r.transcript())
	}
	if len(seen) == 0 || seen[len(seen)-1]["done"] == nil {
		r.t.Fatalf("%s exited without {\"done\"}\n%s", r.name, r.transcript())
	}
	return seen
}

func (r *nodeRun) transcript() string {
	r.mu.Lock()
	out := strings.Join(r.raw, "\n")
	r.mu.Unlock()
	if s := r.stderr.String(); s != "" {
		out += "\n--- stderr ---\n" + s
	}
	return "--- stdout ---\n" + out
}

// runScenario runs one js/client.js scenario to completion and returns
// its {"result": ...} object (nil when it printed none).
func runScenario(t *testing.T, ts *testServer, scenario string, env ...string) map[string]any {
	t.Helper()
	r := startNode(t, "client.js", append([]string{"URL=" + ts.url, "TIMEOUT_MS=20000"}, env...), scenario)
	lines := r.wait()
	for _, m := range lines {
		if o, ok := m["ok"]; ok {
			t.Logf("ok: %v", o)
		}
	}
	for _, m := range lines {
		if res, ok := m["result"].(map[string]any); ok {
			return res
		}
	}
	return nil
}

// goroutinesSettle waits until runtime.NumGoroutine is back to at most
// baseline.
func goroutinesSettle(t *testing.T, baseline int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		n := runtime.NumGoroutine()
		if n <= baseline {
			return
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			t.Fatalf("goroutines: %d, baseline %d\n%s", n, baseline, buf)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// startReference runs js/reference-server.js (socket.io@4.8.1) with env
// and returns its URL. The process is killed when the test ends.
func startReference(t *testing.T, env ...string) string {
	t.Helper()
	r := startNode(t, "reference-server.js", append([]string{"TIMEOUT_MS=60000"}, env...))
	return r.next("url", 10*time.Second)["url"].(string)
}
