package online

import (
	"testing"

	"github.com/ionbus/ionbus/internal/leakcheck"
)

func TestMain(m *testing.M) { leakcheck.Main(m) }
