package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// fanout holds the per-round counters shared by all receivers. Per-receiver
// state (the seen bitset) is owned by that receiver's read goroutine.
type fanout struct {
	cfg        *config
	hist       *Histogram // delivery latency
	trigHist   *Histogram // trigger round trip (API response or ack)
	delivered  []atomic.Int64
	lastRecv   []atomic.Int64 // unix ns
	sent       []atomic.Int64 // unix ns, from the trigger or the first stamp seen
	deliveries atomic.Int64
	duplicates atomic.Int64
	unexpected atomic.Int64
	trigErrs   atomic.Int64
	sentCount  atomic.Int64
	receivers  atomic.Int64 // joined
}

// receiver is owned by its socket's read goroutine (isIn, seen); joined is
// closed once, when the join is confirmed, for the ramp goroutine waiting on it.
type receiver struct {
	seen   []uint64
	joined chan struct{}
	isIn   bool
}

// join counts a receiver once its join is confirmed (ack or room_joined),
// however late: a receiver counted here is expected to get every round.
func (f *fanout) join(rc *receiver) {
	if rc.isIn {
		return
	}
	rc.isIn = true
	f.receivers.Add(1)
	close(rc.joined)
}

func (f *fanout) onPacket(s *sock, p sioPacket, now time.Time) {
	rc := s.state.(*receiver)
	switch p.Type {
	case sioAck:
		if p.ID == 0 {
			f.join(rc)
		}
		return
	case sioEvent, sioBinaryEvent:
	default:
		return
	}
	name, rest, ok := eventName(p.Data)
	if !ok {
		return
	}
	if name != f.cfg.Event {
		if name == "room_joined" {
			f.join(rc)
		}
		return
	}
	if !rc.isIn {
		// Not (yet) a member: its deliveries are not part of Expected.
		f.unexpected.Add(1)
		return
	}
	st, ok := parseStamp(rest)
	if !ok || st.Seq < 0 || st.Seq >= int64(f.cfg.Broadcasts) {
		f.unexpected.Add(1)
		return
	}
	seq := int(st.Seq)
	word, bit := seq/64, uint64(1)<<(seq%64)
	if rc.seen[word]&bit != 0 {
		f.duplicates.Add(1)
		return
	}
	rc.seen[word] |= bit
	nowNs := now.UnixNano()
	f.hist.Record(time.Duration(nowNs - st.Unix))
	f.deliveries.Add(1)
	f.delivered[seq].Add(1)
	f.sent[seq].CompareAndSwap(0, st.Unix)
	for {
		cur := f.lastRecv[seq].Load()
		if nowNs <= cur || f.lastRecv[seq].CompareAndSwap(cur, nowNs) {
			break
		}
	}
}

// emitBody is the HTTP API body; the event trigger sends the same object.
type emitBody struct {
	Namespace string   `json:"namespace"`
	Event     string   `json:"event"`
	Data      []any    `json:"data"`
	Rooms     []string `json:"rooms,omitempty"`
}

func (f *fanout) body(seq int, t int64) []byte {
	b := emitBody{Namespace: f.cfg.Namespace, Event: f.cfg.Event,
		Data: []any{map[string]int64{"seq": int64(seq), "t": t}}}
	if f.cfg.Room != "" {
		b.Rooms = []string{f.cfg.Room}
	}
	out, _ := json.Marshal(b)
	return out
}

// trigger sends the broadcasts on schedule. Rounds never overlap on the
// client side: a slow API delays later rounds (reported as trigger latency).
// The returned func releases the trigger socket; call it after the drain so
// late acks are still counted.
func (f *fanout) trigger(ctx context.Context, r *runner) (release func()) {
	release = func() {}
	cfg := f.cfg
	var send func(seq int, body []byte) error
	switch {
	case cfg.Trigger == "api":
		client := &http.Client{Timeout: cfg.Timeout}
		if tc := cfg.tlsConfig(); tc != nil {
			client.Transport = &http.Transport{TLSClientConfig: tc}
		}
		defer client.CloseIdleConnections()
		url := strings.TrimSuffix(cfg.API, "/") + "/api/v1/emit"
		if !strings.Contains(cfg.API, "://") {
			url = "http://" + url
		}
		send = func(_ int, body []byte) error {
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
			if err != nil {
				return err
			}
			req.Header.Set("Content-Type", "application/json")
			if cfg.apiKey != "" {
				req.Header.Set("Authorization", "Bearer "+cfg.apiKey)
			}
			start := time.Now()
			resp, err := client.Do(req)
			if err != nil {
				return err
			}
			msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
			resp.Body.Close()
			if resp.StatusCode/100 != 2 {
				return fmt.Errorf("api status %d: %s", resp.StatusCode, truncate(strings.TrimSpace(string(msg)), 120))
			}
			f.trigHist.Record(time.Since(start))
			return nil
		}
	case strings.HasPrefix(cfg.Trigger, "event:"):
		name := strings.TrimPrefix(cfg.Trigger, "event:")
		o := dialOptions{namespace: cfg.Namespace, timeout: cfg.Timeout, polls: r.polls}
		if cfg.Auth != "" {
			o.auth = []byte(cfg.Auth)
		}
		if len(cfg.localIPs) > 0 {
			o.local = cfg.localIPs[0]
		}
		ts, err := connect(ctx, r.targets[0], o)
		if err != nil {
			f.trigErrs.Add(int64(cfg.Broadcasts))
			r.failures.add("trigger socket: " + reason(err))
			return release
		}
		sentAt := make([]atomic.Int64, cfg.Broadcasts)
		ts.onPacket = func(_ *sock, p sioPacket, now time.Time) {
			if p.Type == sioAck && p.ID >= 0 && p.ID < int64(len(sentAt)) {
				f.trigHist.Record(time.Duration(now.UnixNano() - sentAt[p.ID].Load()))
			}
		}
		var wg sync.WaitGroup
		wg.Add(1)
		go func() { defer wg.Done(); _ = ts.readLoop() }()
		release = func() {
			// Let the last acks land (bounded) before hanging up.
			for end := time.Now().Add(2 * time.Second); time.Now().Before(end) &&
				f.trigHist.Count()+uint64(f.trigErrs.Load()) < uint64(f.sentCount.Load()); {
				time.Sleep(5 * time.Millisecond)
			}
			ts.close()
			wg.Wait()
		}
		send = func(seq int, body []byte) error {
			sentAt[seq].Store(time.Now().UnixNano())
			return ts.emit(name, int64(seq), body)
		}
	default:
		return release
	}
	begin := time.Now()
	for k := 0; k < cfg.Broadcasts; k++ {
		if d := time.Until(begin.Add(time.Duration(k) * cfg.Interval)); d > 0 {
			t := time.NewTimer(d)
			select {
			case <-ctx.Done():
				t.Stop()
				return release
			case <-t.C:
			}
		}
		if ctx.Err() != nil {
			return release
		}
		now := time.Now().UnixNano()
		f.sent[k].Store(now)
		f.sentCount.Add(1)
		if err := send(k, f.body(k, now)); err != nil {
			f.trigErrs.Add(1)
			r.failures.add("trigger: " + reason(err))
		}
	}
	return release
}

func (f *fanout) allDelivered() bool {
	n := f.receivers.Load()
	for i := range f.delivered {
		if f.delivered[i].Load() < n {
			return false
		}
	}
	return true
}

func runFanout(ctx context.Context, r *runner, probe *serverProbe, prog func(func() string) *progress) *Report {
	cfg := r.cfg
	ctx, cancel := context.WithTimeout(ctx, cfg.Duration)
	defer cancel()
	K := cfg.Broadcasts
	f := &fanout{cfg: cfg, hist: NewHistogram(), trigHist: NewHistogram(),
		delivered: make([]atomic.Int64, K), lastRecv: make([]atomic.Int64, K), sent: make([]atomic.Int64, K)}
	var joinPayload []byte
	if cfg.Room != "" {
		q, _ := json.Marshal(cfg.Room)
		joinPayload = []byte(strings.ReplaceAll(cfg.JoinPayload, `"{room}"`, string(q)))
		joinPayload = bytes.ReplaceAll(joinPayload, []byte("{room}"), q[1:len(q)-1])
	}
	began := time.Now()
	clientBefore := clientMem()
	p := prog(r.progressLine("fanout", began, func() string {
		return fmt.Sprintf("joined %d  delivered %d  dups %d", f.receivers.Load(), f.deliveries.Load(), f.duplicates.Load())
	}))
	ramp := r.ramp(ctx, cfg.Clients, func(s *sock) {
		rc := &receiver{seen: make([]uint64, (K+63)/64), joined: make(chan struct{})}
		s.state = rc
		s.onPacket = f.onPacket
		if cfg.Room == "" {
			f.join(rc) // before the read loop starts: no race on isIn
			r.start(s, true, nil)
			return
		}
		r.start(s, true, nil)
		if err := s.emit(cfg.JoinEvent, 0, joinPayload); err != nil {
			r.failures.add("join: " + reason(err))
			return
		}
		t := time.NewTimer(cfg.Timeout)
		defer t.Stop()
		select {
		case <-rc.joined:
		case <-t.C:
			r.failures.add("join: no ack or room_joined")
		case <-ctx.Done():
		}
	})
	if d := cfg.StartDelay; d > 0 {
		select {
		case <-ctx.Done():
		case <-time.After(d):
		}
	}
	r.windowStart(probe)
	release := f.trigger(ctx, r)
	// Drain: wait for stragglers. A listening shard (--trigger none) waits
	// for the whole schedule.
	wait := cfg.Drain
	if cfg.Trigger == "none" {
		wait += time.Duration(K) * cfg.Interval
	}
	deadline := time.Now().Add(wait)
	for time.Now().Before(deadline) && ctx.Err() == nil && !f.allDelivered() {
		time.Sleep(10 * time.Millisecond)
	}
	release()
	open := r.open.Load()
	server := r.windowEnd(probe, open)
	clientAfter := clientMem()
	routines := goroutines()
	p.close()
	r.closeAll() // read loops have ended: receiver bitsets are now ours

	rep := r.baseReport(began, ramp)
	rep.Server = server
	rep.Client = clientStats(clientBefore, clientAfter, open, routines)
	n := f.receivers.Load()
	fs := &FanoutStats{
		Receivers:     n,
		Broadcasts:    K,
		Expected:      n * int64(K),
		Deliveries:    f.deliveries.Load(),
		Duplicates:    f.duplicates.Load(),
		Unexpected:    f.unexpected.Load(),
		TriggerErrors: f.trigErrs.Load(),
		Delivery:      f.hist.Summary(),
		Trigger:       f.trigHist.Summary(),
	}
	fs.Missing = fs.Expected - fs.Deliveries
	all := NewHistogram()
	for k := 0; k < K; k++ {
		rd := Round{Seq: k, SentUnixNs: f.sent[k].Load(), Delivered: f.delivered[k].Load(), Expected: n,
			LastRecvUnixNs: f.lastRecv[k].Load()}
		if rd.Delivered > 0 && rd.SentUnixNs > 0 {
			d := time.Duration(rd.LastRecvUnixNs - rd.SentUnixNs)
			rd.AllDeliveredMS = ms(d)
			all.Record(d)
		}
		fs.Rounds = append(fs.Rounds, rd)
	}
	fs.AllDelivered = all.Summary()
	fs.rates()
	rep.Fanout = fs
	return rep
}

// rates derives the run span and both delivery rates from the rounds.
func (f *FanoutStats) rates() {
	var burstN int64
	var burstNs int64
	f.FirstSendUnixNs, f.LastRecvUnixNs = 0, 0
	for _, rd := range f.Rounds {
		if rd.SentUnixNs > 0 && (f.FirstSendUnixNs == 0 || rd.SentUnixNs < f.FirstSendUnixNs) {
			f.FirstSendUnixNs = rd.SentUnixNs
		}
		f.LastRecvUnixNs = max(f.LastRecvUnixNs, rd.LastRecvUnixNs)
		if rd.Delivered > 0 && rd.SentUnixNs > 0 && rd.LastRecvUnixNs > rd.SentUnixNs {
			burstN += rd.Delivered
			burstNs += rd.LastRecvUnixNs - rd.SentUnixNs
		}
	}
	if span := f.LastRecvUnixNs - f.FirstSendUnixNs; span > 0 && f.FirstSendUnixNs > 0 {
		f.DeliveriesPerSec = float64(f.Deliveries) / (float64(span) / 1e9)
	}
	if burstNs > 0 {
		f.BurstPerSec = float64(burstN) / (float64(burstNs) / 1e9)
	}
}
