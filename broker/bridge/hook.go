package bridge

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// Hook types: the "type" of every request body and X-Ionbus-Type.
const (
	HookConnect   = "connect"
	HookRefresh   = "refresh"
	HookEvent     = "event"
	HookLifecycle = "lifecycle"
)

// Failure kinds, as counted in Stats.Failures and logged.
const (
	kindUnreachable      = "unreachable"
	kindTimeout          = "timeout"
	kindStatus           = "bad_status"
	kindResponseTooLarge = "response_too_large"
	kindRequestTooLarge  = "request_too_large"
	kindInvalid          = "invalid_answer"
	kindSaturated        = "saturated"
	kindCanceled         = "canceled"
	kindRedis            = "redis"
)

// failure is a hook call or XADD that gave no usable answer. It matches
// errors.Is(err, ErrBackendUnavailable).
type failure struct {
	kind   string
	status int   // kindStatus
	err    error // the cause, without the URL
}

func (f *failure) Error() string {
	msg := "bridge: backend unavailable: " + f.kind
	if f.status != 0 {
		msg += " " + strconv.Itoa(f.status)
	}
	if f.err != nil {
		msg += ": " + f.err.Error()
	}
	return msg
}

func (f *failure) Unwrap() error { return ErrBackendUnavailable }

func failureKind(err error) string {
	var f *failure
	if errors.As(err, &f) {
		return f.kind
	}
	return kindUnreachable
}

// hookClient posts signed JSON to the backend under the node-wide
// MaxInflight bound.
type hookClient struct {
	url     string
	host    string // for logs: never the path, query or user info
	secret  []byte
	node    string
	timeout time.Duration
	maxBody int
	client  *http.Client
	own     *http.Transport // built by newHookClient; its idle connections are closed at Shutdown
	sem     chan struct{}
	now     func() time.Time
	stats   *stats
	log     *burstLog
	observe func(hook string, d time.Duration) // Config.ObserveHook; may be nil
}

func newHookClient(cfg *Config, st *stats, log *burstLog) *hookClient {
	u, _ := url.Parse(cfg.URL) // validated
	h := &hookClient{
		url: cfg.URL, host: u.Host, secret: []byte(cfg.Secret), node: cfg.NodeID,
		timeout: cfg.Timeout, maxBody: cfg.MaxBodyBytes, client: cfg.HTTPClient,
		sem: make(chan struct{}, cfg.MaxInflight), now: cfg.Now, stats: st, log: log,
		observe: cfg.ObserveHook,
	}
	if h.client == nil {
		h.own = http.DefaultTransport.(*http.Transport).Clone()
		h.own.MaxIdleConnsPerHost = cfg.MaxInflight // reuse connections under load instead of churning
		h.client = &http.Client{
			Transport: h.own,
			// A redirect would carry cookies and tokens elsewhere: a 3xx is
			// a bad status.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	return h
}

// call POSTs body as hook typ and returns the 2xx answer's body. The wait
// for a MaxInflight slot and the request share one Timeout. Failures are
// counted and logged (once per burst) here; the error is a *failure.
func (h *hookClient) call(ctx context.Context, typ string, body []byte) ([]byte, error) {
	h.stats.requests.add(typ)
	start := time.Now()
	answer, status, err := h.do(ctx, typ, body)
	if h.observe != nil {
		h.observe(typ, time.Since(start))
	}
	if err != nil {
		h.fail(typ, err, status)
	}
	return answer, err
}

func (h *hookClient) do(ctx context.Context, typ string, body []byte) ([]byte, int, error) {
	if len(body) > h.maxBody {
		return nil, 0, &failure{kind: kindRequestTooLarge}
	}
	ctx, cancel := context.WithTimeout(ctx, h.timeout)
	defer cancel()
	select {
	case h.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, 0, &failure{kind: ctxKind(ctx, kindSaturated)}
	}
	defer func() { <-h.sem }()

	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.url, bytes.NewReader(body))
	if err != nil {
		return nil, 0, &failure{kind: kindUnreachable, err: err}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Ionbus-Node", h.node)
	req.Header.Set("X-Ionbus-Type", typ)
	if len(h.secret) > 0 {
		req.Header.Set(SignatureHeader, Sign(h.secret, h.now(), body))
	}
	resp, err := h.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL may hold credentials: never in logs
		}
		return nil, 0, &failure{kind: ctxKind(ctx, kindUnreachable), err: err}
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, int64(h.maxBody))) // keep the connection reusable
		return nil, resp.StatusCode, &failure{kind: kindStatus, status: resp.StatusCode}
	}
	if resp.ContentLength > int64(h.maxBody) {
		return nil, resp.StatusCode, &failure{kind: kindResponseTooLarge}
	}
	answer, err := io.ReadAll(io.LimitReader(resp.Body, int64(h.maxBody)+1))
	if err != nil {
		return nil, resp.StatusCode, &failure{kind: ctxKind(ctx, kindUnreachable), err: err}
	}
	if len(answer) > h.maxBody {
		return nil, resp.StatusCode, &failure{kind: kindResponseTooLarge}
	}
	return answer, resp.StatusCode, nil
}

// ctxKind names a failure whose context may have ended: timeout when the
// deadline passed, canceled when the caller (Shutdown) canceled.
func ctxKind(ctx context.Context, otherwise string) string {
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		if otherwise == kindSaturated {
			return kindSaturated
		}
		return kindTimeout
	case ctx.Err() != nil:
		return kindCanceled
	}
	return otherwise
}

// fail counts a failure and logs it, at most once per burst of its kind.
func (h *hookClient) fail(typ string, err error, status int) {
	kind := failureKind(err)
	h.stats.failures.add(kind)
	if kind == kindCanceled {
		return
	}
	h.log.warn(typ+"/"+kind, func(ev *zerolog.Event) {
		ev = ev.Str("host", h.host).Str("hook", typ).Str("kind", kind)
		if status != 0 {
			ev = ev.Int("status", status)
		}
		var f *failure
		if errors.As(err, &f) && f.err != nil {
			ev = ev.AnErr("error", f.err)
		}
		ev.Msg("backend hook failed")
	})
}

func (h *hookClient) close() {
	if h.own != nil {
		h.own.CloseIdleConnections()
	}
}

// burstLog logs a warning at most once per interval for each key, with
// the number of occurrences it swallowed since the last line: a backend
// outage during a reconnect storm gives a few lines, not one per socket.
type burstLog struct {
	log   zerolog.Logger
	every time.Duration
	now   func() time.Time

	mu    sync.Mutex
	state map[string]*burst
}

type burst struct {
	last       time.Time
	suppressed int
}

const burstInterval = 10 * time.Second

func newBurstLog(log zerolog.Logger, now func() time.Time) *burstLog {
	return &burstLog{log: log, every: burstInterval, now: now, state: make(map[string]*burst)}
}

func (b *burstLog) warn(key string, write func(*zerolog.Event)) {
	now := b.now()
	b.mu.Lock()
	st := b.state[key]
	if st == nil {
		st = &burst{}
		b.state[key] = st
	}
	if !st.last.IsZero() && now.Sub(st.last) < b.every {
		st.suppressed++
		b.mu.Unlock()
		return
	}
	suppressed := st.suppressed
	st.last, st.suppressed = now, 0
	b.mu.Unlock()
	ev := b.log.Warn()
	if suppressed > 0 {
		ev = ev.Int("suppressed", suppressed)
	}
	write(ev)
}

// errorf builds a *failure of kind with a cause, for decode errors.
func errorf(kind, format string, args ...any) error {
	return &failure{kind: kind, err: fmt.Errorf(format, args...)}
}
