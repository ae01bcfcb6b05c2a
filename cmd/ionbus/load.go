package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/ionbus/ionbus/node"
)

// serveConfig is what `serve` runs: a node's Config and the profile it
// was layered on (a file cannot choose the profile it is layered on).
type serveConfig struct {
	node.Config
	Profile string
}

// applyProfile layers a named profile over the defaults.
func applyProfile(c *node.Config, profile string) error {
	switch profile {
	case "":
	case profileConformance:
		conformanceConfig(c)
	case profileBench:
		benchConfig(c)
	default:
		return fmt.Errorf("unknown profile %q (known: %s, %s)", profile, profileConformance, profileBench)
	}
	return nil
}

// Environment variables read before the file, to find it and the profile.
const (
	envConfig  = "IONBUS_CONFIG"
	envProfile = "IONBUS_PROFILE"
)

// serveFlags are the flags of `serve`. Values are recorded while parsing
// and applied after the file and the environment, so flags win.
type serveFlags struct {
	fs      *flag.FlagSet
	config  string
	profile string
	pending []func(*node.Config)
}

func newServeFlags(stderr io.Writer) *serveFlags {
	f := &serveFlags{fs: flag.NewFlagSet("serve", flag.ContinueOnError)}
	f.fs.SetOutput(stderr)
	f.fs.Usage = func() {
		fmt.Fprint(stderr, "usage: ionbus serve [flags]\n\n"+
			"Runs a broker node. Sources, each overriding the previous one: defaults, --profile,\n"+
			"the --config file, IONBUS_* environment variables, these flags. Every key, its\n"+
			"variable and its default: README.md, section Configuration.\n\nflags:\n")
		f.fs.PrintDefaults()
	}
	f.fs.StringVar(&f.config, "config", "", "YAML configuration `file`; env "+envConfig+"; default none")
	f.fs.StringVar(&f.profile, "profile", "", "configuration `profile`: conformance, bench; env "+envProfile+"; default none")
	defaults := node.Default()
	// describe ends a flag's usage with its key, variable and default; the
	// variable is IONBUS_ + the key in upper case (TestServeHelp checks
	// that node reads it).
	describe := func(usage, key, def string) string {
		if def == "" {
			def = "empty"
		} else {
			def = fmt.Sprintf("%q", def)
		}
		return fmt.Sprintf("%s; key %s, env %s; default %s", usage, key, envName(key), def)
	}
	str := func(name, key, usage string, field func(*node.Config) *string) {
		f.fs.Func(name, describe(usage, key, *field(&defaults)), func(v string) error {
			f.pending = append(f.pending, func(c *node.Config) { *field(c) = v })
			return nil
		})
	}
	dur := func(name, key, usage string, field func(*node.Config) *node.Duration) {
		f.fs.Func(name, describe(usage, key, field(&defaults).D().String()), func(v string) error {
			d, err := node.ParseDuration(v)
			if err != nil {
				return err
			}
			f.pending = append(f.pending, func(c *node.Config) { *field(c) = node.Duration(d) })
			return nil
		})
	}
	str("listen", "listen", "public Socket.IO listen `address`", func(c *node.Config) *string { return &c.Listen })
	str("path", "path", "Socket.IO endpoint `path`", func(c *node.Config) *string { return &c.Path })
	str("api-listen", "api.listen", "HTTP API listen `address`, empty disables", func(c *node.Config) *string { return &c.API.Listen })
	str("redis-url", "redis.url", "Redis `URL`, empty for a single in-memory node", func(c *node.Config) *string { return &c.Redis.URL })
	str("redis-mode", "redis.mode", "pub/sub `mode`: classic|sharded|room", func(c *node.Config) *string { return &c.Redis.Mode })
	str("node-id", "node_id", "node `id`, unique among live nodes; empty = random", func(c *node.Config) *string { return &c.NodeID })
	str("jwt-secret", "auth.jwt.secret", "HMAC `secret` of client JWTs, at least 32 bytes; prefer the variable (flags show in ps)", func(c *node.Config) *string { return &c.Auth.JWT.Secret })
	str("log-level", "log.level", "log `level`: trace|debug|info|warn|error", func(c *node.Config) *string { return &c.Log.Level })
	str("log-format", "log.format", "log `format`: json|console", func(c *node.Config) *string { return &c.Log.Format })
	dur("ping-interval", "engine.ping_interval", "Engine.IO ping `interval`", func(c *node.Config) *node.Duration { return &c.Engine.PingInterval })
	dur("ping-timeout", "engine.ping_timeout", "Engine.IO ping `timeout`", func(c *node.Config) *node.Duration { return &c.Engine.PingTimeout })
	return f
}

// envName is the IONBUS_* variable of a configuration key.
func envName(key string) string {
	return "IONBUS_" + strings.ToUpper(strings.NewReplacer(".", "_").Replace(key))
}

// loadConfig builds the serve configuration: defaults < profile < file <
// env < flags, then validates it.
func loadConfig(args []string, getenv func(string) (string, bool), stderr io.Writer) (serveConfig, error) {
	f := newServeFlags(stderr)
	if err := parseFlags(f.fs, args); err != nil {
		return serveConfig{}, err
	}
	if f.fs.NArg() > 0 {
		return serveConfig{}, fmt.Errorf("%w: unexpected arguments %q", errUsage, f.fs.Args())
	}
	profile, path := f.profile, f.config
	if profile == "" {
		profile, _ = getenv(envProfile)
	}
	if path == "" {
		path, _ = getenv(envConfig)
	}
	c := node.Default()
	if err := applyProfile(&c, profile); err != nil {
		return serveConfig{}, err
	}
	// The file's problems and the variables' are reported together;
	// validation waits until both are clean (it would judge a half-read
	// file).
	var fileErr error
	if path != "" {
		fileErr = node.LoadFile(&c, path)
	}
	if err := errors.Join(fileErr, node.ApplyEnv(&c, getenv)); err != nil {
		return serveConfig{}, err
	}
	for _, set := range f.pending {
		set(&c)
	}
	err := c.Validate()
	if profile == profileConformance && c.Path == "/engine.io/" {
		err = errors.Join(err, errors.New("path: /engine.io/ is taken by the conformance echo server"))
	}
	if err != nil {
		return serveConfig{}, err
	}
	return serveConfig{Config: c, Profile: profile}, nil
}
