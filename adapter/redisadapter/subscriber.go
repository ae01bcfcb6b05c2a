package redisadapter

import (
	"context"
	"errors"
	"sync/atomic"

	"github.com/redis/go-redis/v9"

	"github.com/ionbus/ionbus/adapter"
)

// subscriber is one subscribed connection with its receive goroutine.
// There is one, except in sharded mode on a Redis Cluster, where each hash
// slot in use gets its own (SSUBSCRIBE must reach the slot's owner).
type subscriber struct {
	ps   *redis.PubSub
	down atomic.Bool   // connection lost, reconnecting
	init chan struct{} // closed once the first subscription was sent
}

type subOp uint8

const (
	subChannel   subOp = 1
	subPattern   subOp = 2
	unsubChannel subOp = 3
	unsubPattern subOp = 4
)

// slotOf returns the subscriber key of channel.
func (a *Adapter) slotOf(channel string) int {
	if a.cluster != nil && a.cfg.Mode == ModeSharded {
		return keySlot(channel)
	}
	return -1
}

// subFor returns the subscriber for slot and whether the caller created
// it; nil after Close. A creator must call subscribed(s) after the first
// subscription: the receive loop starts only then, because a read on a
// fresh cluster PubSub would connect it to a random node instead of the
// slot's owner.
func (a *Adapter) subFor(slot int) (*subscriber, bool) {
	a.psMu.Lock()
	defer a.psMu.Unlock()
	if a.closed.Load() {
		return nil, false
	}
	if s := a.subs[slot]; s != nil {
		return s, false
	}
	s := &subscriber{init: make(chan struct{})}
	if a.cfg.Mode == ModeSharded {
		s.ps = a.client.SSubscribe(a.ctx)
	} else {
		s.ps = a.client.Subscribe(a.ctx)
	}
	a.subs[slot] = s
	return s, true
}

func (a *Adapter) subscribed(s *subscriber) {
	a.psMu.Lock()
	if !a.closed.Load() {
		a.goRun(func() { a.receiveLoop(s) })
	}
	a.psMu.Unlock()
	close(s.init)
}

// subscribe applies op to channels, grouped by subscriber. go-redis keeps
// the channel set even when the command fails and replays it after a
// reconnect, so an error here is not fatal.
func (a *Adapter) subscribe(ctx context.Context, op subOp, channels ...string) error {
	groups := map[int][]string{}
	var order []int
	for _, ch := range channels {
		slot := a.slotOf(ch)
		if _, ok := groups[slot]; !ok {
			order = append(order, slot)
		}
		groups[slot] = append(groups[slot], ch)
	}
	var errs []error
	for _, slot := range order {
		s, created := a.subFor(slot)
		if s == nil {
			return adapter.ErrClosed
		}
		if !created {
			select {
			case <-s.init:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		chans := groups[slot]
		var err error
		switch {
		case op == subPattern:
			err = s.ps.PSubscribe(ctx, chans...)
		case op == unsubPattern:
			err = s.ps.PUnsubscribe(ctx, chans...)
		case op == subChannel && a.cfg.Mode == ModeSharded:
			err = s.ps.SSubscribe(ctx, chans...)
		case op == subChannel:
			err = s.ps.Subscribe(ctx, chans...)
		case a.cfg.Mode == ModeSharded:
			err = s.ps.SUnsubscribe(ctx, chans...)
		default:
			err = s.ps.Unsubscribe(ctx, chans...)
		}
		if created {
			a.subscribed(s)
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
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
