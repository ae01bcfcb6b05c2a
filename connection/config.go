package connection

import (
	"errors"
	"fmt"
	"net/http"
	"runtime"
	"time"

	"github.com/rs/zerolog"
)

// Config configures a Server. The zero value of every field means "use the
// default" stated in its comment.
type Config struct {
	// Path the server answers on, with leading and trailing slash.
	// Default "/engine.io/". (Socket.IO deployments use "/socket.io/".)
	Path string
	// PingInterval between server pings. Default 25s.
	PingInterval time.Duration
	// PingTimeout: how long after a ping the pong may arrive. Default 20s.
	PingTimeout time.Duration
	// MaxPayload is the largest inbound Engine.IO payload in bytes: one
	// websocket message, or one polling POST body. Default 1,000,000.
	MaxPayload int
	// MaxQueueBytes bounds each session's outbound queue. Default 1 MiB.
	MaxQueueBytes int
	// BodyTimeout bounds the time to read one polling POST body, so a
	// client that declares a large body and trickles it cannot hold a
	// goroutine, a connection and a buffer for long. Past it the request
	// ends and the session closes (transport error). A POST also ends as
	// soon as its session closes. Default 20s.
	BodyTimeout time.Duration
	// HTTPCompression of polling responses. Default: gzip or deflate as
	// the client accepts, for bodies of 1024 bytes or more.
	HTTPCompression HTTPCompression
	// PerMessageDeflate for websockets. Default off.
	PerMessageDeflate PerMessageDeflate
	// Transports allowed, in upgrade order. Default {"polling","websocket"}.
	Transports []string
	// DisableUpgrades stops advertising "websocket" as an upgrade.
	DisableUpgrades bool
	// CORS for the polling transport (and Origin checks on websocket).
	CORS CORSConfig
	// AllowRequest, if set, runs before a new session is created (both
	// transports). Returning an error refuses the handshake; an *Error
	// chooses the code/status, any other error maps to ErrForbidden.
	AllowRequest func(r *http.Request) error
	// WriteTimeout bounds one blocking write to a peer. Default 10s.
	WriteTimeout time.Duration
	// Workers is the size of the pool that runs reads and handler
	// callbacks. Default 4*GOMAXPROCS.
	Workers int
	// DisablePoller reads every websocket with its own goroutine instead of
	// the Linux epoll loop (always the case on other systems and for TLS
	// terminated in this process). Default false.
	DisablePoller bool
	// Logger for lifecycle (debug) and failures (warn). Default: disabled.
	Logger *zerolog.Logger
	// Now is the clock; tests inject one. Default time.Now.
	Now func() time.Time
}

// CORSConfig controls the CORS headers on polling responses.
type CORSConfig struct {
	// Origins allowed. Empty means any origin; "*" in the list means any.
	// The request's Origin is echoed back when allowed (never "*" with
	// credentials).
	Origins []string
	// Credentials sets Access-Control-Allow-Credentials: true.
	Credentials bool
	// CredentialOrigins are allowed in addition to Origins (when Origins
	// is not empty) and always get Access-Control-Allow-Credentials:
	// true, whatever Credentials says: the Admin UI's origins, whose
	// client sends withCredentials. Exact origins; "*" is not honoured.
	CredentialOrigins []string
	// Headers allowed in preflight, in addition to Content-Type.
	AllowHeaders []string
	// Refused, if set, builds the answer to a request whose Origin is not
	// allowed (preflight, handshake, polling and websocket alike) and may
	// count it; it must return a non-nil *Error. Nil: ErrForbidden.
	Refused func(origin string) *Error
}

const (
	transportPolling   = "polling"
	transportWebsocket = "websocket"
)

// withDefaults returns a copy of c with every zero field set to its default.
func (c Config) withDefaults() Config {
	if c.Path == "" {
		c.Path = "/engine.io/"
	}
	if c.PingInterval == 0 {
		c.PingInterval = 25 * time.Second
	}
	if c.PingTimeout == 0 {
		c.PingTimeout = 20 * time.Second
	}
	if c.MaxPayload == 0 {
		c.MaxPayload = 1_000_000
	}
	if c.MaxQueueBytes == 0 {
		c.MaxQueueBytes = 1 << 20
	}
	if c.BodyTimeout == 0 {
		c.BodyTimeout = 20 * time.Second
	}
	if c.HTTPCompression.Threshold == 0 {
		c.HTTPCompression.Threshold = 1024
	}
	if c.PerMessageDeflate.Threshold == 0 {
		c.PerMessageDeflate.Threshold = 1024
	}
	if len(c.Transports) == 0 {
		c.Transports = []string{transportPolling, transportWebsocket}
	} else {
		c.Transports = append([]string(nil), c.Transports...)
	}
	if c.WriteTimeout == 0 {
		c.WriteTimeout = 10 * time.Second
	}
	if c.Workers == 0 {
		c.Workers = 4 * runtime.GOMAXPROCS(0)
	}
	if c.Logger == nil {
		l := zerolog.Nop()
		c.Logger = &l
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

func (c Config) validate() error {
	switch {
	case c.PingInterval < 0 || c.PingTimeout < 0 || c.WriteTimeout < 0 || c.BodyTimeout < 0:
		return errors.New("connection: negative duration in Config")
	case c.MaxPayload < 0 || c.MaxQueueBytes < 0 || c.Workers < 0 || c.HTTPCompression.Threshold < 0 || c.PerMessageDeflate.Threshold < 0:
		return errors.New("connection: negative size in Config")
	}
	for _, t := range c.Transports {
		if t != transportPolling && t != transportWebsocket {
			return fmt.Errorf("connection: unknown transport %q in Config", t)
		}
	}
	return nil
}

func (c Config) allows(transport string) bool {
	for _, t := range c.Transports {
		if t == transport {
			return true
		}
	}
	return false
}
