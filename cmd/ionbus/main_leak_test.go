package main

import (
	"os"
	"strings"
	"testing"

	"github.com/ionbus/ionbus/internal/leakcheck"
)

// TestMain fails the package when its tests leave goroutines behind (the
// broker, its sessions, listeners or pending calls). The test HTTP
// client's idle keep-alive connections are closed first: they are not
// leaks of the code under test.
//
// With IONBUS_TEST_EXEC_ARGS set, the test binary is the ionbus binary
// instead (see TestSignalShutdown).
func TestMain(m *testing.M) {
	if args := os.Getenv("IONBUS_TEST_EXEC_ARGS"); args != "" {
		os.Args = append([]string{"ionbus"}, strings.Fields(args)...)
		main()
		return
	}
	leakcheck.Main(m, httpClient.CloseIdleConnections)
}
