// Package golden runs integration/adapter/golden.js, which records the
// bytes the real notepack.io, @socket.io/redis-adapter and
// @socket.io/redis-emitter produce, and hands them to Go tests.
package golden

import (
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
)

// Item is one recorded value or publish.
type Item struct {
	Name       string `json:"name"`
	Channel    string `json:"channel"`
	Hex        string `json:"hex"`
	RequestID  string `json:"requestId"`
	JSON       string `json:"json"`
	Bin        string `json:"bin"`
	DecodeOnly bool   `json:"decodeOnly"`
	Decoded    string `json:"decoded"` // JSON.stringify(notepack.decode(bytes))
}

// Bytes decodes Hex.
func (i Item) Bytes() []byte { b, _ := hex.DecodeString(i.Hex); return b }

// Data is the whole recording.
type Data struct {
	Notepack []Item `json:"notepack"`
	Classic  []Item `json:"classic"`
	Sharded  []Item `json:"sharded"`
	Emitter  []Item `json:"emitter"`
}

// Find returns the items named name, in publish order.
func Find(items []Item, name string) []Item {
	var out []Item
	for _, it := range items {
		if it.Name == name {
			out = append(out, it)
		}
	}
	return out
}

var (
	once sync.Once
	data *Data
	err  error
	out  []byte
)

// IntegrationDir is the absolute path of integration/.
func IntegrationDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "integration")
}

// NeedNode skips the test when node or the npm packages are missing and
// CI is unset; under CI it fails instead.
func NeedNode(t testing.TB) string {
	t.Helper()
	node, lerr := exec.LookPath("node")
	if lerr == nil {
		if _, serr := os.Stat(filepath.Join(IntegrationDir(), "node_modules", "@socket.io", "redis-adapter")); serr != nil {
			lerr = serr
		}
	}
	if lerr != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("node/npm packages missing under CI: %v", lerr)
		}
		t.Skipf("node or integration/node_modules missing: %v", lerr)
	}
	return node
}

// Load runs golden.js once per test binary.
func Load(t testing.TB) *Data {
	t.Helper()
	node := NeedNode(t)
	once.Do(func() {
		cmd := exec.Command(node, filepath.Join(IntegrationDir(), "adapter", "golden.js"))
		cmd.Stderr = os.Stderr
		out, err = cmd.Output()
		if err == nil {
			data = new(Data)
			err = json.Unmarshal(out, data)
		}
	})
	if err != nil {
		t.Fatalf("golden.js: %v", err)
	}
	return data
}
