// Package leakcheck is the TestMain of the packages whose tests must not
// leave goroutines behind.
package leakcheck

import (
	"fmt"
	"os"
	"testing"
	"time"

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
		// goleak retries for about half a second; some library goroutines
		// take longer to notice a Close (go-redis's redial probe of a
		// dead node sleeps 1 s between attempts), so look a few times.
		var err error
		for deadline := time.Now().Add(3 * time.Second); ; time.Sleep(250 * time.Millisecond) {
			if err = goleak.Find(); err == nil || time.Now().After(deadline) {
				break
			}
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}
