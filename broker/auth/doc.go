// Package auth turns a JWT presented by a Socket.IO client into an
// Identity the broker can authorise against.
//
// Who calls it: the broker's CONNECT middleware. It calls ExtractToken
// with the CONNECT auth payload, the handshake headers and the query,
// then Verifier.Verify. The broker maps the sentinel errors to
// client-facing codes:
//
//	ErrNoToken                 -> AUTH_REQUIRED
//	ErrInvalidToken, ErrExpired -> AUTH_INVALID_SESSION
//	ErrKeyUnavailable          -> server-side failure (JWKS unreachable);
//	                              refuse the connection, log and count it
//
// ErrExpired matches errors.Is(err, ErrInvalidToken), so a caller that
// only cares about "bad token" needs one check.
//
// Security model: the accepted algorithms are pinned (Config.Algorithms,
// derived from the configured key type when empty); a token's "alg"
// header only selects among them. "none" is never accepted, an HMAC
// algorithm is only ever checked against Config.Secret and an asymmetric
// one only against a public key of the matching type, so an RSA public key
// can never be used as an HMAC secret (algorithm confusion). Tokens must
// carry "exp" unless Config.AllowNoExpiry is set; "nbf" and "iat" are
// checked with Config.Leeway.
//
// Cookie-sourced tokens are sent by browsers automatically; the broker
// must apply its Origin/CSRF checks when ExtractToken reports
// SourceCookie.
//
// Goroutine safety: a Verifier is safe for concurrent use. The JWKS cache
// is guarded by one mutex; fetches happen outside it and are collapsed so
// that at most one request is in flight.
//
// This is a leaf package: it imports neither broker nor connection.
package auth
