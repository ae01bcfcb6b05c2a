package redisadapter

import (
	"context"
	"errors"
	"maps"
	"slices"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ionbus/ionbus/adapter"
)

// subscriber is one subscribed connection with its receive goroutine.
//
// Outside sharded mode on a Redis Cluster there is one, keyed "": go-redis
// redials it and replays its channel set after a connection loss.
//
// In sharded mode on a Redis Cluster there is one per master owning a
// channel in use, keyed by the master's address. It holds the channels of
// every slot that master serves, each slot's in its own SSUBSCRIBE (Redis
// refuses one across slots). go-redis would replay them all in a single
// command after a reconnect, so such a subscriber is never reconnected: on
// any error it is dropped, its channels become orphans, and repairLoop
// subscribes them again wherever the reloaded slot map puts them (the
// promoted replica, after a failover).
type subscriber struct {
	ps    *redis.PubSub
	addr  string
	down  atomic.Bool         // connection lost, reconnecting (single subscriber)
	chans map[string]struct{} // per-shard: its channels; guarded by subMu
}

type subOp uint8

const (
	subChannel   subOp = 1
	subPattern   subOp = 2
	unsubChannel subOp = 3
	unsubPattern subOp = 4
)

// perShard reports whether subscriptions are spread over the masters.
func (a *Adapter) perShard() bool { return a.cluster != nil && a.cfg.Mode == ModeSharded }

// subscribe applies op to channels. Subscription changes are serialized
// by subMu. A subscriber is registered (visible to confirm and to its
// receive loop) only after its first subscription was sent: a read or a
// PING on a fresh cluster PubSub would connect it to a random node.
//
// A single subscriber keeps its channel set even when the command fails
// (go-redis replays it after a reconnect); per-shard, a failed channel is
// an orphan until repairLoop places it. Either way an error is not final.
func (a *Adapter) subscribe(ctx context.Context, op subOp, channels ...string) error {
	a.subMu.Lock()
	defer a.subMu.Unlock()
	if a.closed.Load() {
		return adapter.ErrClosed
	}
	if a.perShard() {
		if op == subChannel {
			return a.shardSubscribe(ctx, channels)
		}
		a.shardUnsubscribe(ctx, channels)
		return nil
	}
	s := a.sub("")
	created := s == nil
	if created {
		s = &subscriber{}
		if a.cfg.Mode == ModeSharded {
			s.ps = a.client.SSubscribe(a.ctx)
		} else {
			s.ps = a.client.Subscribe(a.ctx)
		}
	}
	var err error
	switch {
	case op == subPattern:
		err = s.ps.PSubscribe(ctx, channels...)
	case op == unsubPattern:
		err = s.ps.PUnsubscribe(ctx, channels...)
	case op == subChannel && a.cfg.Mode == ModeSharded:
		err = s.ps.SSubscribe(ctx, channels...)
	case op == subChannel:
		err = s.ps.Subscribe(ctx, channels...)
	case a.cfg.Mode == ModeSharded:
		err = s.ps.SUnsubscribe(ctx, channels...)
	default:
		err = s.ps.Unsubscribe(ctx, channels...)
	}
	if created {
		a.register(s)
	}
	return err
}

// register publishes s and starts its receive loop; subMu held.
func (a *Adapter) register(s *subscriber) {
	a.psMu.Lock()
	defer a.psMu.Unlock()
	if a.closed.Load() {
		_ = s.ps.Close()
		return
	}
	a.subs[s.addr] = s
	a.goRun(func() { a.receiveLoop(s) })
}

// shardSubscribe subscribes channels not yet subscribed on the master that
// owns each one's slot; subMu held.
func (a *Adapter) shardSubscribe(ctx context.Context, channels []string) error {
	byAddr := map[string][]string{}
	var order []string
	var errs []error
	for _, ch := range channels {
		if a.chanSub[ch] != nil {
			continue
		}
		m, err := a.cluster.MasterForKey(ctx, ch)
		if err != nil {
			a.orphan(ch)
			errs = append(errs, err)
			continue
		}
		addr := m.Options().Addr
		if _, ok := byAddr[addr]; !ok {
			order = append(order, addr)
		}
		byAddr[addr] = append(byAddr[addr], ch)
	}
	for _, addr := range order {
		if err := a.shardAdd(ctx, addr, byAddr[addr]); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		a.kickRepair()
	}
	return errors.Join(errs...)
}

// shardAdd subscribes chans, all owned by the master at addr, on its
// subscriber (created on first use), one SSUBSCRIBE per slot. A failed
// write means the connection is unusable: the subscriber is dropped and
// every channel on it waits for repair. subMu held.
func (a *Adapter) shardAdd(ctx context.Context, addr string, chans []string) error {
	s := a.sub(addr)
	created := s == nil
	if created {
		s = &subscriber{ps: a.cluster.SSubscribe(a.ctx), addr: addr, chans: map[string]struct{}{}}
	}
	bySlot := map[int][]string{}
	for _, ch := range chans {
		bySlot[keySlot(ch)] = append(bySlot[keySlot(ch)], ch)
	}
	for _, group := range bySlot {
		if err := s.ps.SSubscribe(ctx, group...); err != nil {
			for _, ch := range chans {
				if a.chanSub[ch] == nil {
					a.orphan(ch)
				}
			}
			a.dropShard(s)
			return err
		}
		for _, ch := range group {
			s.chans[ch] = struct{}{}
			a.chanSub[ch] = s
			if _, ok := a.orphans[ch]; ok {
				delete(a.orphans, ch)
				a.orphanCount.Add(-1)
			}
		}
	}
	if created {
		a.register(s)
	}
	return nil
}

// shardUnsubscribe drops channels from the subscribers holding them (or
// from the orphans) and closes a subscriber left without channels, so no
// idle connection stays behind; subMu held.
func (a *Adapter) shardUnsubscribe(ctx context.Context, channels []string) {
	bySub := map[*subscriber][]string{}
	for _, ch := range channels {
		if _, ok := a.orphans[ch]; ok {
			delete(a.orphans, ch)
			a.orphanCount.Add(-1)
			continue
		}
		if s := a.chanSub[ch]; s != nil {
			bySub[s] = append(bySub[s], ch)
		}
	}
	for s, chans := range bySub {
		bySlot := map[int][]string{}
		for _, ch := range chans {
			bySlot[keySlot(ch)] = append(bySlot[keySlot(ch)], ch)
			delete(s.chans, ch)
			delete(a.chanSub, ch)
		}
		if len(s.chans) == 0 {
			a.unregister(s)
			_ = s.ps.Close() // unsubscribes everything
			continue
		}
		for _, group := range bySlot {
			// A failed write means a broken connection, which its
			// receive loop drops; the channels are gone either way.
			_ = s.ps.SUnsubscribe(ctx, group...)
		}
	}
}

func (a *Adapter) orphan(ch string) {
	if _, ok := a.orphans[ch]; !ok {
		a.orphans[ch] = struct{}{}
		a.orphanCount.Add(1)
	}
}

// dropShard closes s and turns its channels into orphans; subMu held.
func (a *Adapter) dropShard(s *subscriber) {
	a.unregister(s)
	for ch := range s.chans {
		delete(a.chanSub, ch)
		a.orphan(ch)
	}
	s.chans = map[string]struct{}{}
	_ = s.ps.Close()
}

func (a *Adapter) sub(addr string) *subscriber {
	a.psMu.Lock()
	defer a.psMu.Unlock()
	return a.subs[addr]
}

func (a *Adapter) unregister(s *subscriber) {
	a.psMu.Lock()
	if a.subs[s.addr] == s {
		delete(a.subs, s.addr)
	}
	a.psMu.Unlock()
}

func (a *Adapter) kickRepair() {
	select {
	case a.repairKick <- struct{}{}:
	default:
	}
}

// shardLost handles a receive error on a per-shard subscriber: the master
// may be gone, so the slot map is reloaded and the channels resubscribed
// where it now says they live.
func (a *Adapter) shardLost(s *subscriber, err error) {
	a.subMu.Lock()
	live := a.sub(s.addr) == s
	if live { // not closed by an unsubscribe or Close
		a.stats.receiveErrors.Add(1)
		a.log.Warn().Err(err).Str("master", s.addr).Int("channels", len(s.chans)).Msg("redis shard subscription lost; local delivery continues, resubscribing where the slot map says")
		a.dropShard(s)
	}
	a.subMu.Unlock()
	if live {
		a.cluster.ReloadState(a.ctx)
		a.kickRepair()
	}
}

// repairLoop resubscribes orphaned channels (per-shard mode): it reloads
// the slot map, waits (capped exponential backoff, cut short when a
// heartbeat succeeds again) and places every orphan on its slot's master,
// until none is left.
func (a *Adapter) repairLoop() {
	const first = 100 * time.Millisecond // a slot map reload is one round trip
	for {
		select {
		case <-a.ctx.Done():
			return
		case <-a.repairKick:
		}
		for backoff := first; a.orphanCount.Load() > 0; backoff = min(backoff*2, a.cfg.MaxBackoff) {
			a.cluster.ReloadState(a.ctx)
			select {
			case <-a.ctx.Done():
				return
			case <-time.After(backoff):
			case <-a.wakeCh():
			}
			a.subMu.Lock()
			n := len(a.orphans)
			err := a.shardSubscribe(a.ctx, slices.Collect(maps.Keys(a.orphans)))
			a.subMu.Unlock()
			if err == nil && a.orphanCount.Load() == 0 {
				a.stats.resubscribes.Add(1)
				a.log.Info().Int("channels", n).Msg("redis shard subscriptions restored")
			}
		}
	}
}

// keySlot is the Redis Cluster hash slot of key (CRC16/XMODEM mod 16384,
// honouring {hash tags}).
func keySlot(key string) int {
	if s := indexByte(key, '{'); s >= 0 {
		if e := indexByte(key[s+1:], '}'); e > 0 {
			key = key[s+1 : s+1+e]
		}
	}
	var crc uint16
	for i := 0; i < len(key); i++ {
		crc ^= uint16(key[i]) << 8
		for j := 0; j < 8; j++ {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return int(crc) % 16384
}

func indexByte(s string, c byte) int {
	for i := 0; i < len(s); i++ {
		if s[i] == c {
			return i
		}
	}
	return -1
}
