// Package leakcheck is the TestMain of the packages whose tests must not
// leave goroutines behind.
package leakcheck

import (
	"fmt"
	"os"
	"testing"

	"go.uber.org/goleak"
)

// Main runs the tests, then the cleanups in order (stopping what the
// tests shared: a redis-server, an HTTP client's idle keep-alive
// connections, which are not leaks of the code under test), then, when
// the tests passed, fails the package if goroutines are left behind. It
// exits the process with the result.
func Main(m *testing.M, cleanups ...func()) {
	code := m.Run()
	for _, f := range cleanups {
		f()
	}
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}
