package adminui

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// sessionStore keeps the session ids handed to logged-in UIs (upstream's
// Store). Ids are stored as SHA-256 digests: whoever reads the store
// cannot log in with what they read.
type sessionStore interface {
	save(ctx context.Context, id string, ttl time.Duration) error
	exists(ctx context.Context, id string) (bool, error)
}

// newSessionID is 16 random bytes, base64url.
func newSessionID() string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

func digest(id string) string {
	sum := sha256.Sum256([]byte(id))
	return hex.EncodeToString(sum[:])
}

// memorySessions is the store of a node without Redis: a UI that comes
// back to another node logs in again.
type memorySessions struct {
	now func() time.Time
	mu  sync.Mutex
	m   map[string]time.Time // digest -> expiry
}

func newMemorySessions(now func() time.Time) *memorySessions {
	return &memorySessions{now: now, m: make(map[string]time.Time)}
}

func (s *memorySessions) save(_ context.Context, id string, ttl time.Duration) error {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, exp := range s.m { // logins are rare: sweep on each
		if !now.Before(exp) {
			delete(s.m, k)
		}
	}
	s.m[digest(id)] = now.Add(ttl)
	return nil
}

func (s *memorySessions) exists(_ context.Context, id string) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	exp, ok := s.m[digest(id)]
	return ok && s.now().Before(exp), nil
}

// redisSessions shares sessions between the nodes: one key per session,
// <prefix>:session:<sha256 hex>, expiring with it.
type redisSessions struct {
	rdb    redis.UniversalClient
	prefix string
}

func (s *redisSessions) key(id string) string { return s.prefix + ":session:" + digest(id) }

func (s *redisSessions) save(ctx context.Context, id string, ttl time.Duration) error {
	return s.rdb.Set(ctx, s.key(id), "1", ttl).Err()
}

func (s *redisSessions) exists(ctx context.Context, id string) (bool, error) {
	n, err := s.rdb.Exists(ctx, s.key(id)).Result()
	return n == 1, err
}
