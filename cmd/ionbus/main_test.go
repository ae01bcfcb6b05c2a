package main

import (
	"bytes"
	"context"
	"flag"
	"io"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/ionbus/ionbus/node"
)

func runCmd(args []string, env map[string]string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	code = run(context.Background(), args, stdio{out: &out, err: &errb, getenv: envMap(env)})
	return code, out.String(), errb.String()
}

func TestRunDispatch(t *testing.T) {
	tests := []struct {
		name string
		args []string
		code int
		want string // substring of stdout+stderr
	}{
		{"no command", nil, 2, "usage: ionbus"},
		{"help", []string{"help"}, 0, "serve"},
		{"unknown", []string{"frobnicate"}, 2, `unknown command "frobnicate"`},
		{"version", []string{"version"}, 0, "ionbus dev"},
		{"version args", []string{"version", "x"}, 2, "no arguments"},
		{"serve help", []string{"serve", "-h"}, 0, "-api-listen"},
		{"serve bad config", []string{"serve", "--config", "/nonexistent.yaml"}, 1, "no such file"},
		{"bench passes its exit code", []string{"bench", "nonsense"}, 2, "bench"},
		{"token without secret", []string{"token", "--sub", "u1"}, 2, "--secret"},
		{"token without sub", []string{"token", "--secret", strings.Repeat("s", 32)}, 2, "--sub"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errs := runCmd(tc.args, nil)
			if code != tc.code || !strings.Contains(out+errs, tc.want) {
				t.Fatalf("code %d, output %q%q; want %d and %q", code, out, errs, tc.code, tc.want)
			}
		})
	}
}

func TestToken(t *testing.T) {
	secret := strings.Repeat("k", 32)
	code, out, errs := runCmd([]string{"token", "--sub", "u1", "--name", "Ada", "--roles", "admin, ops", "--ttl", "2m", "--aud", "app"},
		map[string]string{envTokenSecret: secret})
	if code != 0 || errs != "" {
		t.Fatalf("code %d: %s", code, errs)
	}
	claims := jwt.MapClaims{}
	tok, err := jwt.ParseWithClaims(strings.TrimSpace(out), claims, func(*jwt.Token) (any, error) { return []byte(secret), nil },
		jwt.WithValidMethods([]string{"HS256"}))
	if err != nil || !tok.Valid {
		t.Fatalf("token %q: %v", out, err)
	}
	roles, _ := claims["roles"].([]any)
	if claims["sub"] != "u1" || claims["name"] != "Ada" || len(roles) != 2 || roles[0] != "admin" || roles[1] != "ops" || claims["aud"] != "app" {
		t.Fatalf("claims %v", claims)
	}
	exp, _ := claims.GetExpirationTime()
	iat, _ := claims.GetIssuedAt()
	if exp.Sub(iat.Time) != 2*time.Minute {
		t.Fatalf("ttl %v", exp.Sub(iat.Time))
	}

	// The older variable still works.
	if code, out, errs := runCmd([]string{"token", "--sub", "u1"}, map[string]string{envTokenSecretAlias: secret}); code != 0 || out == "" {
		t.Fatalf("alias variable: %d %q", code, errs)
	}
	// A secret serve would refuse is refused, in serve's words, once.
	for _, env := range []map[string]string{nil, {envTokenSecret: "short"}, {envTokenSecretAlias: "short"}} {
		args := []string{"token", "--sub", "u1"}
		if env == nil {
			args = append(args, "--secret", "short")
		}
		code, out, errs = runCmd(args, env)
		if code != 2 || out != "" || !strings.Contains(errs, "too short (minimum 32)") || strings.Count(errs, "too short") != 1 || strings.Contains(errs, "short)") && strings.Contains(errs, `"short"`) {
			t.Fatalf("short secret %v: %d %q %q", env, code, out, errs)
		}
	}
	// What token accepts, serve accepts.
	if err := checkSecret(secret); err != nil {
		t.Fatal(err)
	}
	if _, err := loadConfig(nil, envMap(map[string]string{envTokenSecret: "short"}), io.Discard); err == nil {
		t.Fatal("serve accepts the secret token refused")
	}
}

// TestCLIUsage: --version, help <command>, and usage errors that exit 2
// and are printed once, in every command.
func TestCLIUsage(t *testing.T) {
	for _, args := range [][]string{{"--version"}, {"-version"}, {"version"}} {
		if code, out, errs := runCmd(args, nil); code != 0 || !strings.HasPrefix(out, "ionbus dev (commit ") || errs != "" {
			t.Fatalf("%v: %d %q %q", args, code, out, errs)
		}
	}
	for _, name := range []string{"serve", "emit", "token", "version", "bench"} {
		code1, out1, err1 := runCmd([]string{"help", name}, nil)
		code2, out2, err2 := runCmd([]string{name, "-h"}, nil)
		if code1 != 0 || code1 != code2 || out1 != out2 || err1 != err2 || out1+err1 == "" {
			t.Fatalf("help %s: %d %q %q; %s -h: %d %q %q", name, code1, out1, err1, name, code2, out2, err2)
		}
	}
	if code, _, errs := runCmd([]string{"help", "frobnicate"}, nil); code != 2 || !strings.Contains(errs, `unknown command "frobnicate"`) {
		t.Fatalf("help of an unknown command: %d %q", code, errs)
	}
	for _, tc := range []struct {
		args []string
		once string // appears exactly once in stderr
	}{
		{[]string{"serve", "--lissten", ":1"}, "-lissten"},
		{[]string{"serve", "--ping-interval", "soon"}, "invalid value"},
		{[]string{"serve", "now"}, "unexpected arguments"},
		{[]string{"emit", "--bogus"}, "-bogus"},
		{[]string{"emit", "--redis", "redis://127.0.0.1:1"}, "exactly one of"},
		{[]string{"token", "--bogus"}, "-bogus"},
		{[]string{"token", "--ttl", "soon", "--sub", "u"}, "invalid value"},
		{[]string{"version", "--bogus"}, "-bogus"},
		{[]string{"bench", "idle", "--bogus"}, "-bogus"},
		{[]string{"bench", "nonsense"}, "nonsense"},
	} {
		code, out, errs := runCmd(tc.args, nil)
		if code != 2 || out != "" || strings.Count(errs, tc.once) != 1 {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want 2 and %q printed once", tc.args, code, out, errs, tc.once)
		}
	}
}

// TestServeHelp: serve -h gives every flag's variable and default, and
// the variables are the ones serve reads.
func TestServeHelp(t *testing.T) {
	code, _, help := runCmd([]string{"serve", "-h"}, nil)
	if code != 0 {
		t.Fatalf("serve -h: %d", code)
	}
	known := map[string]bool{envConfig: true, envProfile: true}
	for _, name := range node.EnvNames() {
		known[name] = true
	}
	flags := 0
	newServeFlags(io.Discard).fs.VisitAll(func(f *flag.Flag) {
		flags++
		env := regexp.MustCompile(`env (IONBUS_[A-Z_]+)`).FindStringSubmatch(f.Usage)
		if env == nil || !known[env[1]] || !strings.Contains(f.Usage, "; default ") {
			t.Errorf("flag -%s: usage %q lacks a variable serve reads or a default", f.Name, f.Usage)
		}
		if _, usage := flag.UnquoteUsage(f); !strings.Contains(help, "-"+f.Name) || !strings.Contains(help, usage) {
			t.Errorf("serve -h lacks -%s", f.Name)
		}
	})
	for _, want := range []string{`default ":4000"`, `env IONBUS_LISTEN`, `default "25s"`, `env IONBUS_AUTH_JWT_SECRET`, "usage: ionbus serve"} {
		if !strings.Contains(help, want) {
			t.Errorf("serve -h lacks %q:\n%s", want, help)
		}
	}
	if flags < 13 {
		t.Fatalf("%d flags", flags)
	}
}
