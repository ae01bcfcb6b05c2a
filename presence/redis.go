package presence

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

var (
	//go:embed lua/common.lua
	luaCommon string
	//go:embed lua/join.lua
	luaJoin string
	//go:embed lua/leave.lua
	luaLeave string
	//go:embed lua/setmeta.lua
	luaSetMeta string
	//go:embed lua/list.lua
	luaList string
	//go:embed lua/heartbeat.lua
	luaHeartbeat string
	//go:embed lua/sweep.lua
	luaSweep string

	scriptJoin      = redis.NewScript(luaCommon + luaJoin)
	scriptLeave     = redis.NewScript(luaCommon + luaLeave)
	scriptSetMeta   = redis.NewScript(luaCommon + luaSetMeta)
	scriptList      = redis.NewScript(luaCommon + luaList)
	scriptHeartbeat = redis.NewScript(luaCommon + luaHeartbeat)
	scriptSweep     = redis.NewScript(luaCommon + luaSweep)
)

// Redis is the cluster Store. Every mutation is one Lua script, so first/last
// decisions are atomic across nodes. Concurrent Join and Leave calls are
// coalesced: while one round trip is in flight, the calls that arrive queue
// and go out together in the next one (one EVALSHA per Config.MaxBatch
// entries).
type Redis struct {
	client redis.UniversalClient
	cfg    Config
	keys   []string // {base}
	joins  batcher[Entry, JoinResult]
	leaves batcher[Ref, LeaveResult]
	// registered is set by the first Heartbeat, so a later heartbeat that
	// does not find its own previous one means it lapsed (expired, or Redis
	// lost its data). Joins do not set it: join.lua may create the key, and
	// heartbeat.lua tells that key from its own by value.
	registered atomic.Bool
}

var _ Store = (*Redis)(nil)

// NewRedis returns a Store on client (standalone, sentinel, cluster or
// miniredis). It does not own client: closing it is the caller's job.
func NewRedis(client redis.UniversalClient, cfg Config) (*Redis, error) {
	if client == nil {
		return nil, errors.New("presence: nil redis client")
	}
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	r := &Redis{client: client, cfg: cfg, keys: []string{keyBase(cfg.KeyPrefix)}}
	r.joins = batcher[Entry, JoinResult]{max: cfg.MaxBatch, opTimeout: cfg.OpTimeout, send: r.sendJoins}
	r.leaves = batcher[Ref, LeaveResult]{max: cfg.MaxBatch, opTimeout: cfg.OpTimeout, send: r.sendLeaves}
	return r, nil
}

func wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("presence: %s: %w", op, err)
}

func (r *Redis) Join(ctx context.Context, e Entry) (JoinResult, error) {
	if err := e.normalize(&r.cfg); err != nil {
		return JoinResult{}, err
	}
	res, err := r.joins.do(ctx, e)
	return res, wrap("join", err)
}

func (r *Redis) JoinBatch(ctx context.Context, es []Entry) ([]JoinResult, error) {
	es = append([]Entry(nil), es...)
	for i := range es {
		if err := es[i].normalize(&r.cfg); err != nil {
			return nil, fmt.Errorf("entry %d: %w", i, err)
		}
	}
	res, err := r.sendJoins(ctx, es)
	return res, wrap("join batch", err)
}

func (r *Redis) Leave(ctx context.Context, ref Ref) (LeaveResult, error) {
	if err := ref.normalize(); err != nil {
		return LeaveResult{}, err
	}
	res, err := r.leaves.do(ctx, ref)
	return res, wrap("leave", err)
}

func (r *Redis) LeaveBatch(ctx context.Context, refs []Ref) ([]LeaveResult, error) {
	refs = append([]Ref(nil), refs...)
	for i := range refs {
		if err := refs[i].normalize(); err != nil {
			return nil, fmt.Errorf("ref %d: %w", i, err)
		}
	}
	res, err := r.sendLeaves(ctx, refs)
	return res, wrap("leave batch", err)
}

func (r *Redis) sendJoins(ctx context.Context, es []Entry) ([]JoinResult, error) {
	if len(es) == 0 {
		return nil, nil
	}
	now := strconv.FormatInt(r.cfg.Clock.Now().UnixMilli(), 10)
	ttl := strconv.FormatInt(r.cfg.liveTTL().Milliseconds(), 10)
	vals, err := r.runChunks(ctx, scriptJoin, len(es), 7, func(i int, args []any) []any {
		e := &es[i]
		return append(args, e.Namespace, e.Room, e.UserID, e.Name, e.ConnID, e.Node, string(e.Meta))
	}, now, ttl)
	if err != nil {
		return nil, err
	}
	if len(vals) != 2*len(es) {
		return nil, fmt.Errorf("join: %d values for %d entries", len(vals), len(es))
	}
	out := make([]JoinResult, len(es))
	for i := range out {
		out[i] = JoinResult{First: toInt(vals[2*i]) == 1, Connections: toInt(vals[2*i+1])}
	}
	return out, nil
}

func (r *Redis) sendLeaves(ctx context.Context, refs []Ref) ([]LeaveResult, error) {
	if len(refs) == 0 {
		return nil, nil
	}
	vals, err := r.runChunks(ctx, scriptLeave, len(refs), 5, func(i int, args []any) []any {
		f := &refs[i]
		keep := "0"
		if f.KeepLast {
			keep = "1"
		}
		return append(args, f.Namespace, f.Room, f.UserID, f.ConnID, keep)
	})
	if err != nil {
		return nil, err
	}
	if len(vals) != 4*len(refs) {
		return nil, fmt.Errorf("leave: %d values for %d refs", len(vals), len(refs))
	}
	out := make([]LeaveResult, len(refs))
	for i := range out {
		v := vals[4*i : 4*i+4]
		res := LeaveResult{Connections: toInt(v[1])}
		switch toInt(v[0]) {
		case 1:
			res.Removed = true
		case 2:
			res.Removed, res.Last = true, true
			res.Name = toString(v[2])
			res.Meta = toMeta(v[3])
		case 3:
			res.Last, res.Kept = true, true
		}
		out[i] = res
	}
	return out, nil
}

// runChunks sends n items, MaxBatch per script call, all calls in one
// pipeline (one round trip), and concatenates the array replies. head are
// the leading ARGV of every call; add appends item i's ARGV.
func (r *Redis) runChunks(ctx context.Context, s *redis.Script, n, width int, add func(i int, args []any) []any, head ...any) ([]any, error) {
	type chunk struct{ args []any }
	var chunks []chunk
	for lo := 0; lo < n; lo += r.cfg.MaxBatch {
		hi := min(lo+r.cfg.MaxBatch, n)
		args := make([]any, 0, len(head)+width*(hi-lo))
		args = append(args, head...)
		for i := lo; i < hi; i++ {
			args = add(i, args)
		}
		chunks = append(chunks, chunk{args})
	}
	results := make([]*redis.Cmd, len(chunks))
	if len(chunks) == 1 {
		results[0] = s.Run(ctx, r.client, r.keys, chunks[0].args...)
	} else {
		pipe := r.client.Pipeline()
		for i, c := range chunks {
			results[i] = s.EvalSha(ctx, pipe, r.keys, c.args...)
		}
		_, _ = pipe.Exec(ctx) // per-command errors are read below
		// NOSCRIPT (script cache flushed, Redis restarted): the script did
		// not run, so sending it again is safe.
		for i, cmd := range results {
			if err := cmd.Err(); err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") {
				results[i] = s.Run(ctx, r.client, r.keys, chunks[i].args...)
			}
		}
	}
	var out []any
	for _, cmd := range results {
		v, err := cmd.Slice()
		if err != nil {
			return nil, err
		}
		if out == nil {
			out = v
		} else {
			out = append(out, v...)
		}
	}
	return out, nil
}

func (r *Redis) SetMeta(ctx context.Context, ns, room, userID string, meta json.RawMessage) (Member, error) {
	meta, err := checkMeta(meta, r.cfg.MaxMetaBytes)
	if err != nil {
		return Member{}, err
	}
	v, err := scriptSetMeta.Run(ctx, r.client, r.keys, ns, room, userID, string(meta)).Slice()
	if err != nil {
		return Member{}, wrap("set meta", err)
	}
	if len(v) < 3 {
		return Member{}, ErrNotMember
	}
	return Member{UserID: userID, Name: toString(v[0]), FirstSeen: fromMillis(v[1]), Connections: toInt(v[2]), Meta: meta}, nil
}

func (r *Redis) List(ctx context.Context, ns, room, cursor string, limit int) ([]Member, string, error) {
	limit = clampLimit(limit, &r.cfg)
	start := "-"
	if cursor != "" {
		start = "(" + cursor
	}
	v, err := scriptList.Run(ctx, r.client, r.keys, ns, room, start, limit+1).Slice()
	if err != nil {
		return nil, "", wrap("list", err)
	}
	n := len(v) / 5
	more := n > limit
	n = min(n, limit)
	out := make([]Member, n)
	for i := range out {
		f := v[5*i : 5*i+5]
		out[i] = Member{UserID: toString(f[0]), Name: toString(f[1]), FirstSeen: fromMillis(f[2]), Meta: toMeta(f[3]), Connections: toInt(f[4])}
	}
	next := ""
	if more && n > 0 {
		next = out[n-1].UserID
	}
	return out, next, nil
}

func (r *Redis) Count(ctx context.Context, ns, room string) (int, error) {
	n, err := r.client.ZCard(ctx, roomKey(r.keys[0], "m", ns, room)).Result()
	return int(n), wrap("count", err)
}

func (r *Redis) Heartbeat(ctx context.Context) error {
	had, err := scriptHeartbeat.Run(ctx, r.client, r.keys, r.cfg.NodeID, r.cfg.liveTTL().Milliseconds()).Int()
	if err != nil {
		return wrap("heartbeat", err)
	}
	if wasRegistered := r.registered.Swap(true); wasRegistered && had == 0 {
		return ErrLapsed
	}
	return nil
}

func (r *Redis) Sweep(ctx context.Context) ([]Departure, error) {
	d, err := r.sweep(ctx, "")
	return d, wrap("sweep", err)
}

func (r *Redis) Evict(ctx context.Context) ([]Departure, error) {
	r.registered.Store(false)
	d, err := r.sweep(ctx, r.cfg.NodeID)
	return d, wrap("evict", err)
}

func (r *Redis) sweep(ctx context.Context, node string) ([]Departure, error) {
	var out []Departure
	for {
		v, err := scriptSweep.Run(ctx, r.client, r.keys, r.cfg.SweepBatch, node).Slice()
		if err != nil {
			return out, err
		}
		if len(v) == 0 {
			return out, errors.New("empty sweep reply")
		}
		for f := v[1:]; len(f) >= 6; f = f[6:] {
			out = append(out, Departure{Namespace: toString(f[0]), Room: toString(f[1]), UserID: toString(f[2]), Name: toString(f[3]), Meta: toMeta(f[4]), Node: toString(f[5])})
		}
		if toInt(v[0]) == 0 {
			return out, nil
		}
	}
}

func toInt(v any) int {
	switch x := v.(type) {
	case int64:
		return int(x)
	case string:
		n, _ := strconv.Atoi(x)
		return n
	}
	return 0
}

func toString(v any) string {
	s, _ := v.(string)
	return s
}

func toMeta(v any) json.RawMessage {
	if s := toString(v); s != "" {
		return json.RawMessage(s)
	}
	return nil
}

func fromMillis(v any) time.Time {
	if ms := int64(toInt(v)); ms > 0 {
		return time.UnixMilli(ms)
	}
	return time.Time{}
}
