package integration

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ionbus/ionbus/internal/redistest"
)

// TestREADMEClientAndEmitterSnippets runs the README's socket.io-client
// snippet (client.mjs) and its @socket.io/redis-emitter snippet
// (emit.mjs) as pasted, only the addresses pointed at a test node and
// its redis-server: the client prints the emitter's broadcast to "/".
func TestREADMEClientAndEmitterSnippets(t *testing.T) {
	requireClusterTools(t)
	node := requireNode(t)
	rs := redistest.Start(t)
	n := startIonbus(t, nodeSpec{ID: "readme", RedisURL: rs.URL(), Key: "socket.io"})[0]

	// The files live in integration/ so that its node_modules resolve.
	write := func(name, src string) string {
		t.Helper()
		p := filepath.Join(".", "readme-"+strings.ToLower(t.Name())+"-"+name)
		if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.Remove(p) })
		return p
	}
	client := readmeBlock(t, "js", "// client.mjs")
	emit := readmeBlock(t, "js", "// emit.mjs")
	if !strings.Contains(client, `"http://localhost:4000"`) || !strings.Contains(emit, `"redis://127.0.0.1:6379"`) {
		t.Fatal("the README snippets changed their addresses; update this test")
	}
	client = strings.Replace(client, "http://localhost:4000", n.url(), 1)
	emit = strings.Replace(emit, "redis://127.0.0.1:6379", rs.URL(), 1)

	cmd := exec.Command(node, write("client.mjs", client))
	out := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	// Emit until the client, once connected, prints the broadcast.
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(out.String(), "title: 'hello'") {
		if time.Now().After(deadline) {
			t.Fatalf("client.mjs printed %q; want the emitter's news", out.String())
		}
		e := exec.Command(node, write("emit.mjs", emit))
		if b, err := e.CombinedOutput(); err != nil {
			t.Fatalf("emit.mjs: %v\n%s", err, b)
		}
		time.Sleep(300 * time.Millisecond)
	}
	if strings.Contains(out.String(), "room only") {
		t.Fatalf("the client is in no room but got the room broadcast: %q", out.String())
	}
}
