package limits

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Slots holds concurrent slots per key. Implementations are safe for
// concurrent use.
type Slots interface {
	// Acquire takes slotID in every key whose Limit is positive, or in
	// none: if one key already holds Limit slots the Decision is not
	// Allowed, Key names that key and nothing is taken. Acquiring a slot
	// already held is a no-op that is Allowed. Remaining is the smallest
	// number of free slots left among the keys. slotID must be unique in
	// the cluster (an Engine.IO sid is).
	Acquire(ctx context.Context, keys []SlotKey, slotID string) (Decision, error)
	// Release gives slotID back in every key. Releasing a slot not held
	// is a no-op.
	Release(ctx context.Context, keys []SlotKey, slotID string) error
}

// Rate limits events per key per window. What "limit per window" means
// depends on the algorithm (see the package doc): the sliding-window
// implementations (MemoryWindowRate, RedisWindowRate) never admit more
// than limit events in any interval of length window; the GCRA ones
// (MemoryRate, RedisRate) refill smoothly and admit up to about twice
// limit in the first window. Implementations are safe for concurrent use.
type Rate interface {
	// Allow counts one event for key if the algorithm admits it. limit
	// and window must be positive.
	Allow(ctx context.Context, key string, limit int, window time.Duration) (Decision, error)
}

// SlotKey is one key of an Acquire with its limit. Limit <= 0 means the
// key is not limited and not tracked.
type SlotKey struct {
	Key   string
	Limit int
}

// Decision is the outcome of a check.
type Decision struct {
	// Allowed is true when the connection, message or join may proceed.
	Allowed bool
	// Reason names the refused limit; ReasonNone when allowed, and from
	// the bare Slots/Rate implementations (only Limiter sets it).
	Reason Reason
	// Key is the key that refused (Acquire) or the key checked (Allow).
	Key string
	// Limit is the limit of Key.
	Limit int
	// Remaining is how many more slots or events Key admits now.
	Remaining int
	// ResetAt is when Key's full limit is available again (Allow only).
	ResetAt time.Time
	// RetryAfter is how long until the next event can be allowed, when
	// refused (Allow only; zero otherwise).
	RetryAfter time.Duration
}

var (
	// ErrInvalidKey: empty key or slot ID, or one containing a newline.
	ErrInvalidKey = errors.New("limits: invalid key")
	// ErrInvalidLimit: Allow with limit or window not positive.
	ErrInvalidLimit = errors.New("limits: invalid limit")
)

func validKey(k string) error {
	if k == "" || strings.ContainsAny(k, "\n") {
		return fmt.Errorf("%w: %q", ErrInvalidKey, k)
	}
	return nil
}

func validSlot(keys []SlotKey, slotID string) error {
	if err := validKey(slotID); err != nil {
		return err
	}
	for _, k := range keys {
		if err := validKey(k.Key); err != nil {
			return err
		}
	}
	return nil
}

func validRate(key string, limit int, window time.Duration) error {
	if err := validKey(key); err != nil {
		return err
	}
	if limit <= 0 || window <= 0 {
		return fmt.Errorf("%w: %d per %v", ErrInvalidLimit, limit, window)
	}
	return nil
}

// gcraInterval is the emission interval window/limit, at least 1 µs (the
// Redis script works in microseconds).
func gcraInterval(limit int, window time.Duration) time.Duration {
	t := window / time.Duration(limit)
	if t < time.Microsecond {
		t = time.Microsecond
	}
	return t.Truncate(time.Microsecond)
}

// windowBuckets is how many buckets a sliding window is split into: the
// window refuses at most one bucket (window/windowBuckets) early.
const windowBuckets = 60

// minWindowBucket bounds the bucket width from below, so a short window
// keeps few buckets.
const minWindowBucket = time.Millisecond

// windowSpan returns a sliding window's length and bucket width in µs
// (the unit of the Redis script): the window rounded up to a whole µs
// (rounding up is conservative), the bucket window/windowBuckets rounded
// down, at least minWindowBucket.
func windowSpan(window time.Duration) (windowUS, bucketUS int64) {
	windowUS = int64((window + time.Microsecond - 1) / time.Microsecond)
	bucketUS = max(windowUS/windowBuckets, int64(minWindowBucket/time.Microsecond))
	return windowUS, bucketUS
}
