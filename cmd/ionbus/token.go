package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

const envTokenSecret = "IONBUS_TOKEN_SECRET"

// runToken mints an HS256 JWT for development: the claims ionbus reads
// by default (sub, name, roles) plus iat and exp. The secret comes from
// --secret or, to keep it out of the process list, IONBUS_TOKEN_SECRET.
func runToken(_ context.Context, args []string, io stdio) error {
	fs := flag.NewFlagSet("token", flag.ContinueOnError)
	fs.SetOutput(io.err)
	secret := fs.String("secret", "", "HMAC secret (env "+envTokenSecret+")")
	sub := fs.String("sub", "", "subject: the user id (required)")
	name := fs.String("name", "", "display name claim")
	roles := fs.String("roles", "", "comma-separated roles claim")
	issuer := fs.String("iss", "", "issuer claim")
	audience := fs.String("aud", "", "audience claim")
	ttl := fs.Duration("ttl", time.Hour, "lifetime")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected arguments %q", errUsage, fs.Args())
	}
	if *secret == "" {
		*secret, _ = io.getenv(envTokenSecret)
	}
	switch {
	case *secret == "":
		return fmt.Errorf("%w: --secret or %s is required", errUsage, envTokenSecret)
	case *sub == "":
		return fmt.Errorf("%w: --sub is required", errUsage)
	case *ttl <= 0:
		return fmt.Errorf("%w: --ttl must be positive", errUsage)
	}
	if len(*secret) < 32 {
		fmt.Fprintln(io.err, "ionbus token: warning: a secret shorter than 32 bytes is weak for HS256")
	}
	token, err := mintToken(*secret, *sub, *name, splitComma(*roles), *issuer, *audience, *ttl, time.Now())
	if err != nil {
		return err
	}
	fmt.Fprintln(io.out, token)
	return nil
}

func mintToken(secret, sub, name string, roles []string, iss, aud string, ttl time.Duration, now time.Time) (string, error) {
	if secret == "" {
		return "", errors.New("empty secret")
	}
	claims := jwt.MapClaims{
		"sub": sub,
		"iat": now.Unix(),
		"exp": now.Add(ttl).Unix(),
	}
	if name != "" {
		claims["name"] = name
	}
	if len(roles) > 0 {
		claims["roles"] = roles
	}
	if iss != "" {
		claims["iss"] = iss
	}
	if aud != "" {
		claims["aud"] = aud
	}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(secret))
}

// splitComma splits a comma-separated flag value, dropping empty parts.
func splitComma(v string) []string {
	var out []string
	for part := range strings.SplitSeq(v, ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out
}
