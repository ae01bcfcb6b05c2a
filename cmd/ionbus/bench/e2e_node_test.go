package bench

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// nodePeer is bench/node-peer/server.js (socket.io@4.8.1 from integration/node_modules).
type nodePeer struct {
	url, api string
	pid      int
}

var listenLine = regexp.MustCompile(`io=(http://[^ ]+?)/socket\.io/ api=(http://\S+) pid=(\d+)`)

const peerAPIKey = "bench-test-key"

func startNodePeer(t *testing.T, extra ...string) nodePeer {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("node is required in CI: %v", err)
		}
		t.Skip("node not installed")
	}
	root, err := filepath.Abs("../../..")
	if err != nil {
		t.Fatal(err)
	}
	modules := filepath.Join(root, "integration", "node_modules")
	if _, err := os.Stat(filepath.Join(modules, "socket.io")); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("socket.io missing: run npm ci in integration/: %v", err)
		}
		t.Skip("integration/node_modules/socket.io not installed")
	}
	ctx, cancel := context.WithCancel(context.Background())
	args := append([]string{filepath.Join(root, "bench", "node-peer", "server.js"),
		"--port", "0", "--api-port", "0", "--api-key", peerAPIKey}, extra...)
	cmd := exec.CommandContext(ctx, node, args...)
	cmd.Env = append(os.Environ(), "NODE_PATH="+modules)
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
	})
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			default:
			}
		}
	}()
	select {
	case line := <-lines:
		m := listenLine.FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("unexpected node-peer output %q", line)
		}
		pid, _ := strconv.Atoi(m[3])
		return nodePeer{url: m[1], api: m[2], pid: pid}
	case <-time.After(15 * time.Second):
		t.Fatal("node-peer did not start")
	}
	return nodePeer{}
}

// Sockets must survive several heartbeats: the client answers "2" with "3"
// on both transports, or the server drops them after pingInterval+pingTimeout.
func TestNodePeerHeartbeat(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	peer := startNodePeer(t, "--ping-interval", "200", "--ping-timeout", "300")
	r, code, _ := runBench(t, "idle", "--url", peer.url, "-n", "40", "--polling-share", "0.5", "--hold", "2s",
		"--expect", "dropped=0,connected=40")
	if code != ExitOK || r.Sockets.Dropped != 0 {
		t.Fatalf("exit %d sockets %+v", code, r.Sockets)
	}
	// 40 sockets × 2s / 200ms ≈ 400 pings; allow for the ramp and timer slack.
	if r.Sockets.Pings < 250 {
		t.Errorf("only %d pings answered", r.Sockets.Pings)
	}
}

func runBench(t *testing.T, args ...string) (*Report, int, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "report.json")
	var out, errb bytes.Buffer
	code := Main(t.Context(), append(args, "--json", path, "--progress", "off"), &out, &errb)
	t.Logf("ionbus bench %s → exit %d\n%s%s", strings.Join(args, " "), code, out.String(), errb.String())
	r, err := readReportFile(path)
	if err != nil {
		t.Fatalf("report: %v", err)
	}
	return r, code, out.String()
}

func TestNodePeerEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	peer := startNodePeer(t)
	pid := strconv.Itoa(peer.pid)

	t.Run("idle", func(t *testing.T) {
		r, code, out := runBench(t, "idle", "--url", peer.url, "-n", "200", "--rate", "2000", "--hold", "1s",
			"--polling-share", "0.1", "--server-pid", pid, "--expect", "failures=0,connected=200,p99<5s")
		if code != ExitOK || !r.Passed {
			t.Fatalf("exit %d", code)
		}
		if r.Sockets.Connected != 200 || r.Sockets.Polling != 20 || r.Sockets.Dropped != 0 || r.Connect.Count != 200 {
			t.Errorf("sockets %+v connect n=%d", r.Sockets, r.Connect.Count)
		}
		if r.Connect.P50MS <= 0 || r.Connect.P99MS < r.Connect.P50MS || r.Connect.MaxMS < r.Connect.P99MS {
			t.Errorf("connect percentiles %+v", r.Connect)
		}
		if r.Server == nil || r.Server.PID != peer.pid || r.Server.RSSAfterBytes <= 0 || r.Server.WindowS < 0.9 {
			t.Errorf("server stats %+v", r.Server)
		}
		// RSS is noisy at 200 sockets; Go heap+stacks is not.
		if r.Client.RSSAfterBytes <= 0 || r.Client.GoMemPerSocketBytes < 1024 {
			t.Errorf("client stats %+v", r.Client)
		}
		if !strings.Contains(out, "200/200 connected (20 polling)") {
			t.Errorf("summary:\n%s", out)
		}
	})

	t.Run("fanout-api", func(t *testing.T) {
		r, code, _ := runBench(t, "fanout", "--url", peer.url, "-n", "200", "--rate", "2000", "--polling-share", "0.1",
			"--broadcasts", "5", "--interval", "100ms", "--api", peer.api, "--api-key", peerAPIKey,
			"--server-pid", pid, "--expect", "missing=0,duplicates=0,failures=0")
		if code != ExitOK {
			t.Fatalf("exit %d", code)
		}
		f := r.Fanout
		if f == nil || f.Receivers != 200 || f.Expected != 1000 || f.Deliveries != 1000 || f.Missing != 0 ||
			f.Duplicates != 0 || f.Unexpected != 0 || f.TriggerErrors != 0 {
			t.Fatalf("fanout %+v", f)
		}
		if f.Delivery.Count != 1000 || f.AllDelivered.Count != 5 || len(f.Rounds) != 5 || f.DeliveriesPerSec <= 0 || f.BurstPerSec < f.DeliveriesPerSec || f.Trigger.Count != 5 {
			t.Errorf("fanout latency %+v all %+v rounds %d rate %v", f.Delivery, f.AllDelivered, len(f.Rounds), f.DeliveriesPerSec)
		}
		// 1000 broadcasts + 200 join acks + 200 room_joined events
		if r.Sockets.Packets != 1400 {
			t.Errorf("packets received %d, want 1400", r.Sockets.Packets)
		}
		for _, rd := range f.Rounds {
			if rd.Delivered != 200 || rd.AllDeliveredMS <= 0 || rd.AllDeliveredMS < f.Delivery.MinMS {
				t.Errorf("round %+v", rd)
			}
		}
		if r.Metrics["missing"] != 0 || r.Metrics["p99"] != f.Delivery.P99MS {
			t.Errorf("metrics %v", r.Metrics)
		}
	})

	t.Run("fanout-wrong-key-fails", func(t *testing.T) {
		r, code, _ := runBench(t, "fanout", "--url", peer.url, "-n", "5", "--broadcasts", "2", "--interval", "10ms",
			"--drain", "300ms", "--api", peer.api, "--api-key", "wrong", "--expect", "missing=0")
		if code != ExitExpect || r.Fanout.TriggerErrors != 2 || r.Fanout.Missing != 10 {
			t.Errorf("exit %d fanout %+v", code, r.Fanout)
		}
		if r.Sockets.Failures["trigger: api status 401: {\"error\":\"unauthorized\"}"] != 2 {
			t.Errorf("failures %v", r.Sockets.Failures)
		}
	})

	t.Run("fanout-join-unanswered", func(t *testing.T) {
		r, code, _ := runBench(t, "fanout", "--url", peer.url, "-n", "3", "--join-event", "no_such_event",
			"--timeout", "500ms", "--broadcasts", "1", "--drain", "100ms", "--api", peer.api, "--api-key", peerAPIKey)
		if code != ExitRunError || r.Fanout.Receivers != 0 || r.Sockets.Failures["join: no ack or room_joined"] != 3 {
			t.Errorf("exit %d receivers %d failures %v", code, r.Fanout.Receivers, r.Sockets.Failures)
		}
	})

	t.Run("fanout-event-namespace", func(t *testing.T) {
		r, code, _ := runBench(t, "fanout", "--url", peer.url, "-n", "50", "--namespace", "/custom", "--room", "",
			"--broadcasts", "3", "--interval", "50ms", "--trigger", "event:bench_emit", "--expect", "missing=0")
		if code != ExitOK || r.Fanout.Deliveries != 150 || r.Fanout.Trigger.Count != 3 {
			t.Errorf("exit %d fanout %+v", code, r.Fanout)
		}
	})

	t.Run("fanout-shards-merge", func(t *testing.T) {
		dir := t.TempDir()
		var wg sync.WaitGroup
		codes := make([]int, 2)
		for i := 0; i < 2; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var out bytes.Buffer
				codes[i] = Main(t.Context(), []string{"fanout", "--url", peer.url, "-n", "100", "--shard", strconv.Itoa(i) + "/2",
					"--broadcasts", "3", "--interval", "50ms", "--start-delay", "1s", "--drain", "3s", "--api", peer.api,
					"--api-key", peerAPIKey, "--progress", "off", "--json", filepath.Join(dir, strconv.Itoa(i)+".json")}, &out, &out)
			}()
		}
		wg.Wait()
		if codes[0] != 0 || codes[1] != 0 {
			t.Fatalf("shard exits %v", codes)
		}
		var out, errb bytes.Buffer
		code := Main(t.Context(), []string{"merge", "--expect", "missing=0,deliveries=300", "--json", filepath.Join(dir, "m.json"),
			filepath.Join(dir, "0.json"), filepath.Join(dir, "1.json")}, &out, &errb)
		t.Log(out.String(), errb.String())
		if code != ExitOK {
			t.Fatalf("merge exit %d", code)
		}
	})

	t.Run("echo", func(t *testing.T) {
		r, code, _ := runBench(t, "echo", "--url", peer.url, "-n", "20", "--duration", "1s", "--inflight", "2",
			"--polling-share", "0.1", "--expect", "timeouts=0,acks>100")
		if code != ExitOK || r.Echo == nil || r.Echo.RTT.Count < 100 || r.Echo.AcksPerS <= 0 {
			t.Errorf("exit %d echo %+v", code, r.Echo)
		}
	})

	// Open loop: the pacer issues --echo-rate emits a second whatever the
	// server's speed (late ticks catch up), each either sent or counted as
	// skipped when its socket has --inflight outstanding; it never exceeds
	// the rate. How many are skipped depends on the box's load, so only
	// the sum is checked (at most 10 × 4 emits are still in flight at the
	// end and neither acked nor skipped).
	t.Run("echo-open-loop", func(t *testing.T) {
		r, code, _ := runBench(t, "echo", "--url", peer.url, "-n", "10", "--duration", "1s", "--echo-rate", "500",
			"--inflight", "4", "--expect", "timeouts=0,acks>=1")
		if code != ExitOK || r.Echo.AcksPerS > 600 {
			t.Fatalf("exit %d echo %+v", code, r.Echo)
		}
		if issued := r.Echo.Acks + r.Echo.Skipped; issued < 500-10*4-20 || issued > 500 {
			t.Errorf("%d acked + %d skipped = %d emits issued in 1 s at 500/s", r.Echo.Acks, r.Echo.Skipped, issued)
		}
	})

	t.Run("churn", func(t *testing.T) {
		r, code, _ := runBench(t, "churn", "--url", peer.url, "--rate", "100", "--duration", "1s", "--concurrency", "20",
			"--hold", "50ms", "--expect", "failures=0,cycles>=20") // 100 expected; slack for a loaded CI box
		if code != ExitOK || r.Churn == nil || int64(r.Churn.Cycle.Count) != r.Churn.Cycles || r.Sockets.PeakOpen < 2 {
			t.Errorf("exit %d churn %+v sockets %+v", code, r.Churn, r.Sockets)
		}
	})
}
