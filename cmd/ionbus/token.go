package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/ionbus/ionbus/node"
)

// The secret's variables: serve's (auth.jwt.secret), so one export serves
// both commands, and the older name token read first, kept as an alias.
const (
	envTokenSecret      = "IONBUS_AUTH_JWT_SECRET"
	envTokenSecretAlias = "IONBUS_TOKEN_SECRET"
)

// runToken mints an HS256 JWT for development: the claims ionbus reads
// by default (sub, name, roles) plus iat and exp. The secret comes from
// --secret or, to keep it out of the process list, IONBUS_AUTH_JWT_SECRET
// (or IONBUS_TOKEN_SECRET); one serve would refuse is refused.
func runToken(_ context.Context, args []string, io stdio) error {
	fs := flag.NewFlagSet("token", flag.ContinueOnError)
	fs.SetOutput(io.err)
	secret := fs.String("secret", "", "HMAC `secret`, at least 32 bytes, as serve's auth.jwt.secret (env "+envTokenSecret+", or "+envTokenSecretAlias+")")
	sub := fs.String("sub", "", "subject: the user id (required)")
	name := fs.String("name", "", "display name claim")
	roles := fs.String("roles", "", "comma-separated roles claim")
	issuer := fs.String("iss", "", "issuer claim")
	audience := fs.String("aud", "", "audience claim")
	ttl := fs.Duration("ttl", time.Hour, "lifetime")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected arguments %q", errUsage, fs.Args())
	}
	for _, name := range []string{envTokenSecret, envTokenSecretAlias} {
		if *secret == "" {
			*secret, _ = io.getenv(name)
		}
	}
	switch {
	case *secret == "":
		return fmt.Errorf("%w: --secret or %s is required", errUsage, envTokenSecret)
	case *sub == "":
		return fmt.Errorf("%w: --sub is required", errUsage)
	case *ttl <= 0:
		return fmt.Errorf("%w: --ttl must be positive", errUsage)
	}
	if err := checkSecret(*secret); err != nil {
		return fmt.Errorf("%w: --secret / %s: %v", errUsage, envTokenSecret, err)
	}
	token, err := mintToken(*secret, *sub, *name, splitComma(*roles), *issuer, *audience, *ttl, time.Now())
	if err != nil {
		return err
	}
	fmt.Fprintln(io.out, token)
	return nil
}

// checkSecret refuses a secret serve would refuse, through serve's own
// validation (node.Config.Validate, which asks broker/auth), so a minted
// token always verifies on a node that has the same secret. The error
// never contains the secret.
func checkSecret(secret string) error {
	c := node.Default()
	c.Auth.JWT.Secret = secret
	return c.Validate()
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
