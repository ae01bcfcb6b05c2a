package limits

import (
	"context"
	"hash/maphash"
	"sync"
	"time"
)

// MemoryWindowRate is Rate for one node as a sliding-window counter: it
// never admits more than limit events for a key in any interval of
// length window, and refuses at most one bucket (window/60, at least
// 1 ms) earlier than an exact log of event times would (see the package
// doc). Its arithmetic is the Redis script's, in µs, so both backends
// decide alike on the same clock.
//
// Memory per key is bounded by the buckets that overlap the window (at
// most about 62 counts); a key is deleted by a periodic sweep once its
// newest bucket has left the window, since such a key behaves exactly
// like an absent one. Safe for concurrent use; one mutex per shard, no
// I/O under it.
type MemoryWindowRate struct {
	now    func() time.Time
	seed   maphash.Seed
	shards [memoryShards]windowShard
}

type windowShard struct {
	mu        sync.Mutex
	keys      map[string]*windowState
	lastSweep int64 // Unix µs
}

// windowState is one key's buckets, ascending by end.
type windowState struct {
	buckets []windowCount
	// expires is when the newest bucket leaves the window (Unix µs):
	// from then on the key counts nothing.
	expires int64
}

// windowCount is the number of events admitted in the bucket that ends
// (exclusive) at end, Unix µs. The end, not the index, is stored so that
// a change of window (and so of bucket width) never undercounts: an event
// at time e sits in a bucket ending after e, so it is counted for as long
// as e is inside the window.
type windowCount struct {
	end   int64
	count int
}

var _ Rate = (*MemoryWindowRate)(nil)

// NewMemoryWindowRate returns a MemoryWindowRate on clock now (nil means
// time.Now).
func NewMemoryWindowRate(now func() time.Time) *MemoryWindowRate {
	if now == nil {
		now = time.Now
	}
	r := &MemoryWindowRate{now: now, seed: maphash.MakeSeed()}
	for i := range r.shards {
		r.shards[i].keys = make(map[string]*windowState)
	}
	return r
}

// Allow implements Rate.
func (r *MemoryWindowRate) Allow(ctx context.Context, key string, limit int, window time.Duration) (Decision, error) {
	if err := validRate(key, limit, window); err != nil {
		return Decision{}, err
	}
	t := r.now()
	now := t.UnixMicro()
	windowUS, bucketUS := windowSpan(window)

	s := &r.shards[maphash.String(r.seed, key)%memoryShards]
	s.mu.Lock()
	if now-s.lastSweep >= sweepEvery.Microseconds() {
		for k, st := range s.keys {
			if st.expires <= now {
				delete(s.keys, k)
			}
		}
		s.lastSweep = now
	}
	st := s.keys[key]
	if st == nil {
		st = &windowState{}
		s.keys[key] = st
	}
	// Drop the buckets that ended at or before now-window: every event in
	// them is older than the window.
	drop := 0
	for drop < len(st.buckets) && st.buckets[drop].end <= now-windowUS {
		drop++
	}
	if drop > 0 {
		st.buckets = append(st.buckets[:0], st.buckets[drop:]...)
	}
	sum := 0
	for _, b := range st.buckets {
		sum += b.count
	}
	if sum >= limit {
		retryAt := windowRetryAt(st.buckets, sum, limit, windowUS)
		resetAt := st.buckets[len(st.buckets)-1].end + windowUS
		s.mu.Unlock()
		return Decision{Key: key, Limit: limit, ResetAt: t.Add(usDuration(resetAt - now)), RetryAfter: usDuration(retryAt - now)}, nil
	}
	end := (now/bucketUS + 1) * bucketUS
	if n := len(st.buckets); n > 0 && st.buckets[n-1].end >= end {
		// Same bucket, or the clock stepped back: count the event in the
		// newest bucket, which keeps it in the window at least as long.
		st.buckets[n-1].count++
	} else {
		st.buckets = append(st.buckets, windowCount{end: end, count: 1})
	}
	st.expires = st.buckets[len(st.buckets)-1].end + windowUS
	resetAt := st.expires
	s.mu.Unlock()
	return Decision{
		Allowed:   true,
		Key:       key,
		Limit:     limit,
		Remaining: limit - sum - 1,
		ResetAt:   t.Add(usDuration(resetAt - now)),
	}, nil
}

// windowRetryAt is when (Unix µs) enough of the oldest buckets have left
// the window for one more event to fit under limit, given their sum.
func windowRetryAt(buckets []windowCount, sum, limit int, windowUS int64) int64 {
	for _, b := range buckets {
		sum -= b.count
		if sum < limit {
			return b.end + windowUS
		}
	}
	return buckets[len(buckets)-1].end + windowUS // unreachable when limit > 0
}

func usDuration(us int64) time.Duration { return time.Duration(us) * time.Microsecond }

// Len is the number of keys currently remembered (for tests and metrics).
func (r *MemoryWindowRate) Len() int {
	n := 0
	for i := range r.shards {
		s := &r.shards[i]
		s.mu.Lock()
		n += len(s.keys)
		s.mu.Unlock()
	}
	return n
}
