package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gobwas/ws/wsutil"
	"github.com/golang-jwt/jwt/v5"

	"github.com/ionbus/ionbus/internal/redistest"
	"github.com/ionbus/ionbus/internal/wstest"
)

// TestEmbeddedNode runs the example as its doc comment says, on a real
// Redis, and asks its own handler who the token's user is.
func TestEmbeddedNode(t *testing.T) {
	const secret = "0123456789abcdef0123456789abcdef"
	bin := filepath.Join(t.TempDir(), "embed")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.Command(bin)
	var out syncBuilder
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.Env = append(os.Environ(), "REDIS_URL="+redistest.Start(t).URL(), "JWT_SECRET="+secret,
		"IONBUS_LISTEN="+addr, "IONBUS_API_LISTEN=127.0.0.1:0", "IONBUS_NODE_ID=embed-1")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		if err := cmd.Wait(); err != nil {
			t.Errorf("exit: %v\n%s", err, out.String())
		}
	}()

	tok, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": "ada", "exp": time.Now().Add(time.Hour).Unix()}).SignedString([]byte(secret))
	var conn net.Conn
	for deadline := time.Now().Add(20 * time.Second); ; {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		conn, err = wstest.Dial(ctx, "ws://"+addr+"/socket.io/?EIO=4&transport=websocket", nil)
		cancel()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("node never listened: %v\n%s", err, out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	for _, step := range []struct{ send, want string }{
		{"", "0{"},
		{fmt.Sprintf(`40{"token":%q}`, tok), `40{"sid":`},
		{`421["whoami"]`, `431["ada","embed-1"]`},
	} {
		if step.send != "" {
			if err := wsutil.WriteClientText(conn, []byte(step.send)); err != nil {
				t.Fatal(err)
			}
		}
		msg, err := wsutil.ReadServerText(conn)
		for err == nil && strings.HasPrefix(string(msg), `42["presence:`) { // the namespace's presence events
			msg, err = wsutil.ReadServerText(conn)
		}
		if err != nil || !strings.HasPrefix(string(msg), step.want) {
			t.Fatalf("after %q: got %q (%v), want %s…\n%s", step.send, msg, err, step.want, out.String())
		}
	}
}

// syncBuilder is the program's output, written by exec's copying
// goroutines while the test reads it.
type syncBuilder struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuilder) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuilder) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
