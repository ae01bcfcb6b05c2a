package system

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func fixture(t *testing.T, name string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func TestParseStat(t *testing.T) {
	tm, cores := parseStat(fixture(t, "stat"))
	// user nice system idle iowait irq softirq steal; guest columns left out.
	if want := (cpuTimes{idle: 76401 + 425, total: 80334 + 145 + 19930 + 76401 + 425 + 0 + 543 + 128}); tm != want || cores != 2 {
		t.Fatalf("got %+v, %d cores; want %+v, 2", tm, cores, want)
	}
	if tm, cores := parseStat("garbage\n"); tm != (cpuTimes{}) || cores != 0 {
		t.Fatalf("garbage: %+v %d", tm, cores)
	}
}

// TestCPUUsage: usage is the busy share between two readings; readings
// closer than minCPUWindow reuse the last value.
func TestCPUUsage(t *testing.T) {
	h := &Host{}
	t0 := time.Unix(1000, 0)
	a, _ := parseStat(fixture(t, "stat"))
	b, _ := parseStat(fixture(t, "stat2"))
	if u := h.cpuUsage(a, t0); u != 0 {
		t.Fatalf("first reading: %v, want 0 (nothing to compare with)", u)
	}
	// 200 ticks passed, 50 of them idle (idle 50, iowait 0): 75 % busy.
	if u := h.cpuUsage(b, t0.Add(time.Second)); u != 75 {
		t.Fatalf("usage %v, want 75", u)
	}
	if u := h.cpuUsage(a, t0.Add(time.Second+minCPUWindow/2)); u != 75 {
		t.Fatalf("a reading within the window: %v, want the last usage 75", u)
	}
	// No tick passed (a counter that went back): the last value stays.
	if u := h.cpuUsage(a, t0.Add(3*time.Second)); u != 75 {
		t.Fatalf("after a counter reset: %v", u)
	}
}

func TestParseLoadavg(t *testing.T) {
	got, ok := parseLoadavg(fixture(t, "loadavg"))
	if !ok || got != [3]float64{0.52, 1.25, 2} {
		t.Fatalf("%v %v", got, ok)
	}
	if _, ok := parseLoadavg("1.0 x 2"); ok {
		t.Fatal("accepted a bad number")
	}
}

func TestParseMeminfo(t *testing.T) {
	m := parseMeminfo(fixture(t, "meminfo"))
	want := UsageSample{Total: 8000000 * 1024, Used: 2000000 * 1024, Free: 6000000 * 1024, Percentage: 25}
	if m != want {
		t.Fatalf("got %+v, want %+v", m, want)
	}
	// Before MemAvailable (kernel < 3.14): free + buffers + cached.
	old := parseMeminfo("MemTotal: 1000 kB\nMemFree: 100 kB\nBuffers: 50 kB\nCached: 100 kB\n")
	if old.Free != 250*1024 || old.Percentage != 75 {
		t.Fatalf("old kernel: %+v", old)
	}
}

func TestParseNetDev(t *testing.T) {
	got := parseNetDev(fixture(t, "net/dev"))
	want := NetworkSample{BytesReceived: 1500, PacketsReceived: 15, BytesSent: 2700, PacketsSent: 27}
	if got != want {
		t.Fatalf("got %+v, want %+v (lo excluded)", got, want)
	}
}

// TestHostSample reads a whole fixture tree, as on a host.
func TestHostSample(t *testing.T) {
	root := t.TempDir()
	for _, name := range []string{"stat", "loadavg", "meminfo", "net/dev"} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(root, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, name), []byte(fixture(t, name)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	h := NewHost(root, t.TempDir())
	s := h.Sample()
	if s.CPU.Cores != 2 || s.CPU.LoadAverage[2] != 2 || s.Memory.Percentage != 25 || s.Network.BytesSent != 2700 {
		t.Fatalf("sample %+v", s)
	}
	if s.Disk.Total == 0 || s.Disk.Used+s.Disk.Free != s.Disk.Total || s.Disk.Percentage < 0 || s.Disk.Percentage > 100 {
		t.Fatalf("disk %+v", s.Disk)
	}
	// No procfs at all: zeros, and the cores from the runtime.
	if s := NewHost(filepath.Join(root, "missing"), filepath.Join(root, "missing")).Sample(); s.CPU.Cores == 0 || s.Memory.Total != 0 || s.Disk.Total != 0 {
		t.Fatalf("without procfs: %+v", s)
	}
}
