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
