package system

import (
	"bufio"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"
)

// HostSample is the host's figures in the shape of the system:metrics
// event (camelCase keys, as the API documents give them). Byte counts
// are bytes; percentages are 0–100 with two decimals. A figure the host
// does not expose (no /proc: not Linux) is zero.
type HostSample struct {
	CPU     CPUSample     `json:"cpu"`
	Memory  UsageSample   `json:"memory"`
	Disk    UsageSample   `json:"disk"`
	Network NetworkSample `json:"network"`
}

// CPUSample: Usage is the share of CPU time not idle (iowait counts as
// idle) since the previous sample, over every core.
type CPUSample struct {
	Usage       float64    `json:"usage"`
	Cores       int        `json:"cores"`
	LoadAverage [3]float64 `json:"loadAverage"` // 1, 5 and 15 minutes
}

// UsageSample is memory (Used = MemTotal − MemAvailable, Free =
// MemAvailable) or the disk holding Host.DiskPath (Free = blocks
// available to unprivileged users).
type UsageSample struct {
	Total      uint64  `json:"total"`
	Used       uint64  `json:"used"`
	Free       uint64  `json:"free"`
	Percentage float64 `json:"percentage"`
}

// NetworkSample sums every interface but loopback, since boot.
type NetworkSample struct {
	BytesReceived   uint64 `json:"bytesReceived"`
	BytesSent       uint64 `json:"bytesSent"`
	PacketsReceived uint64 `json:"packetsReceived"`
	PacketsSent     uint64 `json:"packetsSent"`
}

// Host reads the host's figures from procfs (stat, meminfo, loadavg,
// net/dev under ProcRoot) and statfs. Safe for concurrent use.
type Host struct {
	procRoot, diskPath string

	mu      sync.Mutex
	prev    cpuTimes  // at the last usage computation
	prevAt  time.Time // when prev was read
	usage   float64   // the last computed usage
	hasPrev bool
}

// minCPUWindow: samples closer than this reuse the last usage (several
// events sample together; a zero-length delta says nothing).
const minCPUWindow = 500 * time.Millisecond

// NewHost reads procfs under procRoot ("/proc" when empty) and the disk
// holding diskPath ("/" when empty). It takes the first CPU reading at
// once, so the first sample's usage covers the time since.
func NewHost(procRoot, diskPath string) *Host {
	if procRoot == "" {
		procRoot = "/proc"
	}
	if diskPath == "" {
		diskPath = "/"
	}
	h := &Host{procRoot: procRoot, diskPath: diskPath}
	if t, _, err := h.readStat(); err == nil {
		h.prev, h.prevAt, h.hasPrev = t, time.Now(), true
	}
	return h
}

// Sample reads every figure; what cannot be read stays zero.
func (h *Host) Sample() HostSample {
	var s HostSample
	if t, cores, err := h.readStat(); err == nil {
		s.CPU.Cores = cores
		s.CPU.Usage = h.cpuUsage(t, time.Now())
	}
	if s.CPU.Cores == 0 {
		s.CPU.Cores = runtime.NumCPU()
	}
	if data, err := os.ReadFile(filepath.Join(h.procRoot, "loadavg")); err == nil {
		s.CPU.LoadAverage, _ = parseLoadavg(string(data))
	}
	if data, err := os.ReadFile(filepath.Join(h.procRoot, "meminfo")); err == nil {
		s.Memory = parseMeminfo(string(data))
	}
	if data, err := os.ReadFile(filepath.Join(h.procRoot, "net", "dev")); err == nil {
		s.Network = parseNetDev(string(data))
	}
	if total, free, err := statfs(h.diskPath); err == nil {
		s.Disk = usage(total, total-min(free, total))
	}
	return s
}

func (h *Host) readStat() (cpuTimes, int, error) {
	data, err := os.ReadFile(filepath.Join(h.procRoot, "stat"))
	if err != nil {
		return cpuTimes{}, 0, err
	}
	t, cores := parseStat(string(data))
	return t, cores, nil
}

// cpuUsage is the busy share between the previous reading and t.
func (h *Host) cpuUsage(t cpuTimes, now time.Time) float64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.hasPrev && now.Sub(h.prevAt) < minCPUWindow {
		return h.usage
	}
	if h.hasPrev && t.total > h.prev.total {
		dt := float64(t.total - h.prev.total)
		di := float64(min(t.idle-min(h.prev.idle, t.idle), t.total-h.prev.total))
		h.usage = round2(100 * (1 - di/dt))
	}
	h.prev, h.prevAt, h.hasPrev = t, now, true
	return h.usage
}

// cpuTimes are the aggregate "cpu" line of /proc/stat, in clock ticks.
type cpuTimes struct{ idle, total uint64 }

// parseStat reads the aggregate cpu line (user nice system idle iowait
// irq softirq steal; guest time is already inside user) and counts the
// per-core lines.
func parseStat(text string) (cpuTimes, int) {
	var t cpuTimes
	cores := 0
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 || !strings.HasPrefix(f[0], "cpu") {
			continue
		}
		if f[0] != "cpu" {
			cores++
			continue
		}
		for i, v := range f[1:] {
			if i >= 8 { // guest, guest_nice are counted in user, nice
				break
			}
			n, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				continue
			}
			t.total += n
			if i == 3 || i == 4 { // idle, iowait
				t.idle += n
			}
		}
	}
	return t, cores
}

// parseLoadavg reads "0.52 0.58 0.59 2/1024 12345".
func parseLoadavg(text string) ([3]float64, bool) {
	var out [3]float64
	f := strings.Fields(text)
	if len(f) < 3 {
		return out, false
	}
	for i := range out {
		v, err := strconv.ParseFloat(f[i], 64)
		if err != nil {
			return [3]float64{}, false
		}
		out[i] = v
	}
	return out, true
}

// parseMeminfo reads MemTotal and MemAvailable (kB; MemFree + Buffers +
// Cached on kernels before 3.14, which lack MemAvailable).
func parseMeminfo(text string) UsageSample {
	kb := map[string]uint64{}
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			continue
		}
		if n, err := strconv.ParseUint(f[0], 10, 64); err == nil {
			kb[name] = n
		}
	}
	total := kb["MemTotal"] * 1024
	avail, ok := kb["MemAvailable"]
	if !ok {
		avail = kb["MemFree"] + kb["Buffers"] + kb["Cached"]
	}
	free := min(avail*1024, total)
	return usage(total, total-free)
}

// parseNetDev sums the counters of /proc/net/dev over every interface
// except lo.
func parseNetDev(text string) NetworkSample {
	var s NetworkSample
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok || strings.Contains(name, "|") {
			continue // the two header lines
		}
		if strings.TrimSpace(name) == "lo" {
			continue
		}
		f := strings.Fields(rest)
		if len(f) < 10 {
			continue
		}
		n := func(i int) uint64 { v, _ := strconv.ParseUint(f[i], 10, 64); return v }
		s.BytesReceived += n(0)
		s.PacketsReceived += n(1)
		s.BytesSent += n(8)
		s.PacketsSent += n(9)
	}
	return s
}

func usage(total, used uint64) UsageSample {
	u := UsageSample{Total: total, Used: used, Free: total - used}
	if total > 0 {
		u.Percentage = round2(100 * float64(used) / float64(total))
	}
	return u
}

func round2(v float64) float64 { return math.Round(v*100) / 100 }
