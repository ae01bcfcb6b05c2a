package node

import (
	"testing"

	"github.com/ionbus/ionbus/internal/leakcheck"
)

// TestMain fails the package when its tests leave goroutines behind (a
// node's broker, sessions, listeners, heartbeats or Redis client).
func TestMain(m *testing.M) { leakcheck.Main(m, httpClient.CloseIdleConnections) }
