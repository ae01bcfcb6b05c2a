package limits

import (
	"context"
	"sync"
)

// MemorySlots is Slots for one node. The zero value is not usable; call
// NewMemorySlots. Safe for concurrent use; every call holds one mutex for
// O(len(keys)) map operations.
type MemorySlots struct {
	mu   sync.Mutex
	held map[string]map[string]struct{} // key -> slot IDs; empty keys deleted
}

var _ Slots = (*MemorySlots)(nil)

// NewMemorySlots returns an empty MemorySlots.
func NewMemorySlots() *MemorySlots {
	return &MemorySlots{held: make(map[string]map[string]struct{})}
}

// Acquire implements Slots.
func (m *MemorySlots) Acquire(ctx context.Context, keys []SlotKey, slotID string) (Decision, error) {
	if err := validSlot(keys, slotID); err != nil {
		return Decision{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	d := Decision{Allowed: true, Remaining: -1}
	for _, k := range keys {
		if k.Limit <= 0 {
			continue
		}
		set := m.held[k.Key]
		_, mine := set[slotID]
		n := len(set)
		if !mine {
			if n >= k.Limit {
				return Decision{Key: k.Key, Limit: k.Limit}, nil
			}
			n++
		}
		if d.Remaining < 0 || k.Limit-n < d.Remaining {
			d.Key, d.Limit, d.Remaining = k.Key, k.Limit, k.Limit-n
		}
	}
	for _, k := range keys {
		if k.Limit <= 0 {
			continue
		}
		set := m.held[k.Key]
		if set == nil {
			set = make(map[string]struct{})
			m.held[k.Key] = set
		}
		set[slotID] = struct{}{}
	}
	if d.Remaining < 0 {
		d.Remaining = 0
	}
	return d, nil
}

// Release implements Slots.
func (m *MemorySlots) Release(ctx context.Context, keys []SlotKey, slotID string) error {
	if err := validSlot(keys, slotID); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, k := range keys {
		if set := m.held[k.Key]; set != nil {
			delete(set, slotID)
			if len(set) == 0 {
				delete(m.held, k.Key)
			}
		}
	}
	return nil
}

// Held returns how many slots key holds (for tests and debugging).
func (m *MemorySlots) Held(key string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.held[key])
}
