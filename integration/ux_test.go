package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestRoomEventsOffNodeClient: socket.io-client's join_room / leave_room
// in a namespace without rooms.allow get ROOM_NOT_ALLOWED from a real
// `ionbus serve`: the error event every time, and an error ack when the
// client asked for one.
func TestRoomEventsOffNodeClient(t *testing.T) {
	node := requireNode(t)
	n := startIonbusYAML(t, "rooms-off", func(port, apiPort int) string {
		return fmt.Sprintf("listen: \"127.0.0.1:%d\"\napi: {listen: \"127.0.0.1:%d\", key: %s}\nnamespaces: [{name: /}]\n", port, apiPort, clusterAPIKey)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, filepath.Join("js", "rooms-off.js"))
	cmd.Env = append(cmd.Environ(), "URL="+n.url())
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("rooms-off.js: %v\n%s", err, out)
	}
	type payload struct {
		Code    string         `json:"error_code"`
		Alias   string         `json:"code"`
		Success *bool          `json:"success"`
		Room    string         `json:"room_name"`
		Details map[string]any `json:"error_details"`
		Error   struct{ Code string }
	}
	var got struct {
		Acks   []payload `json:"acks"`
		Errors []payload `json:"errors"`
		Fatal  string    `json:"fatal"`
	}
	if err := json.Unmarshal(out, &got); err != nil || got.Fatal != "" {
		t.Fatalf("output %q: %v", out, err)
	}
	if len(got.Acks) != 2 || len(got.Errors) != 3 {
		t.Fatalf("acks %+v errors %+v", got.Acks, got.Errors)
	}
	for i, a := range got.Acks {
		if a.Code != "ROOM_NOT_ALLOWED" || a.Success == nil || *a.Success || a.Error.Code != "ROOM_NOT_ALLOWED" || a.Room != "lobby" {
			t.Errorf("ack %d: %+v", i, a)
		}
	}
	for i, e := range got.Errors {
		if e.Code != "ROOM_NOT_ALLOWED" || e.Alias != "ROOM_NOT_ALLOWED" || e.Details["room_name"] != "lobby" {
			t.Errorf("error event %d: %+v", i, e)
		}
	}
}

// TestServeProbesBinary: the real binary serves /healthz and /readyz on
// its public port, and on SIGTERM with shutdown_delay answers 503
// draining there while it still serves, then exits 0.
func TestServeProbesBinary(t *testing.T) {
	n := startIonbusYAML(t, "probes", func(port, apiPort int) string {
		return fmt.Sprintf("listen: \"127.0.0.1:%d\"\napi: {listen: \"127.0.0.1:%d\", key: %s}\nshutdown_delay: 2s\n", port, apiPort, clusterAPIKey)
	})
	status := func(url string) (int, string) {
		resp, err := n.http.Get(url)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		var h struct{ Status string }
		_ = json.NewDecoder(resp.Body).Decode(&h)
		return resp.StatusCode, h.Status
	}
	for _, path := range []string{"/healthz", "/readyz"} {
		if code, st := status(n.url() + path); code != 200 || st != "ok" {
			t.Fatalf("public %s: %d %s", path, code, st)
		}
	}
	start := time.Now()
	if err := n.p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	var code int
	var st string
	poll(t, 2*time.Second, func() string { return fmt.Sprintf("readyz %d %s\n%s", code, st, n.p.out.String()) }, func() bool {
		code, st = status(n.url() + "/readyz")
		return code == http.StatusServiceUnavailable && st == "draining"
	})
	if code, st := status(n.apiURL() + "/healthz"); code != 503 || st != "draining" {
		t.Fatalf("api healthz while draining: %d %s", code, st)
	}
	select {
	case <-n.p.done:
	case <-time.After(15 * time.Second):
		t.Fatal("no exit after SIGTERM")
	}
	if n.p.err != nil || time.Since(start) < 2*time.Second {
		t.Fatalf("exit %v after %v\n%s", n.p.err, time.Since(start), n.p.out.String())
	}
}

// TestCLIBinary: the real binary's --version, help, and usage errors
// (exit 2, printed once).
func TestCLIBinary(t *testing.T) {
	bin := ionbusBinary(t)
	runBin := func(env []string, args ...string) (int, string, string) {
		cmd := exec.Command(bin, args...)
		cmd.Env = append(cmd.Environ(), env...)
		var out, errb strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return code, out.String(), errb.String()
	}
	if code, out, _ := runBin(nil, "--version"); code != 0 || !strings.HasPrefix(out, "ionbus ") {
		t.Fatalf("--version: %d %q", code, out)
	}
	_, _, help := runBin(nil, "help", "serve")
	if _, _, h := runBin(nil, "serve", "-h"); h != help || !strings.Contains(help, "env IONBUS_LISTEN; default \":4000\"") {
		t.Fatalf("help serve %q\nserve -h %q", help, h)
	}
	for _, tc := range []struct {
		env  []string
		args []string
		once string
	}{
		{nil, []string{"serve", "--bogus"}, "-bogus"},
		{nil, []string{"emit", "--bogus"}, "-bogus"},
		{nil, []string{"token", "--bogus"}, "-bogus"},
		{nil, []string{"bench", "idle", "--bogus"}, "-bogus"},
		{[]string{"IONBUS_AUTH_JWT_SECRET=short"}, []string{"token", "--sub", "u"}, "too short"},
	} {
		code, out, errs := runBin(tc.env, tc.args...)
		if code != 2 || out != "" || strings.Count(errs, tc.once) != 1 {
			t.Errorf("%v: exit %d stdout %q stderr %q", tc.args, code, out, errs)
		}
	}
	// serve's variable mints tokens serve accepts.
	if code, out, errs := runBin([]string{"IONBUS_AUTH_JWT_SECRET=" + clusterSecret}, "token", "--sub", "u"); code != 0 || strings.Count(out, ".") != 2 {
		t.Fatalf("token: %d %q %q", code, out, errs)
	}
}
