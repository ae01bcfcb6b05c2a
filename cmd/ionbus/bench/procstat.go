package bench

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// clockTicks is USER_HZ (sysconf(_SC_CLK_TCK)), 100 on every Linux we target.
const clockTicks = 100

// procSample is one reading of /proc/PID.
type procSample struct {
	at       time.Time
	rssBytes int64
	cpuTicks int64 // utime + stime
}

// readProc samples RSS and CPU of pid ("self" for this process).
func readProc(pid string) (procSample, error) {
	s := procSample{at: time.Now()}
	status, err := os.ReadFile("/proc/" + pid + "/status")
	if err != nil {
		return s, err
	}
	s.rssBytes, err = parseVmRSS(status)
	if err != nil {
		return s, err
	}
	stat, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return s, err
	}
	s.cpuTicks, err = parseStatCPU(stat)
	return s, err
}

// parseVmRSS returns VmRSS in bytes from /proc/PID/status.
func parseVmRSS(status []byte) (int64, error) {
	for _, line := range bytes.Split(status, []byte{'\n'}) {
		rest, ok := bytes.CutPrefix(line, []byte("VmRSS:"))
		if !ok {
			continue
		}
		f := strings.Fields(string(rest))
		if len(f) < 1 {
			break
		}
		kb, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, err
		}
		return kb * 1024, nil
	}
	return 0, fmt.Errorf("bench: no VmRSS in status")
}

// parseStatCPU returns utime+stime (fields 14 and 15) from /proc/PID/stat.
// The command name (field 2) may hold spaces and parentheses, so fields are
// counted from the last ')'.
func parseStatCPU(stat []byte) (int64, error) {
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, fmt.Errorf("bench: malformed stat")
	}
	f := strings.Fields(string(stat[i+1:]))
	// f[0] is field 3 (state); utime is field 14 → f[11], stime f[12].
	if len(f) < 13 {
		return 0, fmt.Errorf("bench: short stat")
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("bench: bad utime/stime")
	}
	return u + st, nil
}

// serverProbe samples the server process around the measured window.
type serverProbe struct {
	pid    int
	before procSample // before any socket
	start  procSample // window start (after ramp)
}

func newServerProbe(pid int) (*serverProbe, error) {
	if pid <= 0 {
		return nil, nil
	}
	s, err := readProc(strconv.Itoa(pid))
	if err != nil {
		return nil, fmt.Errorf("--server-pid %d: %w", pid, err)
	}
	return &serverProbe{pid: pid, before: s, start: s}, nil
}

func (p *serverProbe) markWindowStart() {
	if p == nil {
		return
	}
	if s, err := readProc(strconv.Itoa(p.pid)); err == nil {
		p.start = s
	}
}

// finish reads the end of the window (all sockets still open) into stats.
func (p *serverProbe) finish(sockets int64) *ServerStats {
	if p == nil {
		return nil
	}
	end, err := readProc(strconv.Itoa(p.pid))
	if err != nil {
		return &ServerStats{PID: p.pid}
	}
	st := &ServerStats{
		PID:            p.pid,
		RSSBeforeBytes: p.before.rssBytes,
		RSSAfterBytes:  end.rssBytes,
		RSSGrowthBytes: end.rssBytes - p.before.rssBytes,
		CPUSeconds:     float64(end.cpuTicks-p.start.cpuTicks) / clockTicks,
		WindowS:        end.at.Sub(p.start.at).Seconds(),
	}
	if sockets > 0 {
		st.RSSPerSocketBytes = float64(st.RSSGrowthBytes) / float64(sockets)
	}
	if st.WindowS > 0 {
		st.CPUPercent = 100 * st.CPUSeconds / st.WindowS
	}
	return st
}
