package node

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/rs/zerolog"
)

func TestRedisLoggerWritesJSON(t *testing.T) {
	var buf bytes.Buffer
	l := redisLogger{zerolog.New(&buf).With().Str("component", "go-redis").Logger()}
	l.Printf(context.Background(), "redis: connection pool: failed to dial after %d attempts: %s", 5, "refused")
	var line map[string]any
	if err := json.Unmarshal(bytes.TrimSpace(buf.Bytes()), &line); err != nil {
		t.Fatalf("not one JSON line: %q", buf.String())
	}
	if line["level"] != "warn" || line["component"] != "go-redis" || !strings.Contains(line["message"].(string), "5 attempts") {
		t.Fatalf("line %v", line)
	}
}

// Console logs into a pipe or a file carry no colour codes.
func TestConsoleLogNoColourOffTerminal(t *testing.T) {
	var buf bytes.Buffer
	log, err := NewLogger(LogConfig{Level: "info", Format: "console"}, &buf)
	if err != nil {
		t.Fatal(err)
	}
	log.Warn().Str("k", "v").Msg("hello")
	if out := buf.String(); !strings.Contains(out, "hello") || strings.Contains(out, "\x1b[") {
		t.Fatalf("console log off a terminal: %q", out)
	}
}
