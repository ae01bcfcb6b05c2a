package adminui

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/crypto/bcrypt"
)

// Mode selects what the Admin UI is told. Values are stable (config).
type Mode uint8

const (
	// ModeProduction sends server_stats only: no per-socket events, no
	// socket list (upstream's "production").
	ModeProduction Mode = 1
	// ModeDevelopment also sends every socket, room and event
	// (upstream's "development"; its ALL_EVENTS feature).
	ModeDevelopment Mode = 2
)

// ParseMode reads "production" or "development".
func ParseMode(s string) (Mode, error) {
	switch s {
	case "production":
		return ModeProduction, nil
	case "development":
		return ModeDevelopment, nil
	}
	return 0, fmt.Errorf("adminui: mode %q (production, development)", s)
}

func (m Mode) String() string {
	switch m {
	case ModeProduction:
		return "production"
	case ModeDevelopment:
		return "development"
	}
	return "unknown"
}

// Config configures the Admin UI server. The zero value of each field
// means the default in its comment, except that authentication needs
// Username and PasswordHash unless DisableAuth is set.
type Config struct {
	// Namespace the UI connects to. Default "/admin". It must not be an
	// application namespace: its sockets get the UI's events.
	Namespace string
	// Mode: ModeProduction (default) or ModeDevelopment.
	Mode Mode
	// Username and PasswordHash (bcrypt, "$2a$"/"$2b$"/"$2y$") the UI's
	// login form must match. Both required unless DisableAuth.
	Username     string
	PasswordHash string
	// DisableAuth admits any UI without credentials (upstream's
	// auth: false). Development on a private network only.
	DisableAuth bool
	// ReadOnly advertises no command and refuses every command (the UI
	// then hides its emit/join/leave/disconnect buttons).
	ReadOnly bool
	// ServerID names this node in the UI's server list. Default: the
	// broker's node id.
	ServerID string
	// Hostname shown in the server list. Default os.Hostname().
	Hostname string
	// StatsInterval is the period of server_stats. Default 2s (the UI
	// marks a server unhealthy after 10 s without one).
	StatsInterval time.Duration
	// SessionTTL is how long a login's session id is accepted. Default
	// 24h (upstream's RedisStore default).
	SessionTTL time.Duration
	// MaxConcurrentLogins bounds the bcrypt comparisons running at once
	// (each costs tens of milliseconds of CPU); further logins wait for a
	// slot at most LoginTimeout. Default 4.
	MaxConcurrentLogins int
	// LoginTimeout bounds the wait for a login slot and the session
	// store calls of one CONNECT. Default 5s.
	LoginTimeout time.Duration
	// CommandTimeout bounds one command's cluster publish and the
	// all_sockets request. Default 5s.
	CommandTimeout time.Duration
	// KeyPrefix of the session keys in Redis. Default "ionbus:adminui".
	KeyPrefix string
	// Logger; default disabled. Passwords and session ids are never logged.
	Logger zerolog.Logger
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

func (c *Config) withDefaults(nodeID string) {
	if c.Namespace == "" {
		c.Namespace = "/admin"
	}
	if c.Mode == 0 {
		c.Mode = ModeProduction
	}
	if c.ServerID == "" {
		c.ServerID = nodeID
	}
	if c.Hostname == "" {
		c.Hostname, _ = os.Hostname()
	}
	if c.StatsInterval == 0 {
		c.StatsInterval = 2 * time.Second
	}
	if c.SessionTTL == 0 {
		c.SessionTTL = 24 * time.Hour
	}
	if c.MaxConcurrentLogins == 0 {
		c.MaxConcurrentLogins = 4
	}
	if c.LoginTimeout == 0 {
		c.LoginTimeout = 5 * time.Second
	}
	if c.CommandTimeout == 0 {
		c.CommandTimeout = 5 * time.Second
	}
	if c.KeyPrefix == "" {
		c.KeyPrefix = "ionbus:adminui"
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// ErrConfig is wrapped by every configuration error of New.
var ErrConfig = errors.New("adminui: invalid config")

func (c *Config) validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrConfig}, args...)...))
	}
	if err := ValidateNamespace(c.Namespace); err != nil {
		bad("%v", err)
	}
	if c.Mode != ModeProduction && c.Mode != ModeDevelopment {
		bad("unknown mode %d", c.Mode)
	}
	if !c.DisableAuth {
		if c.Username == "" {
			bad("username required (or disable authentication)")
		}
		if err := ValidatePasswordHash(c.PasswordHash); err != nil {
			bad("%v", err)
		}
	}
	if c.StatsInterval < 0 || c.SessionTTL < 0 || c.LoginTimeout < 0 || c.CommandTimeout < 0 || c.MaxConcurrentLogins < 0 {
		bad("negative interval, timeout or count")
	}
	return errors.Join(errs...)
}

// ValidateNamespace checks the admin namespace's name: a static
// namespace other than "/".
func ValidateNamespace(name string) error {
	switch {
	case !strings.HasPrefix(name, "/"):
		return fmt.Errorf("namespace %q must start with '/'", name)
	case name == "/":
		return errors.New(`namespace "/" is the application's default namespace`)
	case strings.ContainsAny(name, "*?#"):
		return fmt.Errorf("namespace %q must be a plain name (no '*', '?', '#')", name)
	}
	return nil
}

// ValidatePasswordHash checks that hash is a bcrypt hash (what
// `htpasswd -nbBC 10 "" password`, Python's bcrypt or bcryptjs print).
// Its error never contains the hash.
func ValidatePasswordHash(hash string) error {
	if hash == "" {
		return errors.New("password_hash required: a bcrypt hash of the password (or disable authentication)")
	}
	if _, err := bcrypt.Cost([]byte(hash)); err != nil {
		return errors.New("password_hash is not a bcrypt hash (want $2a$, $2b$ or $2y$ and 60 characters)")
	}
	return nil
}
