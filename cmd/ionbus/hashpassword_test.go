package main

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/ionbus/ionbus/broker/adminui"
)

// TestHashPassword: the printed hash is a bcrypt hash of the password
// that admin_ui.password_hash accepts; no password is a usage error.
func TestHashPassword(t *testing.T) {
	run := func(env map[string]string, args ...string) (string, error) {
		var out, errOut bytes.Buffer
		err := runHashPassword(context.Background(), args, stdio{out: &out, err: &errOut, getenv: func(k string) (string, bool) {
			v, ok := env[k]
			return v, ok
		}})
		return out.String(), err
	}
	out, err := run(map[string]string{envAdminPassword: "pa ss"}, "--cost", "4")
	if err != nil {
		t.Fatal(err)
	}
	hash := strings.TrimSuffix(out, "\n")
	if bcrypt.CompareHashAndPassword([]byte(hash), []byte("pa ss")) != nil || adminui.ValidatePasswordHash(hash) != nil {
		t.Fatalf("hash %q does not verify", out)
	}
	if cost, _ := bcrypt.Cost([]byte(hash)); cost != 4 {
		t.Errorf("cost %d", cost)
	}
	if out, err := run(nil, "--password", "x", "--cost", "4"); err != nil || bcrypt.CompareHashAndPassword([]byte(strings.TrimSpace(out)), []byte("x")) != nil {
		t.Errorf("--password: %q %v", out, err)
	}
	for _, args := range [][]string{nil, {"--cost", "99", "--password", "x"}, {"--password", "x", "extra"}} {
		if _, err := run(nil, args...); !errors.Is(err, errUsage) {
			t.Errorf("%q: %v, want a usage error", args, err)
		}
	}
}
