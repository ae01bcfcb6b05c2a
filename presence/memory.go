package presence

import (
	"context"
	"encoding/json"
	"sort"
	"sync"
	"time"
)

// Memory is a Store for one process. It keeps the same node-ownership model
// as Redis (Node views simulate several nodes sharing one state), so the
// behaviour suite runs unchanged against both.
type Memory struct {
	cfg   Config
	state *memState
}

var _ Store = (*Memory)(nil)

type memState struct {
	mu        sync.Mutex
	rooms     map[roomID]*memRoom
	nodeConns map[string]map[connRef]struct{}
	alive     map[string]time.Time // node -> heartbeat expiry
	beaten    map[string]bool      // node has had a heartbeat or join
}

type roomID struct{ ns, room string }

type connRef struct{ ns, room, user, conn string }

type memRoom struct {
	members map[string]*memMember
	sorted  []string // user ids in order; valid when !dirty
	dirty   bool
}

type memMember struct {
	name  string
	first time.Time
	meta  json.RawMessage
	conns map[string]string // conn -> node
}

// NewMemory returns an empty in-process Store.
func NewMemory(cfg Config) (*Memory, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return &Memory{cfg: cfg, state: &memState{
		rooms:     make(map[roomID]*memRoom),
		nodeConns: make(map[string]map[connRef]struct{}),
		alive:     make(map[string]time.Time),
		beaten:    make(map[string]bool),
	}}, nil
}

// Node returns a view of the same state acting as another node (Config.NodeID
// = id): its Heartbeat, Evict and default Entry.Node use id. It lets tests and
// single-binary demos simulate a cluster in one process.
func (m *Memory) Node(id string) *Memory {
	cfg := m.cfg
	cfg.NodeID = id
	return &Memory{cfg: cfg, state: m.state}
}

func (m *Memory) Join(ctx context.Context, e Entry) (JoinResult, error) {
	rs, err := m.JoinBatch(ctx, []Entry{e})
	if err != nil {
		return JoinResult{}, err
	}
	return rs[0], nil
}

func (m *Memory) JoinBatch(ctx context.Context, es []Entry) ([]JoinResult, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	es = append([]Entry(nil), es...)
	for i := range es {
		if err := es[i].normalize(&m.cfg); err != nil {
			return nil, err
		}
	}
	now := m.cfg.Clock.Now()
	out := make([]JoinResult, len(es))
	s := m.state
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, e := range es {
		id := roomID{e.Namespace, e.Room}
		r := s.rooms[id]
		if r == nil {
			r = &memRoom{members: make(map[string]*memMember)}
			s.rooms[id] = r
		}
		mb := r.members[e.UserID]
		if mb == nil {
			mb = &memMember{name: e.Name, first: now.Truncate(time.Millisecond), meta: e.Meta, conns: make(map[string]string)}
			r.members[e.UserID] = mb
			r.dirty = true
		}
		if _, ok := mb.conns[e.ConnID]; ok {
			out[i] = JoinResult{Connections: len(mb.conns)}
			continue
		}
		mb.conns[e.ConnID] = e.Node
		nc := s.nodeConns[e.Node]
		if nc == nil {
			nc = make(map[connRef]struct{})
			s.nodeConns[e.Node] = nc
		}
		nc[connRef{e.Namespace, e.Room, e.UserID, e.ConnID}] = struct{}{}
		if !s.beaten[e.Node] {
			s.beaten[e.Node] = true
			s.alive[e.Node] = now.Add(m.cfg.liveTTL())
		}
		out[i] = JoinResult{First: len(mb.conns) == 1, Connections: len(mb.conns)}
	}
	return out, nil
}

func (m *Memory) Leave(ctx context.Context, r Ref) (LeaveResult, error) {
	rs, err := m.LeaveBatch(ctx, []Ref{r})
	if err != nil {
		return LeaveResult{}, err
	}
	return rs[0], nil
}

func (m *Memory) LeaveBatch(ctx context.Context, refs []Ref) ([]LeaveResult, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	refs = append([]Ref(nil), refs...)
	for i := range refs {
		if err := refs[i].normalize(); err != nil {
			return nil, err
		}
	}
	out := make([]LeaveResult, len(refs))
	s := m.state
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, r := range refs {
		out[i] = s.remove(connRef{r.Namespace, r.Room, r.UserID, r.ConnID}, r.KeepLast, "")
	}
	return out, nil
}

// remove drops one connection; when node is not empty the connection must be
// owned by it. Caller holds s.mu.
func (s *memState) remove(c connRef, keepLast bool, node string) LeaveResult {
	id := roomID{c.ns, c.room}
	r := s.rooms[id]
	if r == nil {
		return LeaveResult{}
	}
	mb := r.members[c.user]
	if mb == nil {
		return LeaveResult{}
	}
	owner, ok := mb.conns[c.conn]
	if !ok || (node != "" && owner != node) {
		return LeaveResult{Connections: len(mb.conns)}
	}
	if len(mb.conns) == 1 && keepLast {
		return LeaveResult{Last: true, Kept: true, Connections: 1}
	}
	delete(mb.conns, c.conn)
	if nc := s.nodeConns[owner]; nc != nil {
		delete(nc, c)
		if len(nc) == 0 {
			delete(s.nodeConns, owner)
		}
	}
	if len(mb.conns) > 0 {
		return LeaveResult{Removed: true, Connections: len(mb.conns)}
	}
	delete(r.members, c.user)
	r.dirty = true
	if len(r.members) == 0 {
		delete(s.rooms, id)
	}
	return LeaveResult{Removed: true, Last: true, Name: mb.name, Meta: mb.meta}
}

func (m *Memory) SetMeta(ctx context.Context, ns, room, userID string, meta json.RawMessage) (Member, error) {
	if err := ctx.Err(); err != nil {
		return Member{}, err
	}
	meta, err := checkMeta(meta, m.cfg.MaxMetaBytes)
	if err != nil {
		return Member{}, err
	}
	s := m.state
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.rooms[roomID{ns, room}]
	if r == nil || r.members[userID] == nil {
		return Member{}, ErrNotMember
	}
	mb := r.members[userID]
	mb.meta = meta
	return mb.member(userID), nil
}

func (mb *memMember) member(id string) Member {
	return Member{UserID: id, Name: mb.name, Connections: len(mb.conns), FirstSeen: mb.first, Meta: mb.meta}
}

func (m *Memory) List(ctx context.Context, ns, room, cursor string, limit int) ([]Member, string, error) {
	if err := ctx.Err(); err != nil {
		return nil, "", err
	}
	limit = clampLimit(limit, &m.cfg)
	s := m.state
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.rooms[roomID{ns, room}]
	if r == nil {
		return nil, "", nil
	}
	if r.dirty {
		r.sorted = r.sorted[:0]
		for id := range r.members {
			r.sorted = append(r.sorted, id)
		}
		sort.Strings(r.sorted)
		r.dirty = false
	}
	i := 0
	if cursor != "" {
		i = sort.Search(len(r.sorted), func(i int) bool { return r.sorted[i] > cursor })
	}
	end := min(i+limit, len(r.sorted))
	out := make([]Member, 0, end-i)
	for _, id := range r.sorted[i:end] {
		out = append(out, r.members[id].member(id))
	}
	next := ""
	if end < len(r.sorted) && len(out) > 0 {
		next = out[len(out)-1].UserID
	}
	return out, next, nil
}

func clampLimit(limit int, cfg *Config) int {
	if limit <= 0 {
		return cfg.PageSize
	}
	return min(limit, cfg.MaxPageSize)
}

func (m *Memory) Count(ctx context.Context, ns, room string) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	s := m.state
	s.mu.Lock()
	defer s.mu.Unlock()
	if r := s.rooms[roomID{ns, room}]; r != nil {
		return len(r.members), nil
	}
	return 0, nil
}

func (m *Memory) Heartbeat(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	now := m.cfg.Clock.Now()
	s := m.state
	s.mu.Lock()
	defer s.mu.Unlock()
	node := m.cfg.NodeID
	exp, had := s.alive[node]
	lapsed := s.beaten[node] && (!had || !now.Before(exp))
	s.beaten[node] = true
	s.alive[node] = now.Add(m.cfg.liveTTL())
	if lapsed {
		return ErrLapsed
	}
	return nil
}

func (m *Memory) Sweep(ctx context.Context) ([]Departure, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	now := m.cfg.Clock.Now()
	s := m.state
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Departure
	for node := range s.nodeConns {
		if exp, ok := s.alive[node]; ok && now.Before(exp) {
			continue
		}
		delete(s.alive, node)
		out = s.evict(node, out)
	}
	return out, nil
}

func (m *Memory) Evict(ctx context.Context) ([]Departure, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s := m.state
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.alive, m.cfg.NodeID)
	delete(s.beaten, m.cfg.NodeID)
	return s.evict(m.cfg.NodeID, nil), nil
}

func (s *memState) evict(node string, out []Departure) []Departure {
	for c := range s.nodeConns[node] {
		if res := s.remove(c, false, node); res.Last {
			out = append(out, Departure{Namespace: c.ns, Room: c.room, UserID: c.user, Name: res.Name, Meta: res.Meta, Node: node})
		}
	}
	delete(s.nodeConns, node)
	return out
}
