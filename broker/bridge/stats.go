package bridge

import (
	"sync"
	"sync/atomic"
)

// counters are named monotonic counters.
type counters struct{ m sync.Map } // name -> *atomic.Uint64

func (c *counters) add(name string) {
	v, ok := c.m.Load(name)
	if !ok {
		v, _ = c.m.LoadOrStore(name, new(atomic.Uint64))
	}
	v.(*atomic.Uint64).Add(1)
}

func (c *counters) snapshot() map[string]uint64 {
	out := map[string]uint64{}
	c.m.Range(func(k, v any) bool {
		out[k.(string)] = v.(*atomic.Uint64).Load()
		return true
	})
	return out
}

type stats struct {
	requests counters // by hook type
	failures counters // by failure kind

	cacheHits, cacheMisses, cacheCoalesced atomic.Uint64

	admitted, refused, unavailable atomic.Uint64

	forwardedHTTP, forwardedStream, refusedBusy, eventErrors atomic.Uint64

	refreshes, refreshDisconnects atomic.Uint64

	lifeWritten, lifeDropped, lifeSwept, webhookSent, webhookDropped, resyncs atomic.Uint64
}

// Stats is a snapshot of the bridge's counters since New. The node
// publishes it in the broker's stats (broker.Server.AddStats).
type Stats struct {
	// Requests are hook requests sent, by type (connect, refresh, event,
	// lifecycle).
	Requests map[string]uint64 `json:"requests"`
	// Failures are failed hook calls and XADDs, by kind: unreachable,
	// timeout, bad_status, response_too_large, request_too_large,
	// invalid_answer, saturated (no MaxInflight slot in time), canceled
	// (Shutdown), redis.
	Failures map[string]uint64 `json:"failures"`
	// Inflight is the number of hook requests in flight now.
	Inflight int `json:"inflight"`

	Cache   CacheStats     `json:"cache"`
	Connect ConnectStats   `json:"connect"`
	Events  EventStats     `json:"events"`
	Refresh RefreshStats   `json:"refresh"`
	Life    LifecycleStats `json:"lifecycle"`
}

// CacheStats count connect answers by origin.
type CacheStats struct {
	Hits      uint64 `json:"hits_total"`
	Misses    uint64 `json:"misses_total"`    // a request was sent
	Coalesced uint64 `json:"coalesced_total"` // waited for an identical request in flight
	Size      int    `json:"size"`
}

// ConnectStats count Authenticate verdicts.
type ConnectStats struct {
	Admitted    uint64 `json:"admitted_total"`
	Refused     uint64 `json:"refused_total"`     // the backend's error answers
	Unavailable uint64 `json:"unavailable_total"` // BACKEND_UNAVAILABLE
}

// EventStats count forwarded client events.
type EventStats struct {
	ForwardedHTTP   uint64 `json:"forwarded_http_total"`
	ForwardedStream uint64 `json:"forwarded_stream_total"`
	RefusedBusy     uint64 `json:"refused_busy_total"` // BACKEND_BUSY
	// Errors: events answered with an error (the backend's, or
	// BACKEND_UNAVAILABLE).
	Errors uint64 `json:"errors_total"`
}

// RefreshStats count refresh calls.
type RefreshStats struct {
	Calls       uint64 `json:"calls_total"`
	Disconnects uint64 `json:"disconnects_total"` // sockets the backend ended
}

// LifecycleStats count lifecycle events.
type LifecycleStats struct {
	// Written: entries added to the lifecycle stream by this node
	// (online/offline included, sweeps excluded).
	Written uint64 `json:"written_total"`
	// Dropped: events lost to a full buffer, or still buffered when
	// Shutdown's context ended.
	Dropped uint64 `json:"dropped_total"`
	// Swept: entries this node added for the sockets of dead nodes.
	Swept uint64 `json:"swept_total"`
	// WebhookSent: events delivered by the lifecycle webhook.
	WebhookSent uint64 `json:"webhook_sent_total"`
	// WebhookDropped: events whose webhook batch was given up after
	// RetryFor, or lost to a full webhook queue.
	WebhookDropped uint64 `json:"webhook_dropped_total"`
	// Resyncs: re-registrations of this node's sockets after its
	// heartbeat lapsed.
	Resyncs uint64 `json:"resyncs_total"`
	// Queued: events waiting to be written.
	Queued int `json:"queued"`
}

// Stats returns a snapshot of the counters.
func (b *Bridge) Stats() Stats {
	st := &b.stats
	out := Stats{
		Requests: st.requests.snapshot(),
		Failures: st.failures.snapshot(),
		Inflight: len(b.hooks.sem),
		Cache: CacheStats{
			Hits: st.cacheHits.Load(), Misses: st.cacheMisses.Load(), Coalesced: st.cacheCoalesced.Load(),
			Size: b.cache.len(),
		},
		Connect: ConnectStats{Admitted: st.admitted.Load(), Refused: st.refused.Load(), Unavailable: st.unavailable.Load()},
		Events: EventStats{
			ForwardedHTTP: st.forwardedHTTP.Load(), ForwardedStream: st.forwardedStream.Load(),
			RefusedBusy: st.refusedBusy.Load(), Errors: st.eventErrors.Load(),
		},
		Refresh: RefreshStats{Calls: st.refreshes.Load(), Disconnects: st.refreshDisconnects.Load()},
		Life: LifecycleStats{
			Written: st.lifeWritten.Load(), Dropped: st.lifeDropped.Load(), Swept: st.lifeSwept.Load(),
			WebhookSent: st.webhookSent.Load(), WebhookDropped: st.webhookDropped.Load(), Resyncs: st.resyncs.Load(),
		},
	}
	if b.life != nil {
		out.Life.Queued = len(b.life.buf)
	}
	return out
}
