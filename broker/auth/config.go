package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"
)

// Config describes how tokens are found and verified. At least one of
// Secret, PublicKeyFile, PublicKey or JWKSURL must be set.
type Config struct {
	// Secret is the HMAC key for HS256/HS384/HS512. Empty disables HMAC.
	Secret []byte
	// PublicKeyFile is a PEM file holding one RSA, ECDSA or Ed25519 public
	// key (PKIX "PUBLIC KEY", PKCS#1 "RSA PUBLIC KEY" or a certificate).
	// Empty means none.
	PublicKeyFile string
	// PublicKey is an already parsed *rsa.PublicKey, *ecdsa.PublicKey or
	// ed25519.PublicKey; it takes the place of PublicKeyFile (set one).
	PublicKey crypto.PublicKey
	// JWKSURL is fetched with HTTPClient, cached for JWKSCacheTTL and
	// refetched when a token names an unknown "kid" (at most once per
	// JWKSMinRefresh). Empty disables JWKS.
	JWKSURL string
	// HTTPClient fetches JWKSURL. Nil means a client with a 10 s timeout.
	HTTPClient *http.Client
	// JWKSCacheTTL is how long fetched keys are used before a refetch on
	// the next verification. Zero means 1 hour.
	JWKSCacheTTL time.Duration
	// JWKSMinRefresh is the minimum time between two fetches, whatever the
	// reason (unknown kid floods cannot hammer the endpoint). Zero means
	// 30 s; negative means no minimum (tests).
	JWKSMinRefresh time.Duration

	// Algorithms pins the accepted "alg" values, e.g. ["RS256"]. Empty
	// means derived from the keys: HS256 for Secret, RS256 for an RSA key,
	// ES256/ES384/ES512 by curve for ECDSA, EdDSA for Ed25519 and RS256
	// for JWKS. Each entry must match a configured key type; "none" is
	// refused.
	Algorithms []string

	// Cookie is the cookie name read by ExtractToken. Empty means "token".
	Cookie string
	// DisableCookie stops ExtractToken from reading the cookie.
	DisableCookie bool
	// QueryParam is the query parameter read by ExtractToken. Empty
	// disables it (tokens in URLs end up in access logs).
	QueryParam string

	// UserClaim names the claim holding the user ID. Empty means "sub".
	UserClaim string
	// NameClaim names the display-name claim. Empty means "name".
	NameClaim string
	// RolesClaim names the roles claim: a list of strings or one string
	// separated by spaces and/or commas. Empty means "roles".
	RolesClaim string

	// Issuer, when set, must equal the "iss" claim.
	Issuer string
	// Audience, when set, must appear in the "aud" claim.
	Audience string
	// Leeway is the allowed clock skew for exp, nbf and iat. Zero means
	// 30 s; set DisableLeeway for none.
	Leeway time.Duration
	// DisableLeeway makes exp, nbf and iat exact.
	DisableLeeway bool
	// AllowNoExpiry accepts tokens without "exp". Zero (false) refuses them.
	AllowNoExpiry bool
	// MaxTokenBytes refuses longer tokens before parsing. Zero means 8 KiB.
	MaxTokenBytes int

	// Now is the clock. Nil means time.Now.
	Now func() time.Time
}

func (c Config) withDefaults() Config {
	if c.Cookie == "" {
		c.Cookie = "token"
	}
	if c.UserClaim == "" {
		c.UserClaim = "sub"
	}
	if c.NameClaim == "" {
		c.NameClaim = "name"
	}
	if c.RolesClaim == "" {
		c.RolesClaim = "roles"
	}
	if c.Leeway == 0 && !c.DisableLeeway {
		c.Leeway = 30 * time.Second
	}
	if c.DisableLeeway {
		c.Leeway = 0
	}
	if c.MaxTokenBytes == 0 {
		c.MaxTokenBytes = 8 << 10
	}
	if c.JWKSCacheTTL == 0 {
		c.JWKSCacheTTL = time.Hour
	}
	if c.JWKSMinRefresh == 0 {
		c.JWKSMinRefresh = 30 * time.Second
	}
	if c.HTTPClient == nil {
		c.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// loadPublicKey reads and parses the PEM file.
func loadPublicKey(path string) (crypto.PublicKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("auth: read public key: %w", err)
	}
	return ParsePublicKeyPEM(data)
}

// ParsePublicKeyPEM parses the first PEM block of data as an RSA, ECDSA
// or Ed25519 public key (PKIX, PKCS#1 or X.509 certificate).
func ParsePublicKeyPEM(data []byte) (crypto.PublicKey, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("auth: public key: no PEM block")
	}
	var (
		key crypto.PublicKey
		err error
	)
	switch block.Type {
	case "PUBLIC KEY":
		key, err = x509.ParsePKIXPublicKey(block.Bytes)
	case "RSA PUBLIC KEY":
		key, err = x509.ParsePKCS1PublicKey(block.Bytes)
	case "CERTIFICATE":
		var cert *x509.Certificate
		cert, err = x509.ParseCertificate(block.Bytes)
		if err == nil {
			key = cert.PublicKey
		}
	default:
		return nil, fmt.Errorf("auth: public key: unsupported PEM type %q (private keys are refused)", block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("auth: public key: %w", err)
	}
	if _, err := keyFamily(key); err != nil {
		return nil, err
	}
	return key, nil
}

// keyFamily names the algorithms a public key may verify.
func keyFamily(key crypto.PublicKey) ([]string, error) {
	switch k := key.(type) {
	case *rsa.PublicKey:
		if k.N.BitLen() < 2048 {
			return nil, fmt.Errorf("auth: RSA key of %d bits is too small (minimum 2048)", k.N.BitLen())
		}
		return []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}, nil
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			return []string{"ES256"}, nil
		case elliptic.P384():
			return []string{"ES384"}, nil
		case elliptic.P521():
			return []string{"ES512"}, nil
		}
		return nil, errors.New("auth: unsupported ECDSA curve")
	case ed25519.PublicKey:
		return []string{"EdDSA"}, nil
	}
	return nil, fmt.Errorf("auth: unsupported public key type %T", key)
}

// isHMAC reports whether alg is an HMAC algorithm.
func isHMAC(alg string) bool { return strings.HasPrefix(alg, "HS") }

// defaultAlgorithm is the single algorithm derived for a key.
func defaultAlgorithm(key crypto.PublicKey) string {
	fam, _ := keyFamily(key)
	if len(fam) == 0 {
		return ""
	}
	return fam[0]
}

var knownAlgorithms = []string{
	"HS256", "HS384", "HS512",
	"RS256", "RS384", "RS512",
	"PS256", "PS384", "PS512",
	"ES256", "ES384", "ES512",
	"EdDSA",
}

// resolveAlgorithms derives or validates the pinned algorithms.
func resolveAlgorithms(c Config, key crypto.PublicKey) ([]string, error) {
	if len(c.Algorithms) == 0 {
		var algs []string
		if len(c.Secret) > 0 {
			algs = append(algs, "HS256")
		}
		if key != nil {
			algs = append(algs, defaultAlgorithm(key))
		}
		if c.JWKSURL != "" && !slices.Contains(algs, "RS256") {
			algs = append(algs, "RS256")
		}
		return algs, nil
	}
	var keyAlgs []string
	if key != nil {
		keyAlgs, _ = keyFamily(key)
	}
	out := make([]string, 0, len(c.Algorithms))
	for _, alg := range c.Algorithms {
		switch {
		case strings.EqualFold(alg, "none"):
			return nil, errors.New(`auth: algorithm "none" is never accepted`)
		case !slices.Contains(knownAlgorithms, alg):
			return nil, fmt.Errorf("auth: unknown algorithm %q", alg)
		case isHMAC(alg):
			if len(c.Secret) == 0 {
				return nil, fmt.Errorf("auth: algorithm %s needs Secret (an HMAC algorithm is never checked against a public key)", alg)
			}
		default:
			if c.JWKSURL == "" && !slices.Contains(keyAlgs, alg) {
				return nil, fmt.Errorf("auth: algorithm %s does not match the configured public key", alg)
			}
		}
		if !slices.Contains(out, alg) {
			out = append(out, alg)
		}
	}
	return out, nil
}
