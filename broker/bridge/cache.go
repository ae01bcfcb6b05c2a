package bridge

import (
	"container/list"
	"context"
	"sync"
	"time"
)

// connectCache holds recent connect answers, bounded in size (least
// recently used evicted) and in age, and coalesces identical requests in
// flight: while one request for a key is out, the others wait for its
// answer instead of asking the backend again. Only answers (admissions
// and refusals) are stored; failures never are.
type connectCache struct {
	ttl     time.Duration // 0: nothing is stored
	size    int
	now     func() time.Time
	mu      sync.Mutex
	order   *list.List // of *cacheEntry, most recent first
	items   map[cacheKey]*list.Element
	flights map[cacheKey]*flight
}

type cacheKey [32]byte

type cacheEntry struct {
	key     cacheKey
	res     *connectResult
	expires time.Time
}

type flight struct {
	done    chan struct{}
	res     *connectResult
	err     error
	waiters int // c.mu
}

// origin says where get found its answer.
type origin uint8

const (
	fromBackend origin = iota // this call asked the backend
	fromCache
	fromFlight // an identical call in flight asked
)

func newConnectCache(ttl time.Duration, size int, now func() time.Time) *connectCache {
	return &connectCache{ttl: ttl, size: size, now: now, order: list.New(),
		items: make(map[cacheKey]*list.Element), flights: make(map[cacheKey]*flight)}
}

// get returns the answer for key: cached, shared with an identical call
// in flight (waiting at most until ctx ends), or fetched. fetch's error
// is returned to every caller sharing it and not cached.
func (c *connectCache) get(ctx context.Context, key cacheKey, fetch func() (*connectResult, error)) (*connectResult, origin, error) {
	c.mu.Lock()
	if el := c.items[key]; el != nil {
		e := el.Value.(*cacheEntry)
		if c.now().Before(e.expires) {
			c.order.MoveToFront(el)
			c.mu.Unlock()
			return e.res, fromCache, nil
		}
		c.order.Remove(el)
		delete(c.items, key)
	}
	if f := c.flights[key]; f != nil {
		f.waiters++
		c.mu.Unlock()
		select {
		case <-f.done:
			return f.res, fromFlight, f.err
		case <-ctx.Done():
			return nil, fromFlight, &failure{kind: ctxKind(ctx, kindTimeout)}
		}
	}
	f := &flight{done: make(chan struct{})}
	c.flights[key] = f
	c.mu.Unlock()

	f.res, f.err = fetch()

	c.mu.Lock()
	delete(c.flights, key)
	if f.err == nil && c.ttl > 0 {
		c.storeLocked(key, f.res)
	}
	c.mu.Unlock()
	close(f.done)
	return f.res, fromBackend, f.err
}

func (c *connectCache) storeLocked(key cacheKey, res *connectResult) {
	if el := c.items[key]; el != nil {
		c.order.Remove(el)
	}
	c.items[key] = c.order.PushFront(&cacheEntry{key: key, res: res, expires: c.now().Add(c.ttl)})
	for c.order.Len() > c.size {
		old := c.order.Back()
		c.order.Remove(old)
		delete(c.items, old.Value.(*cacheEntry).key)
	}
}

// waiting is the number of calls waiting for an identical one in flight.
func (c *connectCache) waiting() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, f := range c.flights {
		n += f.waiters
	}
	return n
}

func (c *connectCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.order.Len()
}
