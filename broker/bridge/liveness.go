package bridge

import (
	"context"
	"time"
)

// loop refreshes the heartbeat and sweeps dead nodes every NodeTTL/3.
func (l *lifecycle) loop(ctx context.Context) {
	t := time.NewTicker(l.b.cfg.NodeTTL / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			l.heartbeat(ctx)
			if _, err := l.sweep(ctx); err != nil && ctx.Err() == nil {
				l.b.redisFailure("sweep", err)
			}
		}
	}
}

// heartbeat refreshes this node's heartbeat. When the previous one had
// lapsed (other nodes may have swept this node's sockets, or Redis lost
// its data), the live sockets are registered again.
func (l *lifecycle) heartbeat(ctx context.Context) {
	b := l.b
	hctx, cancel := context.WithTimeout(ctx, b.cfg.Timeout)
	alive, err := scriptHeartbeat.Run(hctx, b.rdb, []string{l.keys.hb}, b.cfg.NodeTTL.Milliseconds()).Int()
	cancel()
	if err != nil {
		if ctx.Err() == nil {
			b.redisFailure("heartbeat", err)
		}
		return
	}
	if l.registered.Swap(true) && alive == 0 {
		b.log.Warn().Msg("lifecycle heartbeat lapsed: this node's sockets may have been swept; registering them again")
		l.resync()
	}
}

// resync gives every live socket a new incarnation and buffers its
// connect and joins again. A sweep may have written their disconnects
// (reason "node dead"); the new tag keeps the coming real disconnect
// from being deduplicated against the swept one.
func (l *lifecycle) resync() {
	l.b.stats.resyncs.Add(1)
	for _, s := range l.b.liveSockets() {
		st := existingState(s)
		if st == nil {
			continue
		}
		st.mu.Lock()
		if st.recorded && !st.disconnected {
			l.connectLocked(s, st)
			for _, r := range s.Rooms() {
				if r != s.ID() {
					l.roomLocked(s, st, LifeJoin, r)
				}
			}
		}
		st.mu.Unlock()
	}
}

// sweep emits the disconnects of the sockets of every node whose
// heartbeat is gone (sweep.lua, exactly once per socket across all
// sweepers) and returns the events it added.
func (l *lifecycle) sweep(ctx context.Context) ([]LifeEvent, error) {
	b := l.b
	var out []LifeEvent
	for {
		now := l.now()
		sctx, cancel := context.WithTimeout(ctx, b.cfg.Timeout)
		v, err := scriptSweep.Run(sctx, b.rdb, []string{l.keys.stream, l.keys.nodes, l.keys.users},
			l.keys.base, sweepBudget, now, ReasonNodeDead, l.cfg.MaxLen).Slice()
		cancel()
		if err != nil {
			return out, err
		}
		var batch []LifeEvent
		for f := v[1:]; len(f) >= 6; f = f[6:] {
			ev := LifeEvent{Reason: ReasonNodeDead, Time: now}
			ev.Type, _ = f[0].(string)
			ev.Namespace, _ = f[1].(string)
			ev.SID, _ = f[2].(string)
			ev.User, _ = f[3].(string)
			ev.Node, _ = f[4].(string)
			ev.ID, _ = f[5].(string)
			batch = append(batch, ev)
		}
		if len(batch) > 0 {
			b.stats.lifeSwept.Add(uint64(len(batch)))
			b.log.Info().Int("events", len(batch)).Msg("lifecycle: swept the sockets of dead nodes")
			l.post(batch)
			out = append(out, batch...)
		}
		if len(v) == 0 || toInt(v[0]) != 1 {
			return out, nil
		}
	}
}
