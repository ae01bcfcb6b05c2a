package main

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestSignalShutdown runs the real process (this test binary re-executed
// as ionbus), opens a session, sends SIGTERM and expects a clean exit 0.
func TestSignalShutdown(t *testing.T) {
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), "IONBUS_TEST_EXEC_ARGS=serve --listen 127.0.0.1:0 --api-listen 127.0.0.1:0",
		"IONBUS_API_KEY=signal-test-key")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()

	lines := bufio.NewScanner(out)
	var listen string
	var logged []string
	for listen == "" && lines.Scan() {
		logged = append(logged, lines.Text())
		var ev struct{ Message, Listen string }
		if json.Unmarshal(lines.Bytes(), &ev) == nil && ev.Message == "ionbus serving" {
			listen = ev.Listen
		}
	}
	if listen == "" {
		t.Fatalf("no \"ionbus serving\" log line: %q", logged)
	}
	if code, body := get(t, "http://"+listen+"/socket.io/?EIO=4&transport=polling"); code != 200 || !strings.HasPrefix(body, "0{") {
		t.Fatalf("handshake: %d %q", code, body)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	go func() {
		for lines.Scan() {
			logged = append(logged, lines.Text())
		}
	}()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("no exit within 15s of SIGTERM")
	}
}
