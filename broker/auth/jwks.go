package auth

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// jwksCache holds the keys of Config.JWKSURL. Lookups take mu; a fetch
// runs without it, one at a time (fetching guards that), and waiters
// block on the fetch's done channel.
type jwksCache struct {
	cfg Config

	mu        sync.Mutex
	keys      map[string]jwk // by kid; "" for keys without kid
	fetchedAt time.Time      // last successful fetch
	triedAt   time.Time      // last attempt (rate limit)
	inflight  chan struct{}  // closed when the running fetch ends
	lastErr   error
}

type jwk struct {
	key crypto.PublicKey
	alg string // "alg" of the JWK, or empty
	fam []string
}

func newJWKSCache(cfg Config) *jwksCache {
	return &jwksCache{cfg: cfg}
}

// key returns the key for kid usable with alg. It refetches when the
// cache is stale, or when kid is unknown and the last attempt is older
// than JWKSMinRefresh.
func (c *jwksCache) key(ctx context.Context, kid, alg string) (any, error) {
	for attempt := 0; ; attempt++ {
		c.mu.Lock()
		now := c.cfg.Now()
		stale := c.fetchedAt.IsZero() || now.Sub(c.fetchedAt) >= c.cfg.JWKSCacheTTL
		k, found := c.lookup(kid, alg)
		if found && !stale {
			c.mu.Unlock()
			return k, nil
		}
		if wait := c.inflight; wait != nil && attempt == 0 {
			// Someone is fetching: wait for their result, then look again.
			c.mu.Unlock()
			select {
			case <-wait:
				continue
			case <-ctx.Done():
				return nil, fmt.Errorf("%w: %w", ErrKeyUnavailable, ctx.Err())
			}
		}
		mayFetch := c.triedAt.IsZero() || now.Sub(c.triedAt) >= c.cfg.JWKSMinRefresh
		if attempt > 0 || !mayFetch {
			lastErr, never := c.lastErr, c.fetchedAt.IsZero()
			c.mu.Unlock()
			switch {
			case found:
				return k, nil // stale but usable; the refresh failed or is rate limited
			case never && lastErr != nil:
				return nil, fmt.Errorf("%w: %w", ErrKeyUnavailable, lastErr)
			case kid == "":
				return nil, invalid("no JWKS key for "+alg+" (token has no kid)", nil)
			}
			return nil, invalid(fmt.Sprintf("unknown kid %q", kid), nil)
		}
		wait := make(chan struct{})
		c.inflight = wait
		c.triedAt = now
		c.mu.Unlock()
		keys, err := c.fetch(ctx)
		c.mu.Lock()
		if err == nil {
			c.keys, c.fetchedAt, c.lastErr = keys, c.cfg.Now(), nil
		} else {
			c.lastErr = err
		}
		c.inflight = nil
		close(wait)
		c.mu.Unlock()
	}
}

// lookup finds a key; caller holds mu. With an empty kid it returns a
// VerificationKeySet of every key usable with alg.
func (c *jwksCache) lookup(kid, alg string) (any, bool) {
	if kid != "" {
		k, ok := c.keys[kid]
		if !ok || !k.usable(alg) {
			return nil, false
		}
		return k.key, true
	}
	var set []any
	for _, k := range c.keys {
		if k.usable(alg) {
			set = append(set, k.key)
		}
	}
	switch len(set) {
	case 0:
		return nil, false
	case 1:
		return set[0], true
	}
	return verificationKeySet(set), true
}

func (k jwk) usable(alg string) bool {
	return (k.alg == "" || k.alg == alg) && slices.Contains(k.fam, alg)
}

// maxJWKSBytes bounds the JWKS document.
const maxJWKSBytes = 1 << 20

func (c *jwksCache) fetch(ctx context.Context) (map[string]jwk, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.cfg.JWKSURL, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.cfg.HTTPClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxJWKSBytes))
		return nil, fmt.Errorf("jwks: HTTP %d", resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSBytes+1))
	if err != nil {
		return nil, err
	}
	if len(body) > maxJWKSBytes {
		return nil, errors.New("jwks: document too large")
	}
	return parseJWKS(body)
}

type rawJWK struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Use string `json:"use"`
	Alg string `json:"alg"`
	Crv string `json:"crv"`
	N   string `json:"n"`
	E   string `json:"e"`
	X   string `json:"x"`
	Y   string `json:"y"`
}

// parseJWKS decodes a JWK Set. Keys it cannot use (symmetric "oct",
// encryption keys, unknown curves, small RSA) are skipped; a set with no
// usable key is an error.
func parseJWKS(body []byte) (map[string]jwk, error) {
	var doc struct {
		Keys []rawJWK `json:"keys"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, fmt.Errorf("jwks: %w", err)
	}
	out := make(map[string]jwk, len(doc.Keys))
	for _, r := range doc.Keys {
		if r.Use != "" && r.Use != "sig" {
			continue
		}
		key, err := r.publicKey()
		if err != nil {
			continue
		}
		fam, err := keyFamily(key)
		if err != nil {
			continue
		}
		out[r.Kid] = jwk{key: key, alg: r.Alg, fam: fam}
	}
	if len(out) == 0 {
		return nil, errors.New("jwks: no usable signing key")
	}
	return out, nil
}

func b64(s string) ([]byte, error) { return base64.RawURLEncoding.DecodeString(s) }

func (r rawJWK) publicKey() (crypto.PublicKey, error) {
	switch r.Kty {
	case "RSA":
		n, err := b64(r.N)
		if err != nil {
			return nil, err
		}
		e, err := b64(r.E)
		if err != nil || len(e) == 0 || len(e) > 4 {
			return nil, errors.New("bad RSA exponent")
		}
		exp := int(new(big.Int).SetBytes(e).Int64())
		return &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: exp}, nil
	case "EC":
		var curve elliptic.Curve
		switch r.Crv {
		case "P-256":
			curve = elliptic.P256()
		case "P-384":
			curve = elliptic.P384()
		case "P-521":
			curve = elliptic.P521()
		default:
			return nil, errors.New("unsupported curve")
		}
		x, err := b64(r.X)
		if err != nil {
			return nil, err
		}
		y, err := b64(r.Y)
		if err != nil {
			return nil, err
		}
		size := (curve.Params().BitSize + 7) / 8
		if len(x) != size || len(y) != size {
			return nil, errors.New("bad EC coordinates")
		}
		// Validate the point via the uncompressed encoding.
		raw := append(append([]byte{4}, x...), y...)
		return ecdsa.ParseUncompressedPublicKey(curve, raw)
	case "OKP":
		if r.Crv != "Ed25519" {
			return nil, errors.New("unsupported OKP curve")
		}
		x, err := b64(r.X)
		if err != nil || len(x) != ed25519.PublicKeySize {
			return nil, errors.New("bad Ed25519 key")
		}
		return ed25519.PublicKey(x), nil
	}
	return nil, errors.New("unsupported kty")
}

func verificationKeySet(keys []any) jwt.VerificationKeySet {
	set := jwt.VerificationKeySet{Keys: make([]jwt.VerificationKey, len(keys))}
	for i, k := range keys {
		set.Keys[i] = k
	}
	return set
}
