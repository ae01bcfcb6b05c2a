package bench

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// runner holds what every mode shares: targets, the dial spread, socket
// bookkeeping and the connect histogram. Every goroutine it starts is
// counted in readers (read loops) or a local WaitGroup and ends by itself
// once its socket closes.
type runner struct {
	cfg     *config
	targets []target
	polls   *pollingClients
	stdout  io.Writer

	connectHist *Histogram
	failures    counterMap // dial/handshake failures by reason
	drops       counterMap // read-loop endings not caused by the bench
	connected   atomic.Int64
	failed      atomic.Int64
	dropped     atomic.Int64
	polling     atomic.Int64
	open        atomic.Int64
	peakOpen    atomic.Int64
	dialSeq     atomic.Int64
	pings       atomic.Int64
	packets     atomic.Int64
	firstDial   atomic.Int64 // unix ns of the first dial of the run
	lastConnect atomic.Int64 // unix ns of the latest completed connect

	self    *serverProbe // this process, for the client CPU share
	selfCPU float64

	mu      sync.Mutex
	sockets []*sock
	readers sync.WaitGroup
}

// counterMap counts failures by reason; goroutine-safe.
type counterMap struct {
	mu sync.Mutex
	m  map[string]int64
}

func (c *counterMap) add(k string) {
	c.mu.Lock()
	if c.m == nil {
		c.m = map[string]int64{}
	}
	c.m[k]++
	c.mu.Unlock()
}

func (c *counterMap) snapshot() map[string]int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) == 0 {
		return nil
	}
	out := make(map[string]int64, len(c.m))
	for k, v := range c.m {
		out[k] = v
	}
	return out
}

func newRunner(cfg *config, stdout io.Writer) (*runner, error) {
	r := &runner{cfg: cfg, stdout: stdout, connectHist: NewHistogram(),
		polls: &pollingClients{timeout: cfg.Timeout, tls: cfg.tlsConfig()}}
	for _, u := range cfg.URLs {
		t, err := makeTarget(u, cfg.Path, cfg.header)
		if err != nil {
			return nil, fmt.Errorf("%w: --url %s: %v", errUsage, u, err)
		}
		t.tls = cfg.tlsConfig()
		t.deflate = cfg.Deflate
		r.targets = append(r.targets, t)
	}
	return r, nil
}

// usePolling spreads --polling-share evenly over socket indexes.
func usePolling(i int, share float64) bool {
	if share <= 0 {
		return false
	}
	return int(float64(i+1)*share) > int(float64(i)*share)
}

// dial connects socket number i (targets and source IPs round-robin) and
// records the outcome. It does not start the read loop.
func (r *runner) dial(ctx context.Context, i int) (*sock, error) {
	o := dialOptions{
		namespace: r.cfg.Namespace,
		timeout:   r.cfg.Timeout,
		polling:   usePolling(i, r.cfg.PollingShare),
		polls:     r.polls,
	}
	var t target
	o.auth, t = r.cfg.socketOptions(i, r.targets[i%len(r.targets)])
	if n := len(r.cfg.localIPs); n > 0 {
		o.local = r.cfg.localIPs[i%n]
	}
	start := time.Now()
	r.firstDial.CompareAndSwap(0, start.UnixNano())
	s, err := connect(ctx, t, o)
	if err != nil {
		if ctx.Err() == nil {
			r.failed.Add(1)
			r.failures.add(reason(err))
		}
		return nil, err
	}
	now := time.Now()
	r.connectHist.Record(now.Sub(start))
	for {
		last := r.lastConnect.Load()
		if now.UnixNano() <= last || r.lastConnect.CompareAndSwap(last, now.UnixNano()) {
			break
		}
	}
	s.idx = i
	s.pings = &r.pings
	s.packets = &r.packets
	r.connected.Add(1)
	if s.polling {
		r.polling.Add(1)
	}
	open := r.open.Add(1)
	for {
		p := r.peakOpen.Load()
		if open <= p || r.peakOpen.CompareAndSwap(p, open) {
			break
		}
	}
	return s, nil
}

// start runs the socket's read loop on its own goroutine. onEnd (may be
// nil) runs after the loop with the error that ended it.
func (r *runner) start(s *sock, keep bool, onEnd func(*sock, error)) {
	if keep {
		r.mu.Lock()
		r.sockets = append(r.sockets, s)
		r.mu.Unlock()
	}
	r.readers.Add(1)
	go func() {
		defer r.readers.Done()
		err := s.readLoop()
		if err != nil && !s.closing.Load() {
			r.dropped.Add(1)
			r.drops.add(reason(err))
			s.tr.abort()
		}
		r.open.Add(-1)
		if onEnd != nil {
			onEnd(s, err)
		}
	}()
}

// ramp dials count sockets at cfg.Rate per second and calls ready for each
// connected one (on the dialing goroutine). It returns when every dial has
// finished or failed; each dial is bounded by --timeout.
func (r *runner) ramp(ctx context.Context, count int, ready func(*sock)) time.Duration {
	var wg sync.WaitGroup
	begin := time.Now()
	interval := time.Duration(float64(time.Second) / r.cfg.Rate)
	for i := 0; i < count; i++ {
		if d := time.Until(begin.Add(time.Duration(i) * interval)); d > 0 {
			t := time.NewTimer(d)
			select {
			case <-ctx.Done():
				t.Stop()
				wg.Wait()
				return time.Since(begin)
			case <-t.C:
			}
		} else if ctx.Err() != nil {
			break
		}
		idx := int(r.dialSeq.Add(1) - 1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			if s, err := r.dial(ctx, idx); err == nil {
				ready(s)
			}
		}()
	}
	wg.Wait()
	return time.Since(begin)
}

// closeAll disconnects every kept socket with bounded parallelism and waits
// for their read loops (bounded: a closed transport ends its reader).
func (r *runner) closeAll() {
	r.mu.Lock()
	socks := r.sockets
	r.sockets = nil
	r.mu.Unlock()
	work := make(chan *sock)
	var wg sync.WaitGroup
	for w := 0; w < 64; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for s := range work {
				s.close()
			}
		}()
	}
	for _, s := range socks {
		work <- s
	}
	close(work)
	wg.Wait()
	done := make(chan struct{})
	go func() { r.readers.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		// A polling GET still in flight; abort everything left.
		for _, s := range socks {
			s.tr.abort()
		}
		<-done
	}
	r.polls.closeIdle()
}

// baseReport fills the socket and connect sections.
func (r *runner) baseReport(started time.Time, ramp time.Duration) *Report {
	rep := &Report{
		Version:   reportVersion,
		Mode:      r.cfg.Mode,
		StartedAt: started.UTC(),
		Shards:    1,
		Config:    r.cfg,
	}
	rep.Sockets = SocketStats{
		Target:    int64(r.cfg.Clients),
		Connected: r.connected.Load(),
		Failed:    r.failed.Load(),
		Dropped:   r.dropped.Load(),
		Polling:   r.polling.Load(),
		PeakOpen:  r.peakOpen.Load(),
		Pings:     r.pings.Load(),
		Packets:   r.packets.Load(),
		RampS:     ramp.Seconds(),
		Failures:  r.failures.snapshot(),
		Drops:     r.drops.snapshot(),
	}
	// Connect rate over first dial → last connect: excludes join waits
	// and the time failed dials spend timing out.
	if span := r.lastConnect.Load() - r.firstDial.Load(); span > 0 && r.firstDial.Load() > 0 {
		rep.Sockets.ConnectRate = float64(rep.Sockets.Connected) / (float64(span) / 1e9)
	}
	rep.Connect = r.connectHist.Summary()
	return rep
}

func (r *runner) progressLine(mode string, begin time.Time, extra func() string) func() string {
	return func() string {
		s := fmt.Sprintf("[%s %5.1fs] open %d/%d  failed %d  dropped %d", mode,
			time.Since(begin).Seconds(), r.open.Load(), r.cfg.Clients, r.failed.Load(), r.dropped.Load())
		if extra != nil {
			s += "  " + extra()
		}
		return s
	}
}

// memSample is the bench process's own memory: RSS from /proc (0 when
// unavailable) and the Go runtime's heap and stacks in use, which is far
// less noisy than RSS for small socket counts.
type memSample struct {
	rss   int64
	goMem int64
}

func clientMem() memSample {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	s := memSample{goMem: int64(m.HeapInuse + m.StackInuse)}
	if p, err := readProc("self"); err == nil {
		s.rss = p.rssBytes
	}
	return s
}

// windowStart marks the start of the measured window on the server probe
// and on the bench process itself.
func (r *runner) windowStart(server *serverProbe) {
	server.markWindowStart()
	if r.self == nil {
		r.self, _ = newServerProbe(os.Getpid())
	}
	r.self.markWindowStart()
}

// windowEnd closes the window: server stats for the report, and the bench's
// own CPU (a saturated client makes every server look slow).
func (r *runner) windowEnd(server *serverProbe, open int64) *ServerStats {
	if r.self != nil {
		if st := r.self.finish(open); st != nil {
			r.selfCPU = st.CPUPercent
		}
	}
	return server.finish(open)
}
