package bridge

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestKeyNames(t *testing.T) {
	k := newKeys("ionbus:bridge", "ionbus:lifecycle", "n1")
	want := keys{
		base:    "ionbus:bridge:{ionbus:lifecycle}",
		stream:  "ionbus:lifecycle",
		hb:      "ionbus:bridge:{ionbus:lifecycle}:hb:n1",
		nodes:   "ionbus:bridge:{ionbus:lifecycle}:nodes",
		sockets: "ionbus:bridge:{ionbus:lifecycle}:sockets:n1",
		users:   "ionbus:bridge:{ionbus:lifecycle}:users",
	}
	if k != want {
		t.Fatalf("keys %+v", k)
	}
	if k := newKeys("p", "{app}:life", "n"); k.hb != "p:{app}:hb:n" {
		t.Fatalf("tagged stream: %+v", k)
	}
	for key, tag := range map[string]string{"a": "a", "{x}y": "x", "a{b}c{d}": "b"} {
		if got, err := hashTag(key); err != nil || got != tag {
			t.Fatalf("hashTag(%q) = %q, %v", key, got, err)
		}
	}
	for _, key := range []string{"a{}b", "a{b", "a}b"} {
		if _, err := hashTag(key); err == nil {
			t.Fatalf("hashTag(%q) accepted", key)
		}
	}
}

func TestConfigDefaultsAndValidation(t *testing.T) {
	c := Config{URL: "http://127.0.0.1:5000/ionbus", NodeID: "n", ForwardHeaders: []string{"Cookie", " X-A ", "cookie"}}
	c.withDefaults()
	if err := c.validate(); err != nil {
		t.Fatal(err)
	}
	if c.Timeout != 3*time.Second || c.MaxInflight != 256 || c.MaxInflightPerSocket != 16 || c.CacheTTL != 10*time.Second ||
		c.CacheSize != 10000 || c.MaxBodyBytes != 1<<20 || c.Stream.Key != "ionbus:events" || c.Stream.MaxLen != 100000 ||
		c.Lifecycle.BatchSize != 100 || c.Lifecycle.FlushInterval != time.Second || c.Lifecycle.RetryFor != time.Minute ||
		c.NodeTTL != 30*time.Second || c.KeyPrefix != "ionbus:bridge" {
		t.Fatalf("defaults %+v", c)
	}
	if !reflect.DeepEqual(c.ForwardHeaders, []string{"cookie", "x-a"}) {
		t.Fatalf("headers %v", c.ForwardHeaders)
	}
	d := Config{URL: "https://b", NodeID: "n"}
	d.withDefaults()
	if !reflect.DeepEqual(d.ForwardHeaders, DefaultForwardHeaders) {
		t.Fatalf("default headers %v", d.ForwardHeaders)
	}
	for name, cfg := range map[string]Config{
		"no url":        {NodeID: "n"},
		"relative url":  {URL: "/ionbus", NodeID: "n"},
		"ftp url":       {URL: "ftp://x/", NodeID: "n"},
		"no node":       {URL: "http://b"},
		"negative":      {URL: "http://b", NodeID: "n", Timeout: -1},
		"braces":        {URL: "http://b", NodeID: "n", KeyPrefix: "{x}"},
		"bad stream":    {URL: "http://b", NodeID: "n", Lifecycle: LifecycleConfig{Stream: "a{}"}},
		"webhook alone": {URL: "http://b", NodeID: "n", Lifecycle: LifecycleConfig{Webhook: true}},
		"bad header":    {URL: "http://b", NodeID: "n", ForwardHeaders: []string{"a b"}},
	} {
		if _, err := New(cfg, nil); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := New(Config{URL: "http://b", NodeID: "n", Lifecycle: LifecycleConfig{Stream: "s"}}, nil); !errors.Is(err, ErrNeedsRedis) {
		t.Fatalf("lifecycle without redis: %v", err)
	}
	if _, err := New(Config{URL: "http://user:pass@b/?token=x"}, nil); err == nil || strings.Contains(err.Error(), "pass") || strings.Contains(err.Error(), "token") {
		t.Fatal("url credentials in the error")
	}
	for in, want := range map[string]Via{"http": ViaHTTP, "stream": ViaStream} {
		if v, err := ParseVia(in); err != nil || v != want || v.String() != in {
			t.Fatalf("ParseVia(%q) = %v %v", in, v, err)
		}
	}
	if _, err := ParseVia("queue"); err == nil {
		t.Fatal("bad via accepted")
	}
}
