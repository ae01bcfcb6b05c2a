package main

import (
	"testing"

	"github.com/ionbus/ionbus/internal/leakcheck"
)

// TestMain fails the package when its tests leave goroutines behind (the
// broker, its sessions, listeners or pending calls). The test HTTP
// client's idle keep-alive connections are closed first: they are not
// leaks of the code under test.
func TestMain(m *testing.M) { leakcheck.Main(m, httpClient.CloseIdleConnections) }
