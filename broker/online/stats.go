package online

import "sync/atomic"

type stats struct {
	eventsSent    atomic.Uint64
	eventsDropped atomic.Uint64
	emitErrors    atomic.Uint64
	storeErrors   atomic.Uint64
	clientErrors  atomic.Uint64
	resyncs       atomic.Uint64
	resynced      atomic.Uint64
}

// Stats are Online's counters since New. They also appear in
// broker.Server.Stats under Extra["presence"].
type Stats struct {
	// EventsSent: presence events broadcast.
	EventsSent uint64 `json:"events_sent_total"`
	// EventsDropped: events lost to a full queue, to Shutdown, or for a
	// namespace this node does not configure.
	EventsDropped uint64 `json:"events_dropped_total"`
	// EmitErrors: broadcasts that failed to encode or to reach the adapter.
	EmitErrors uint64 `json:"emit_errors_total"`
	// StoreErrors: tracker calls from socket hooks that failed (timeouts
	// included); the socket stays connected.
	StoreErrors uint64 `json:"store_errors_total"`
	// ClientErrors: presence:* requests refused with an `error` event.
	ClientErrors uint64 `json:"client_errors_total"`
	// Resyncs: re-registrations of this node's connections after its
	// presence heartbeat lapsed or Redis lost its data (Online.Resync).
	Resyncs uint64 `json:"resyncs_total"`
	// Resynced: room entries sent by those re-registrations.
	Resynced uint64 `json:"resynced_entries_total"`
	// QueueLength: events waiting to be broadcast.
	QueueLength int `json:"queue_length"`
}

// Stats returns a snapshot of the counters.
func (o *Online) Stats() Stats {
	return Stats{
		EventsSent:    o.stats.eventsSent.Load(),
		EventsDropped: o.stats.eventsDropped.Load(),
		EmitErrors:    o.stats.emitErrors.Load(),
		StoreErrors:   o.stats.storeErrors.Load(),
		ClientErrors:  o.stats.clientErrors.Load(),
		Resyncs:       o.stats.resyncs.Load(),
		Resynced:      o.stats.resynced.Load(),
		QueueLength:   len(o.queue),
	}
}
