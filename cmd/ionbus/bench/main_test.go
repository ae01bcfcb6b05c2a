package bench

import (
	"testing"

	"go.uber.org/goleak"
)

// Every mode must stop all of its goroutines by itself.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
