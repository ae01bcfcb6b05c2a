package limits

import (
	"context"
	"hash/maphash"
	"sync"
	"time"
)

// memoryShards spreads keys over independent mutexes.
const memoryShards = 32

// sweepEvery is how often (by the injected clock) a shard drops the keys
// whose window has fully replenished.
const sweepEvery = time.Minute

// MemoryRate is Rate for one node (GCRA, see the package doc). Memory is
// bounded by the keys active within their window: a key is deleted once
// its theoretical arrival time is in the past, since such a key behaves
// exactly like an absent one. Safe for concurrent use.
type MemoryRate struct {
	now    func() time.Time
	seed   maphash.Seed
	shards [memoryShards]rateShard
}

type rateShard struct {
	mu        sync.Mutex
	tat       map[string]int64 // theoretical arrival time, Unix ns
	lastSweep int64
}

var _ Rate = (*MemoryRate)(nil)

// NewMemoryRate returns a MemoryRate on clock now (nil means time.Now).
func NewMemoryRate(now func() time.Time) *MemoryRate {
	if now == nil {
		now = time.Now
	}
	r := &MemoryRate{now: now, seed: maphash.MakeSeed()}
	for i := range r.shards {
		r.shards[i].tat = make(map[string]int64)
	}
	return r
}

// Allow implements Rate.
func (r *MemoryRate) Allow(ctx context.Context, key string, limit int, window time.Duration) (Decision, error) {
	if err := validRate(key, limit, window); err != nil {
		return Decision{}, err
	}
	t := r.now()
	now := t.UnixNano()
	interval := int64(gcraInterval(limit, window))
	burst := interval * int64(limit)

	s := &r.shards[maphash.String(r.seed, key)%memoryShards]
	s.mu.Lock()
	if now-s.lastSweep >= int64(sweepEvery) {
		for k, v := range s.tat {
			if v <= now {
				delete(s.tat, k)
			}
		}
		s.lastSweep = now
	}
	tat := max(s.tat[key], now)
	newTat := tat + interval
	allowAt := newTat - burst
	if now < allowAt {
		s.mu.Unlock()
		return Decision{Key: key, Limit: limit, ResetAt: t.Add(time.Duration(tat - now)), RetryAfter: time.Duration(allowAt - now)}, nil
	}
	s.tat[key] = newTat
	s.mu.Unlock()
	return Decision{
		Allowed:   true,
		Key:       key,
		Limit:     limit,
		Remaining: int((now + burst - newTat) / interval),
		ResetAt:   t.Add(time.Duration(newTat - now)),
	}, nil
}

// Len is the number of keys currently remembered (for tests and metrics).
func (r *MemoryRate) Len() int {
	n := 0
	for i := range r.shards {
		s := &r.shards[i]
		s.mu.Lock()
		n += len(s.tat)
		s.mu.Unlock()
	}
	return n
}
