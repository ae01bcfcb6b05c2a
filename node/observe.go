package node

import (
	"crypto/sha256"
	"io"
	"net/http"
	"net/http/pprof"
	"strings"

	"github.com/ionbus/ionbus/broker/api"
	"github.com/ionbus/ionbus/node/metrics"
)

// PathMetrics is the Prometheus scrape path on api.listen.
const PathMetrics = "/metrics"

// pathPProf prefixes the net/http/pprof handlers (api.pprof).
const pathPProf = "/debug/pprof/"

// registerMetrics adds the node's scrape-time collector: the broker and
// Engine.IO counters, and those of whichever of guard, adapter, bridge,
// presence and listener this node has.
func (n *Node) registerMetrics() error {
	src := metrics.Sources{
		Broker: n.broker,
		Guard:  n.comp.Guard.Stats,
		Listener: func() metrics.ListenerStats {
			al := n.accept.Load()
			if al == nil {
				return metrics.ListenerStats{}
			}
			return metrics.ListenerStats{AcceptErrors: al.errors.Load(), FDExhausted: al.fdErrors.Load()}
		},
	}
	if a := n.comp.Adapter; a != nil {
		src.Adapter = a.Stats
		src.Connected = func() bool { return !a.Degraded() }
	}
	if b := n.comp.Bridge; b != nil {
		src.Bridge = b.Stats
	}
	if o := n.online; o != nil {
		src.Presence = o.Stats
	}
	return n.comp.Metrics.Register(src)
}

// withObservability serves GET /metrics (behind the key only with
// api.metrics_auth) and, with api.pprof, net/http/pprof under
// /debug/pprof/ (always behind the key) in front of the API handler.
// Everything else goes to next, so without api.pprof /debug/pprof/ is an
// unknown API route (401 without the key, 404 with it).
func withObservability(cfg APIConfig, m *metrics.Metrics, next http.Handler) http.Handler {
	scrape := m.Handler()
	keySum := sha256.Sum256([]byte(cfg.Key))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == PathMetrics:
			if cfg.MetricsAuth && !cfg.Insecure && !bearerOK(r, cfg.Key, keySum) {
				unauthorized(w)
				return
			}
			if r.Method != http.MethodGet && r.Method != http.MethodHead {
				w.Header().Set("Allow", http.MethodGet)
				http.Error(w, "use GET", http.StatusMethodNotAllowed)
				return
			}
			scrape.ServeHTTP(w, r)
		case cfg.PProf && strings.HasPrefix(r.URL.Path, pathPProf):
			if !bearerOK(r, cfg.Key, keySum) {
				unauthorized(w)
				return
			}
			servePProf(w, r)
		default:
			next.ServeHTTP(w, r)
		}
	})
}

// servePProf routes to net/http/pprof's handlers. Importing that
// package also registers them on http.DefaultServeMux (its init); the
// node never serves DefaultServeMux, an embedder that does should know.
func servePProf(w http.ResponseWriter, r *http.Request) {
	switch strings.TrimPrefix(r.URL.Path, pathPProf) {
	case "cmdline":
		pprof.Cmdline(w, r)
	case "profile":
		pprof.Profile(w, r)
	case "symbol":
		pprof.Symbol(w, r)
	case "trace":
		pprof.Trace(w, r)
	default: // the index and the named profiles (heap, goroutine, allocs…)
		pprof.Index(w, r)
	}
}

// unauthorized is broker/api's 401 answer.
func unauthorized(w http.ResponseWriter) {
	w.Header().Set("WWW-Authenticate", `Bearer realm="ionbus"`)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusUnauthorized)
	_, _ = io.WriteString(w, `{"error":{"code":"`+api.CodeUnauthorized+`","message":"missing or invalid API key (Authorization: Bearer <key>)"}}`+"\n")
}
