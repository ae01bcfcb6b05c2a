package metrics

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/ionbus/ionbus/adapter/redisadapter"
	"github.com/ionbus/ionbus/broker"
	"github.com/ionbus/ionbus/broker/access"
	"github.com/ionbus/ionbus/broker/bridge"
	"github.com/ionbus/ionbus/broker/online"
)

// Names of the histograms (the counters and gauges are in collector.go).
const (
	NameConnectDuration = "ionbus_connect_duration_seconds"
	NameBroadcastFanout = "ionbus_broadcast_fanout_duration_seconds"
	NameRedisPublish    = "ionbus_redis_publish_duration_seconds"
	NameClusterRequest  = "ionbus_cluster_request_duration_seconds"
	NameBackendHook     = "ionbus_backend_hook_duration_seconds"
)

// Hook types of the backend bridge (X-Ionbus-Type): the values of the
// "hook" label.
var hookTypes = []string{"connect", "refresh", "event", "lifecycle"}

// Metrics is a node's registry and its histograms. The zero value is not
// usable; call New.
type Metrics struct {
	reg *prometheus.Registry

	connectAccepted, connectRefused prometheus.Observer
	fanout, publish, request        prometheus.Histogram
	hooks                           map[string]prometheus.Observer // by hook type, resolved once
	hookOther                       prometheus.Observer
}

// New builds a registry with the Go runtime and process collectors and
// the latency histograms. Register adds the node's counters.
func New() *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry(), hooks: make(map[string]prometheus.Observer, len(hookTypes))}
	m.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	connect := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    NameConnectDuration,
		Help:    "Socket.IO namespace handshakes: time from the CONNECT packet to its answer (middlewares: auth, limits, backend connect hook), by result (accepted, refused).",
		Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
	}, []string{"result"})
	m.connectAccepted = connect.WithLabelValues("accepted")
	m.connectRefused = connect.WithLabelValues("refused")

	m.fanout = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    NameBroadcastFanout,
		Help:    "Local broadcast fan-out: time to match the room index and enqueue a packet on every local recipient, per delivery with recipients.",
		Buckets: []float64{.000005, .00001, .000025, .00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1},
	})
	m.publish = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    NameRedisPublish,
		Help:    "Round-trip time of the cluster adapter's PUBLISH/SPUBLISH to Redis, failures included.",
		Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
	})
	m.request = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    NameClusterRequest,
		Help:    "Duration of cluster requests (fetch sockets, all rooms, server-side emit with ack, broadcast acks) until every live node answered or the timeout.",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
	})
	hook := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    NameBackendHook,
		Help:    "Duration of backend bridge webhook requests by hook type (connect, refresh, event, lifecycle), the wait for an in-flight slot and failures included.",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
	}, []string{"hook"})
	for _, h := range hookTypes {
		m.hooks[h] = hook.WithLabelValues(h)
	}
	m.hookOther = hook.WithLabelValues("other")
	m.reg.MustRegister(connect, m.fanout, m.publish, m.request, hook)
	return m
}

// Sources are what the scrape-time collector reads. Broker is required;
// a nil function leaves its metrics out (no adapter, no backend, no
// presence on this node).
type Sources struct {
	Broker *broker.Server
	// Guard: refusals by code and the limiter's counters.
	Guard func() access.Stats
	// Adapter: the Redis adapter's counters; Connected reports whether its
	// subscriber is up (ionbus_adapter_connected).
	Adapter   func() redisadapter.Stats
	Connected func() bool
	Bridge    func() bridge.Stats
	Presence  func() online.Stats
	Listener  func() ListenerStats
}

// ListenerStats are the public listener's accept failures.
type ListenerStats struct {
	AcceptErrors uint64
	FDExhausted  uint64 // EMFILE/ENFILE
}

// Register adds the collector of the node's counters and gauges. Call it
// once, after the components exist.
func (m *Metrics) Register(src Sources) error {
	return m.reg.Register(newCollector(src))
}

// Registry is the node's registry, for embedders' own collectors.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the registry in the Prometheus text (or negotiated)
// format. It performs no authentication.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

// ObserveConnect is broker.Config.ObserveConnect.
func (m *Metrics) ObserveConnect(d time.Duration, accepted bool) {
	if accepted {
		m.connectAccepted.Observe(d.Seconds())
		return
	}
	m.connectRefused.Observe(d.Seconds())
}

// ObserveBroadcast is broker.Config.ObserveBroadcast.
func (m *Metrics) ObserveBroadcast(d time.Duration) { m.fanout.Observe(d.Seconds()) }

// ObservePublish is redisadapter.Config.ObservePublish.
func (m *Metrics) ObservePublish(d time.Duration) { m.publish.Observe(d.Seconds()) }

// ObserveRequest is redisadapter.Config.ObserveRequest.
func (m *Metrics) ObserveRequest(d time.Duration) { m.request.Observe(d.Seconds()) }

// ObserveHook is bridge.Config.ObserveHook. An unknown hook type counts
// as "other", so the label stays bounded.
func (m *Metrics) ObserveHook(hook string, d time.Duration) {
	o, ok := m.hooks[hook]
	if !ok {
		o = m.hookOther
	}
	o.Observe(d.Seconds())
}
