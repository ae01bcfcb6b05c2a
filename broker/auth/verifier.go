package auth

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Identity is who a verified token says the client is.
type Identity struct {
	// UserID is the value of Config.UserClaim; never empty.
	UserID string
	// Name is the value of Config.NameClaim, or empty.
	Name string
	// Roles is the parsed Config.RolesClaim, or nil.
	Roles []string
	// Claims holds every claim of the token as decoded from JSON
	// (numbers are float64). Treat it as read-only.
	Claims map[string]any
	// ExpiresAt is the "exp" claim; zero when the token has none
	// (only possible with Config.AllowNoExpiry).
	ExpiresAt time.Time
}

// HasRole reports whether r is one of the identity's roles (exact match).
func (id *Identity) HasRole(r string) bool {
	return id != nil && slices.Contains(id.Roles, r)
}

// Verifier checks tokens against one Config. Safe for concurrent use.
type Verifier struct {
	cfg    Config
	algs   []string
	key    crypto.PublicKey // static public key, or nil
	keyAlg []string         // algorithms key may verify
	jwks   *jwksCache       // nil without JWKSURL
	parser *jwt.Parser
}

// New validates cfg, loads the public key file and returns a Verifier.
// It does not fetch the JWKS; the first Verify does.
func New(cfg Config) (*Verifier, error) {
	cfg = cfg.withDefaults()
	key := cfg.PublicKey
	if cfg.PublicKeyFile != "" {
		if key != nil {
			return nil, errors.New("auth: set PublicKeyFile or PublicKey, not both")
		}
		var err error
		if key, err = loadPublicKey(cfg.PublicKeyFile); err != nil {
			return nil, err
		}
	}
	var keyAlg []string
	if key != nil {
		var err error
		if keyAlg, err = keyFamily(key); err != nil {
			return nil, err
		}
	}
	if len(cfg.Secret) == 0 && key == nil && cfg.JWKSURL == "" {
		return nil, errors.New("auth: no key configured (Secret, PublicKeyFile, PublicKey or JWKSURL)")
	}
	if len(cfg.Secret) > 0 && len(cfg.Secret) < 32 {
		return nil, fmt.Errorf("auth: Secret of %d bytes is too short (minimum 32)", len(cfg.Secret))
	}
	algs, err := resolveAlgorithms(cfg, key)
	if err != nil {
		return nil, err
	}
	if len(algs) == 0 {
		return nil, errors.New("auth: no algorithm pinned")
	}
	v := &Verifier{cfg: cfg, algs: algs, key: key, keyAlg: keyAlg}
	if cfg.JWKSURL != "" {
		v.jwks = newJWKSCache(cfg)
	}
	opts := []jwt.ParserOption{
		jwt.WithValidMethods(algs),
		jwt.WithLeeway(cfg.Leeway),
		jwt.WithIssuedAt(),
		jwt.WithTimeFunc(cfg.Now),
	}
	if !cfg.AllowNoExpiry {
		opts = append(opts, jwt.WithExpirationRequired())
	}
	if cfg.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(cfg.Issuer))
	}
	if cfg.Audience != "" {
		opts = append(opts, jwt.WithAudience(cfg.Audience))
	}
	v.parser = jwt.NewParser(opts...)
	return v, nil
}

// Algorithms returns the pinned algorithms (a copy).
func (v *Verifier) Algorithms() []string { return slices.Clone(v.algs) }

// ExtractToken is ExtractToken with the Verifier's Config.
func (v *Verifier) ExtractToken(src TokenSources) (string, Source) {
	return extractToken(src, v.cfg)
}

// Verify checks token and returns the identity it carries. Errors match
// ErrNoToken (empty token), ErrInvalidToken (which ErrExpired also
// matches) or ErrKeyUnavailable. ctx bounds a JWKS fetch, if one is
// needed. Safe for concurrent use.
func (v *Verifier) Verify(ctx context.Context, token string) (*Identity, error) {
	if token == "" {
		return nil, ErrNoToken
	}
	if len(token) > v.cfg.MaxTokenBytes {
		return nil, invalid(fmt.Sprintf("token of %d bytes exceeds %d", len(token), v.cfg.MaxTokenBytes), nil)
	}
	claims := jwt.MapClaims{}
	_, err := v.parser.ParseWithClaims(token, claims, func(t *jwt.Token) (any, error) {
		return v.keyFor(ctx, t)
	})
	if err != nil {
		switch {
		case errors.Is(err, ErrKeyUnavailable):
			return nil, err
		case errors.Is(err, jwt.ErrTokenExpired):
			return nil, fmt.Errorf("%w: %w", ErrExpired, err)
		default:
			return nil, invalid("jwt", err)
		}
	}
	return v.identity(claims)
}

// keyFor picks the verification key for t. The parser has already
// refused algorithms outside v.algs; keyFor additionally makes sure an
// HMAC algorithm only ever gets the secret and an asymmetric one only a
// public key of its own family.
func (v *Verifier) keyFor(ctx context.Context, t *jwt.Token) (any, error) {
	alg := t.Method.Alg()
	if isHMAC(alg) {
		if len(v.cfg.Secret) == 0 {
			return nil, invalid("no secret for "+alg, nil)
		}
		return v.cfg.Secret, nil
	}
	kid, _ := t.Header["kid"].(string)
	if v.jwks != nil && (kid != "" || v.key == nil) {
		return v.jwks.key(ctx, kid, alg)
	}
	if v.key != nil && slices.Contains(v.keyAlg, alg) {
		return v.key, nil
	}
	return nil, invalid("no key for "+alg, nil)
}

func (v *Verifier) identity(claims jwt.MapClaims) (*Identity, error) {
	user, ok := claimString(claims[v.cfg.UserClaim])
	if !ok || user == "" {
		return nil, invalid("missing user claim "+strconv.Quote(v.cfg.UserClaim), nil)
	}
	id := &Identity{UserID: user, Claims: claims}
	id.Name, _ = claims[v.cfg.NameClaim].(string)
	id.Roles = parseRoles(claims[v.cfg.RolesClaim])
	if exp, err := claims.GetExpirationTime(); err == nil && exp != nil {
		id.ExpiresAt = exp.Time
	}
	return id, nil
}

// claimString accepts a string, or an integral number (some issuers put
// numeric user IDs in "sub").
func claimString(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1<<53 {
			return strconv.FormatInt(int64(x), 10), true
		}
	}
	return "", false
}

// parseRoles accepts a list of strings or one string separated by spaces
// and/or commas. Non-string list items and empty entries are dropped.
func parseRoles(v any) []string {
	switch x := v.(type) {
	case string:
		f := strings.FieldsFunc(x, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' })
		if len(f) == 0 {
			return nil
		}
		return f
	case []any:
		out := make([]string, 0, len(x))
		for _, e := range x {
			if s, ok := e.(string); ok && s != "" {
				out = append(out, s)
			}
		}
		if len(out) == 0 {
			return nil
		}
		return out
	case []string:
		return slices.Clone(x)
	}
	return nil
}
