package api

import (
	"os"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
)

// RuntimeStats is the process part of GET /api/v1/stats: what an
// operator looks at first when a node misbehaves (a goroutine or heap
// that only grows), without the pprof endpoint.
type RuntimeStats struct {
	Goroutines int    `json:"goroutines"`
	GOMAXPROCS int    `json:"gomaxprocs"`
	HeapBytes  uint64 `json:"heap_bytes"`      // live and not yet swept heap objects
	GoMemBytes uint64 `json:"go_memory_bytes"` // everything the Go runtime mapped
	GCCycles   uint64 `json:"gc_cycles_total"`
	// RSSBytes is the resident set from /proc/self/statm; 0 where that
	// file does not exist.
	RSSBytes uint64 `json:"rss_bytes"`
}

// runtimeSamples are read with runtime/metrics, which, unlike
// runtime.ReadMemStats, does not stop the world.
var runtimeSamples = []string{
	"/memory/classes/heap/objects:bytes",
	"/memory/classes/total:bytes",
	"/gc/cycles/total:gc-cycles",
}

func readRuntime() RuntimeStats {
	s := make([]metrics.Sample, len(runtimeSamples))
	for i, name := range runtimeSamples {
		s[i].Name = name
	}
	metrics.Read(s)
	u := func(i int) uint64 {
		if s[i].Value.Kind() == metrics.KindUint64 {
			return s[i].Value.Uint64()
		}
		return 0
	}
	return RuntimeStats{
		Goroutines: runtime.NumGoroutine(),
		GOMAXPROCS: runtime.GOMAXPROCS(0),
		HeapBytes:  u(0),
		GoMemBytes: u(1),
		GCCycles:   u(2),
		RSSBytes:   residentBytes(),
	}
}

// residentBytes is the second field of /proc/self/statm (pages) in bytes.
func residentBytes() uint64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0
	}
	pages, err := strconv.ParseUint(f[1], 10, 64)
	if err != nil {
		return 0
	}
	return pages * uint64(os.Getpagesize())
}
