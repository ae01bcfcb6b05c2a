package limits

import (
	"context"
	"net/netip"
	"strconv"
	"testing"
	"time"
)

func benchFactories() []factory {
	return []factory{{"memory", newMemoryEnv}, {"redis-server", newRealRedisEnv}}
}

// BenchmarkAcquire: Acquire + Release of one connection slot on a user
// and an IP key (the steady state of connect/disconnect).
func BenchmarkAcquire(b *testing.B) {
	for _, f := range benchFactories() {
		b.Run(f.name, func(b *testing.B) {
			e := f.new(b)
			s := e.slots("bench")
			ctx := context.Background()
			keys := []SlotKey{{Key: "user:1", Limit: 10}, {Key: "ip:1.2.3.4", Limit: 100}}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				slot := strconv.Itoa(i)
				i++
				d, err := s.Acquire(ctx, keys, slot)
				if err != nil || !d.Allowed {
					b.Fatal(d, err)
				}
				if err := s.Release(ctx, keys, slot); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkAcquireRefused: the cost of a refusal at the limit (an
// attacker's reconnect loop), including the dead-node check.
func BenchmarkAcquireRefused(b *testing.B) {
	for _, f := range benchFactories() {
		b.Run(f.name, func(b *testing.B) {
			e := f.new(b)
			s := e.slots("bench")
			ctx := context.Background()
			keys := []SlotKey{{Key: "ip:1.2.3.4", Limit: 100}}
			for i := range 100 {
				if _, err := s.Acquire(ctx, keys, strconv.Itoa(i)); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportAllocs()
			for b.Loop() {
				if d, err := s.Acquire(ctx, keys, "x"); err != nil || d.Allowed {
					b.Fatal(d, err)
				}
			}
		})
	}
}

// BenchmarkAllow: one message-rate check.
func BenchmarkAllow(b *testing.B) {
	for _, f := range benchFactories() {
		b.Run(f.name, func(b *testing.B) {
			e := f.new(b)
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				e.clock.Advance(time.Second) // stay under the limit
				if _, err := e.rate.Allow(ctx, "msg:u1", 100, time.Minute); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkConnectionAdmission is the whole limit cost of one connection:
// AllowConnectAttempt + AcquireConnection at connect, ReleaseConnection
// at disconnect.
func BenchmarkConnectionAdmission(b *testing.B) {
	for _, f := range benchFactories() {
		b.Run(f.name, func(b *testing.B) {
			e := f.new(b)
			l, err := New(Config{ConnectAttemptsPerIP: 1 << 30, Now: e.clock.Now}, e.slots("bench"), e.rate)
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			ip := netip.MustParseAddr("203.0.113.9")
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				sid := strconv.Itoa(i)
				i++
				if d, err := l.AllowConnectAttempt(ctx, ip); err != nil || !d.Allowed {
					b.Fatal(d, err)
				}
				if d, err := l.AcquireConnection(ctx, "u1", ip, sid); err != nil || !d.Allowed {
					b.Fatal(d, err)
				}
				if err := l.ReleaseConnection(ctx, "u1", ip, sid); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkAllowParallel: message checks from many goroutines.
func BenchmarkAllowParallel(b *testing.B) {
	for _, f := range benchFactories() {
		b.Run(f.name, func(b *testing.B) {
			e := f.new(b)
			ctx := context.Background()
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				i := 0
				for pb.Next() {
					i++
					if _, err := e.rate.Allow(ctx, "msg:u"+strconv.Itoa(i%1000), 1<<30, time.Minute); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// rateAlgorithms are the Rate implementations of one env.
func rateAlgorithms(e *env) []struct {
	name string
	rate Rate
} {
	return []struct {
		name string
		rate Rate
	}{{"gcra", e.rate}, {"window", e.window("bench")}}
}

// BenchmarkRateAllow: one admitted message-rate check per algorithm, one
// event per second at 100/min, so the window key holds its full 60
// buckets (the largest hash the script reads).
func BenchmarkRateAllow(b *testing.B) {
	for _, f := range benchFactories() {
		for i, name := range []string{"gcra", "window"} {
			b.Run(name+"/"+f.name, func(b *testing.B) {
				e := f.new(b)
				r := rateAlgorithms(e)[i].rate
				ctx := context.Background()
				b.ReportAllocs()
				for b.Loop() {
					e.clock.Advance(time.Second)
					if d, err := r.Allow(ctx, "msg:u1", 100, time.Minute); err != nil || !d.Allowed {
						b.Fatal(d, err)
					}
				}
			})
		}
	}
}

// BenchmarkRateRefused: a check at the limit (a flooding client).
func BenchmarkRateRefused(b *testing.B) {
	for _, f := range benchFactories() {
		for i, name := range []string{"gcra", "window"} {
			b.Run(name+"/"+f.name, func(b *testing.B) {
				e := f.new(b)
				r := rateAlgorithms(e)[i].rate
				ctx := context.Background()
				for range 100 {
					if name == "window" {
						e.clock.Advance(time.Second / 4) // spread over 25 buckets
					}
					if _, err := r.Allow(ctx, "msg:u1", 100, time.Minute); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportAllocs()
				for b.Loop() {
					if d, err := r.Allow(ctx, "msg:u1", 100, time.Minute); err != nil || d.Allowed {
						b.Fatal(d, err)
					}
				}
			})
		}
	}
}

// BenchmarkRateAllowParallel: checks from many goroutines over 1000 keys.
// The Redis window uses the server's clock here, as in production.
func BenchmarkRateAllowParallel(b *testing.B) {
	for _, f := range benchFactories() {
		for i, name := range []string{"gcra", "window"} {
			b.Run(name+"/"+f.name, func(b *testing.B) {
				e := f.new(b)
				r := rateAlgorithms(e)[i].rate
				if w, ok := r.(*RedisWindowRate); ok {
					w.callerClock = false
				}
				ctx := context.Background()
				b.ReportAllocs()
				b.RunParallel(func(pb *testing.PB) {
					i := 0
					for pb.Next() {
						i++
						if _, err := r.Allow(ctx, "msg:u"+strconv.Itoa(i%1000), 1<<30, time.Minute); err != nil {
							b.Error(err)
							return
						}
					}
				})
			})
		}
	}
}
