package bench

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// pollingTransport is an Engine.IO HTTP long-polling session. The read loop
// issues one GET at a time; send POSTs under mu (Engine.IO allows one POST in
// flight per session). Packets from one GET body are queued in pending.
type pollingTransport struct {
	client  *http.Client
	base    string // URL with EIO and transport, no sid
	url     string // base + sid, set after the open packet
	header  http.Header
	mu      sync.Mutex
	pending [][]byte
	ctx     context.Context
	cancel  context.CancelFunc
	closed  atomic.Bool
}

// pollingClients caches one http.Client per source IP so keep-alive
// connections are reused across GETs of the same session.
type pollingClients struct {
	mu      sync.Mutex
	clients map[string]*http.Client
	timeout time.Duration
	tls     *tls.Config
}

func (p *pollingClients) get(local net.IP) *http.Client {
	key := ""
	if local != nil {
		key = local.String()
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if c, ok := p.clients[key]; ok {
		return c
	}
	nd := &net.Dialer{Timeout: p.timeout}
	if local != nil {
		nd.LocalAddr = &net.TCPAddr{IP: local}
	}
	c := &http.Client{Transport: &http.Transport{
		DialContext:         nd.DialContext,
		MaxIdleConns:        0, // unlimited
		MaxIdleConnsPerHost: 100000,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
		TLSClientConfig:     p.tls,
	}}
	if p.clients == nil {
		p.clients = map[string]*http.Client{}
	}
	p.clients[key] = c
	return c
}

// closeIdle drops kept-alive connections (and their goroutines) after a run.
func (p *pollingClients) closeIdle() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.clients {
		c.CloseIdleConnections()
	}
}

func dialPolling(ctx context.Context, t target, client *http.Client) (*pollingTransport, error) {
	cctx, cancel := context.WithCancel(context.Background())
	tr := &pollingTransport{client: client, base: t.pollURL, header: t.header, ctx: cctx, cancel: cancel}
	body, err := tr.get(ctx, tr.base)
	if err != nil {
		cancel()
		return nil, err
	}
	tr.pending = splitPolling(body)
	return tr, nil
}

// setSID fixes the session URL once the OPEN packet is parsed.
func (t *pollingTransport) setSID(sid string) { t.url = t.base + "&sid=" + sid }

func (t *pollingTransport) get(ctx context.Context, url string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"&t="+strconv.FormatInt(time.Now().UnixNano(), 36), nil)
	if err != nil {
		return nil, err
	}
	for k, v := range t.header {
		req.Header[k] = v
	}
	resp, err := t.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("bench: polling GET status %d: %s", resp.StatusCode, truncate(strings.TrimSpace(string(body)), 80))
	}
	return body, nil
}

// readMessage returns the next Engine.IO packet, long-polling when none is queued.
func (t *pollingTransport) readMessage() ([]byte, error) {
	for len(t.pending) == 0 {
		if t.closed.Load() {
			return nil, errClientClose
		}
		body, err := t.get(t.ctx, t.url)
		if err != nil {
			if t.closed.Load() {
				return nil, errClientClose
			}
			return nil, err
		}
		t.pending = splitPolling(body)
	}
	p := t.pending[0]
	t.pending = t.pending[1:]
	return p, nil
}

func (t *pollingTransport) send(p []byte) error { return t.sendWithin(p, writeTimeout) }

func (t *pollingTransport) sendWithin(p []byte, d time.Duration) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	ctx, cancel := context.WithTimeout(t.ctx, d)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.url, bytes.NewReader(p))
	if err != nil {
		return err
	}
	for k, v := range t.header {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "text/plain;charset=UTF-8")
	resp, err := t.client.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("bench: polling POST status %d", resp.StatusCode)
	}
	return nil
}

// setReadDeadline is a no-op: a long-poll GET is bounded by the server's ping interval.
func (t *pollingTransport) setReadDeadline(time.Time) {}

func (t *pollingTransport) close() {
	if t.closed.Swap(true) {
		return
	}
	if t.url != "" {
		_ = t.sendWithin([]byte{eioClose}, closeTimeout)
	}
	t.cancel()
}

func (t *pollingTransport) abort() {
	t.closed.Store(true)
	t.cancel()
}
