package bridge

import (
	"testing"

	"github.com/ionbus/ionbus/internal/leakcheck"
	"github.com/ionbus/ionbus/internal/redistest"
)

// sharedRedis is one redis-server for the package's Redis tests; each
// test uses its own key prefix and stream keys.
var sharedRedis redistest.Shared

func TestMain(m *testing.M) { leakcheck.Main(m, sharedRedis.Stop) }
