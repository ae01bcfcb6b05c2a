package auth

import (
	"errors"
	"fmt"
)

var (
	// ErrNoToken: no token was presented. Maps to AUTH_REQUIRED.
	ErrNoToken = errors.New("auth: no token")
	// ErrInvalidToken: the token is malformed, badly signed, uses an
	// algorithm that is not pinned, is not yet valid, names the wrong
	// issuer or audience, or lacks the user claim. Maps to
	// AUTH_INVALID_SESSION.
	ErrInvalidToken = errors.New("auth: invalid token")
	// ErrExpired: the token's exp is in the past (beyond Leeway). It
	// matches errors.Is(err, ErrInvalidToken) as well.
	ErrExpired = fmt.Errorf("%w: expired", ErrInvalidToken)
	// ErrKeyUnavailable: the verification key could not be obtained
	// (JWKS endpoint unreachable or returned garbage). This is the
	// server's fault, not the client's; it does not match ErrInvalidToken.
	ErrKeyUnavailable = errors.New("auth: verification key unavailable")
)

// invalid wraps ErrInvalidToken with a reason for logs.
func invalid(reason string, cause error) error {
	if cause != nil {
		return fmt.Errorf("%w: %s: %w", ErrInvalidToken, reason, cause)
	}
	return fmt.Errorf("%w: %s", ErrInvalidToken, reason)
}
