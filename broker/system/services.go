package system

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Service is a backend-supplied entry of system:health's "services".
type Service struct {
	Name      string    `json:"name"`
	Status    string    `json:"status"`
	ExpiresAt time.Time `json:"expires_at"`
}

// Limits of the services API.
const (
	MaxServices   = 100            // services recorded at once, cluster-wide
	MinServiceTTL = time.Second    // shortest ttl_ms
	MaxServiceTTL = 24 * time.Hour // longest ttl_ms
	// DefaultServiceTTL applies when a POST names none.
	DefaultServiceTTL = time.Minute
)

// Errors of the services store.
var (
	ErrTooManyServices = errors.New("system: too many services")
	ErrBadService      = errors.New("system: invalid service")
)

// ReservedServices are the names the node fills in itself.
var ReservedServices = map[string]bool{"redis": true}

var serviceName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$`)

// checkService validates a name and a status.
func checkService(name, status string) error {
	if !serviceName.MatchString(name) {
		return fmt.Errorf("%w: name %q: 1 to 64 letters, digits, '_', '.', ':' or '-'", ErrBadService, name)
	}
	if ReservedServices[name] {
		return fmt.Errorf("%w: %q is filled in by the node", ErrBadService, name)
	}
	if status == "" || len(status) > 64 {
		return fmt.Errorf("%w: status: 1 to 64 characters", ErrBadService)
	}
	for _, r := range status {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("%w: status: no control characters", ErrBadService)
		}
	}
	return nil
}

// serviceStore keeps the services cluster-wide (Redis) or for one node.
type serviceStore interface {
	set(ctx context.Context, s Service, ttl time.Duration) error
	remove(ctx context.Context, name string) error
	list(ctx context.Context, now time.Time) ([]Service, error)
}

// memoryServices is the single-node store.
type memoryServices struct {
	mu sync.Mutex
	m  map[string]Service
}

func (s *memoryServices) set(_ context.Context, svc Service, _ time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[string]Service{}
	}
	now := time.Now()
	for name, old := range s.m {
		if !old.ExpiresAt.After(now) {
			delete(s.m, name)
		}
	}
	if _, ok := s.m[svc.Name]; !ok && len(s.m) >= MaxServices {
		return ErrTooManyServices
	}
	s.m[svc.Name] = svc
	return nil
}

func (s *memoryServices) remove(_ context.Context, name string) error {
	s.mu.Lock()
	delete(s.m, name)
	s.mu.Unlock()
	return nil
}

func (s *memoryServices) list(_ context.Context, now time.Time) ([]Service, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Service, 0, len(s.m))
	for name, svc := range s.m {
		if !svc.ExpiresAt.After(now) {
			delete(s.m, name)
			continue
		}
		out = append(out, svc)
	}
	sortServices(out)
	return out, nil
}

var (
	//go:embed lua/services_set.lua
	luaServicesSet string
	//go:embed lua/services_prune.lua
	luaServicesPrune string

	scriptServicesSet   = redis.NewScript(luaServicesSet)
	scriptServicesPrune = redis.NewScript(luaServicesPrune)
)

// redisServices keeps the services in one hash (so Redis Cluster needs
// no cross-slot command): field = name, value = the Service as JSON.
type redisServices struct {
	rdb redis.UniversalClient
	key string
}

func (s *redisServices) set(ctx context.Context, svc Service, ttl time.Duration) error {
	val, err := json.Marshal(svc)
	if err != nil {
		return err
	}
	ok, err := scriptServicesSet.Run(ctx, s.rdb, []string{s.key}, svc.Name, val, ttl.Milliseconds(), MaxServices).Int()
	if err != nil {
		return err
	}
	if ok == 0 {
		return ErrTooManyServices
	}
	return nil
}

func (s *redisServices) remove(ctx context.Context, name string) error {
	return s.rdb.HDel(ctx, s.key, name).Err()
}

func (s *redisServices) list(ctx context.Context, now time.Time) ([]Service, error) {
	all, err := s.rdb.HGetAll(ctx, s.key).Result()
	if err != nil {
		return nil, err
	}
	out := make([]Service, 0, len(all))
	var expired []any
	for name, raw := range all {
		var svc Service
		if json.Unmarshal([]byte(raw), &svc) != nil || svc.Name != name || !svc.ExpiresAt.After(now) {
			expired = append(expired, name, raw)
			continue
		}
		out = append(out, svc)
	}
	if len(expired) > 0 {
		// Best effort: a failure leaves them for the next reader.
		_ = scriptServicesPrune.Run(ctx, s.rdb, []string{s.key}, expired...).Err()
	}
	sortServices(out)
	return out, nil
}

func sortServices(list []Service) {
	sort.Slice(list, func(i, j int) bool { return list[i].Name < list[j].Name })
}
