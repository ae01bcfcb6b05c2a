package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
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

	// A short secret still works but warns.
	code, _, errs = runCmd([]string{"token", "--sub", "u1", "--secret", "short"}, nil)
	if code != 0 || !strings.Contains(errs, "weak") {
		t.Fatalf("short secret: %d %q", code, errs)
	}
}
