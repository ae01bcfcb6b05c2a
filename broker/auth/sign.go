package auth

import (
	"errors"
	"fmt"
	"strings"

	"github.com/golang-jwt/jwt/v5"
)

// Sign mints a token with claims signed by key using method ("HS256",
// "RS256", "ES256", "EdDSA", ...). key is a []byte secret for HMAC or the
// matching private key. Meant for tests and the `ionbus token` development
// command; "none" is refused.
func Sign(claims map[string]any, method string, key any) (string, error) {
	return SignWithKeyID(claims, method, "", key)
}

// SignWithKeyID is Sign with a "kid" header (omitted when kid is empty).
func SignWithKeyID(claims map[string]any, method, kid string, key any) (string, error) {
	if strings.EqualFold(method, "none") {
		return "", errors.New(`auth: sign: algorithm "none" refused`)
	}
	m := jwt.GetSigningMethod(method)
	if m == nil {
		return "", fmt.Errorf("auth: sign: unknown method %q", method)
	}
	t := jwt.NewWithClaims(m, jwt.MapClaims(claims))
	if kid != "" {
		t.Header["kid"] = kid
	}
	s, err := t.SignedString(key)
	if err != nil {
		return "", fmt.Errorf("auth: sign: %w", err)
	}
	return s, nil
}
