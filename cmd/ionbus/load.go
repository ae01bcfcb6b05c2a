package main

import (
	"errors"
	"flag"
	"fmt"
	"io"

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
	f.fs.StringVar(&f.config, "config", "", "YAML configuration file (env "+envConfig+")")
	f.fs.StringVar(&f.profile, "profile", "", "configuration profile: conformance, bench (env "+envProfile+")")
	str := func(name, usage string, field func(*node.Config) *string) {
		f.fs.Func(name, usage, func(v string) error {
			f.pending = append(f.pending, func(c *node.Config) { *field(c) = v })
			return nil
		})
	}
	dur := func(name, usage string, field func(*node.Config) *node.Duration) {
		f.fs.Func(name, usage, func(v string) error {
			d, err := node.ParseDuration(v)
			if err != nil {
				return err
			}
			f.pending = append(f.pending, func(c *node.Config) { *field(c) = node.Duration(d) })
			return nil
		})
	}
	str("listen", "public Socket.IO listen address (listen)", func(c *node.Config) *string { return &c.Listen })
	str("path", "Socket.IO endpoint path (path)", func(c *node.Config) *string { return &c.Path })
	str("api-listen", "HTTP API listen address, empty disables (api.listen)", func(c *node.Config) *string { return &c.API.Listen })
	str("redis-url", "Redis URL, empty for a single in-memory node (redis.url)", func(c *node.Config) *string { return &c.Redis.URL })
	str("redis-mode", "classic|sharded|room (redis.mode)", func(c *node.Config) *string { return &c.Redis.Mode })
	str("node-id", "node id, unique among live nodes; empty = random (node_id)", func(c *node.Config) *string { return &c.NodeID })
	str("jwt-secret", "HMAC secret of client JWTs; prefer IONBUS_AUTH_JWT_SECRET (auth.jwt.secret)", func(c *node.Config) *string { return &c.Auth.JWT.Secret })
	str("log-level", "trace|debug|info|warn|error (log.level)", func(c *node.Config) *string { return &c.Log.Level })
	str("log-format", "json|console (log.format)", func(c *node.Config) *string { return &c.Log.Format })
	dur("ping-interval", "Engine.IO ping interval (engine.ping_interval)", func(c *node.Config) *node.Duration { return &c.Engine.PingInterval })
	dur("ping-timeout", "Engine.IO ping timeout (engine.ping_timeout)", func(c *node.Config) *node.Duration { return &c.Engine.PingTimeout })
	return f
}

// loadConfig builds the serve configuration: defaults < profile < file <
// env < flags, then validates it.
func loadConfig(args []string, getenv func(string) (string, bool), stderr io.Writer) (serveConfig, error) {
	f := newServeFlags(stderr)
	if err := f.fs.Parse(args); err != nil {
		return serveConfig{}, err
	}
	if f.fs.NArg() > 0 {
		return serveConfig{}, fmt.Errorf("serve: unexpected arguments %q", f.fs.Args())
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
	if path != "" {
		if err := node.LoadFile(&c, path); err != nil {
			return serveConfig{}, err
		}
	}
	if err := node.ApplyEnv(&c, getenv); err != nil {
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
