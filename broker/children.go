package broker

import (
	"context"
	"errors"
	"time"

	"github.com/ionbus/ionbus/adapter"
)

// Dynamic namespaces, the children of OfPattern parents, are created by
// the first CONNECT to a matching name and live while they are used:
//
//   - a CONNECT holds its namespace (Namespace.pending) from the lookup
//     until the socket is admitted or dropped, so nothing removes it
//     meanwhile;
//   - a new child is handed to the adapter (WatchNamespace: Redis
//     subscriptions) only when its first socket is admitted, so a refused
//     CONNECT creates nothing that outlives it: the child it made is
//     removed as soon as the refusal is sent;
//   - a child whose last socket left is removed after
//     Config.EmptyChildTTL, with its adapter subscriptions
//     (NamespaceUnwatcher); a CONNECT before that keeps it;
//   - at most Config.MaxDynamicNamespaces children exist on a node; a
//     CONNECT that would create one more is refused
//     (Config.NamespaceLimitError) and counted.
//
// All of it is guarded by Server.mu (lock order: Server.mu, then
// Namespace.mu).

// errNamespaceLimit: the CONNECT would create a child beyond
// Config.MaxDynamicNamespaces.
var errNamespaceLimit = errors.New("broker: dynamic namespace limit reached")

// CodeNamespaceLimit is the code of the default CONNECT_ERROR for a
// CONNECT refused by Config.MaxDynamicNamespaces.
const CodeNamespaceLimit = "NAMESPACE_LIMIT_EXCEEDED"

// namespaceLimitError is the CONNECT_ERROR of a CONNECT refused by the
// namespace limit.
func (s *Server) namespaceLimitError(name string) *ConnectError {
	if f := s.cfg.NamespaceLimitError; f != nil {
		return f(name, s.cfg.MaxDynamicNamespaces)
	}
	return &ConnectError{Message: "Namespace limit exceeded", Data: map[string]any{
		"code": CodeNamespaceLimit, "limit": s.cfg.MaxDynamicNamespaces,
	}}
}

// resolve finds or (for a pattern match) creates the namespace called
// name; nil when name is neither. For a CONNECT (connecting) the
// namespace counts one pending connect that connectDone releases, and a
// new child is not watched yet. Otherwise (Resolve: an API call that may
// need cluster replies) a child is watched at once.
func (s *Server) resolve(name string, connecting bool) (*Namespace, error) {
	s.mu.RLock()
	ns := s.nsps[name]
	patterns := s.patterns
	s.mu.RUnlock()
	if ns != nil && ns.parent == nil {
		return ns, nil
	}
	parent := firstMatch(patterns, name) // the pattern a new child would belong to
	if ns == nil && parent == nil {
		return nil, nil
	}
	for {
		s.mu.Lock()
		if done := s.unwatching[name]; done != nil {
			// The previous child of that name is leaving the adapter: wait
			// (bounded by RequestTimeout), so its UNSUBSCRIBE cannot undo
			// the next one's SUBSCRIBE.
			s.mu.Unlock()
			<-done
			continue
		}
		ns = s.nsps[name]
		if ns == nil {
			if max := s.cfg.MaxDynamicNamespaces; max > 0 && s.dynamic >= max {
				s.mu.Unlock()
				s.stats.namespacesRefused.Add(1)
				return nil, errNamespaceLimit
			}
			ns = newNamespace(s, name, nil)
			ns.parent = parent
			s.nsps[name] = ns
			s.dynamic++
			parent.addChild(ns)
		}
		if ns.emptyTimer != nil {
			ns.emptyTimer.Stop()
			ns.emptyTimer = nil
		}
		if connecting {
			ns.pending++
			s.mu.Unlock()
			return ns, nil
		}
		s.mu.Unlock()
		s.watchChild(ns)
		s.childIdle(ns) // an API lookup keeps an empty child only for EmptyChildTTL
		return ns, nil
	}
}

func firstMatch(patterns []*Namespace, name string) *Namespace {
	for _, p := range patterns {
		if p.pattern.MatchString(name) {
			return p
		}
	}
	return nil
}

// connectDone releases the pending connect that resolve counted, once
// the socket was admitted or dropped.
func (n *Namespace) connectDone() {
	if n.parent == nil {
		return
	}
	s := n.srv
	s.mu.Lock()
	n.pending--
	s.mu.Unlock()
	s.childIdle(n)
}

// watchChild hands a child to the adapter once.
func (s *Server) watchChild(n *Namespace) {
	s.mu.Lock()
	first := !n.watched && !n.removed
	n.watched = true
	s.mu.Unlock()
	if first && s.started.Load() {
		s.watchNamespace(context.Background(), n.name)
	}
}

// childIdle removes a child that has no socket and no pending connect:
// at once when the adapter never watched it (a refused CONNECT's), else
// after EmptyChildTTL.
func (s *Server) childIdle(n *Namespace) {
	if n.parent == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if n.removed || n.pending > 0 || n.Len() > 0 || n.emptyTimer != nil {
		return
	}
	if !n.watched {
		s.dropChildLocked(n)
		return
	}
	if ttl := s.cfg.EmptyChildTTL; ttl > 0 && !s.closed.Load() {
		n.emptyTimer = time.AfterFunc(ttl, func() { s.expireChild(n) })
	}
}

// expireChild removes a child that stayed empty for EmptyChildTTL, then
// drops its adapter subscriptions.
func (s *Server) expireChild(n *Namespace) {
	s.mu.Lock()
	n.emptyTimer = nil
	if n.removed || n.pending > 0 || n.Len() > 0 || s.closed.Load() {
		s.mu.Unlock()
		return
	}
	s.dropChildLocked(n)
	u, ok := s.adapter.(adapter.NamespaceUnwatcher)
	if !ok || !s.started.Load() {
		s.mu.Unlock()
		return
	}
	done := make(chan struct{})
	s.unwatching[n.name] = done
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.RequestTimeout)
	if err := u.UnwatchNamespace(ctx, n.name); err != nil && !errors.Is(err, adapter.ErrClosed) {
		s.log.Warn().Err(err).Str("nsp", n.name).Msg("adapter: unwatch namespace")
	}
	cancel()
	s.mu.Lock()
	delete(s.unwatching, n.name)
	s.mu.Unlock()
	close(done)
}

// dropChildLocked forgets a child; s.mu is held.
func (s *Server) dropChildLocked(n *Namespace) {
	n.removed = true
	if s.nsps[n.name] == n {
		delete(s.nsps, n.name)
	}
	s.dynamic--
	n.parent.removeChild(n)
}

// stopChildTimers ends every pending removal (Shutdown).
func (s *Server) stopChildTimers() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, n := range s.nsps {
		if n.emptyTimer != nil {
			n.emptyTimer.Stop()
			n.emptyTimer = nil
		}
	}
}

func (n *Namespace) removeChild(c *Namespace) {
	n.hmu.Lock()
	for i, x := range n.children {
		if x == c {
			n.children = append(n.children[:i], n.children[i+1:]...)
			break
		}
	}
	n.hmu.Unlock()
}
