package online

import (
	"errors"
	"fmt"
	"time"

	"github.com/rs/zerolog"

	"github.com/ionbus/ionbus/broker"
	"github.com/ionbus/ionbus/presence"
)

// Config configures an Online. The zero value of each field means the
// default stated in its comment.
type Config struct {
	// Presence configures the tracker Online builds on the store (NodeID,
	// Grace, NodeTTL, MaxMetaBytes, PageSize, MaxPageSize, ...). It must be
	// the Config the store was built with (same NodeID). Rules, OnEvent and
	// OnLapsed (and Patterns) must be left zero: Online sets them from
	// Namespaces and Patterns, its
	// event queue and its re-registration (Online.Resync), so the tracker
	// can never disagree with the hooks.
	Presence presence.Config

	// Namespaces says, per namespace name ("/", "/chat"), what is tracked
	// and who may list what. New attaches its hooks and client events to
	// srv.Of(name) for each entry. Namespaces without an entry are not
	// touched.
	Namespaces map[string]NamespaceRules
	// Patterns configure dynamic namespaces: the rules of a pattern parent
	// (srv.OfPattern) apply to every child created from it. New attaches
	// to the parent, whose hooks the children inherit.
	Patterns []PatternRules

	// Identify returns the identity a socket is counted under. It runs once
	// per socket, when the socket connects to the namespace (after the
	// middlewares), and the result is kept for the socket's life. An empty
	// userID means anonymous: the socket is counted by its id. Nil: every
	// socket is anonymous.
	Identify func(s *broker.Socket) (userID, name string)

	// CallTimeout bounds each store call made from a socket callback
	// (hooks and client events), so a slow Redis delays one socket by at
	// most this much. Zero: 2s.
	CallTimeout time.Duration

	// QueueSize is the number of presence events buffered between the
	// tracker and the goroutine that broadcasts them. Past it, events are
	// dropped and counted (Stats.EventsDropped). Zero: 4096.
	QueueSize int

	// Logger receives warnings (store errors, dropped events). Zero value:
	// disabled.
	Logger zerolog.Logger
}

// NamespaceRules configures presence in one namespace.
type NamespaceRules struct {
	// Track says what is recorded: Namespace for namespace-wide presence
	// (room "" in the API), Rooms for room patterns ("*" glob, "{user}"
	// placeholder; see presence.Rules).
	Track presence.Rules
	// Visible are patterns (same syntax as Track.Rooms) of rooms a socket
	// may list and count without being in them. A socket may always list
	// and count the rooms it is in, and the namespace room when Track.Namespace
	// is set. Empty: only those.
	Visible []string
}

func (r NamespaceRules) clone() NamespaceRules {
	r.Track.Rooms = append([]string(nil), r.Track.Rooms...)
	r.Visible = append([]string(nil), r.Visible...)
	return r
}

// PatternRules configures presence in the dynamic namespaces of Parent, a
// namespace made by broker.Server.OfPattern.
type PatternRules struct {
	Parent *broker.Namespace
	Rules  NamespaceRules
}

// Default values.
const (
	DefaultCallTimeout = 2 * time.Second
	DefaultQueueSize   = 4096
	// Mirrors of presence's defaults (its withDefaults is unexported);
	// used to validate client input before calling the store.
	defaultMaxMetaBytes = 1024
	defaultPageSize     = 100
	defaultMaxPageSize  = 1000
)

func (c *Config) withDefaults() {
	if c.CallTimeout == 0 {
		c.CallTimeout = DefaultCallTimeout
	}
	if c.QueueSize == 0 {
		c.QueueSize = DefaultQueueSize
	}
	if c.Presence.MaxMetaBytes == 0 {
		c.Presence.MaxMetaBytes = defaultMaxMetaBytes
	}
	if c.Presence.PageSize == 0 {
		c.Presence.PageSize = defaultPageSize
	}
	if c.Presence.MaxPageSize == 0 {
		c.Presence.MaxPageSize = defaultMaxPageSize
	}
	if c.Identify == nil {
		c.Identify = func(*broker.Socket) (string, string) { return "", "" }
	}
	c.Logger = c.Logger.With().Str("component", "online").Logger()
}

func (c *Config) validate() error {
	var errs []error
	if c.CallTimeout < 0 {
		errs = append(errs, fmt.Errorf("CallTimeout %v is negative", c.CallTimeout))
	}
	if c.QueueSize < 1 {
		errs = append(errs, fmt.Errorf("QueueSize %d < 1", c.QueueSize))
	}
	if c.Presence.Rules != nil || c.Presence.Patterns != nil || c.Presence.OnEvent != nil || c.Presence.OnLapsed != nil {
		errs = append(errs, errors.New("Presence.Rules, Presence.Patterns, Presence.OnEvent and Presence.OnLapsed are set by online; leave them nil"))
	}
	if len(c.Namespaces) == 0 && len(c.Patterns) == 0 {
		errs = append(errs, errors.New("Namespaces and Patterns are empty: nothing to track"))
	}
	for i, p := range c.Patterns {
		if p.Parent == nil || p.Parent.Pattern() == nil {
			errs = append(errs, fmt.Errorf("Patterns[%d].Parent is not a pattern namespace (broker.Server.OfPattern)", i))
		}
	}
	for name := range c.Namespaces {
		if name == "" || name[0] != '/' {
			errs = append(errs, fmt.Errorf("namespace %q must start with /", name))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("online: config: %w", err)
	}
	return nil
}
