package auth

import (
	"net/http"
	"net/url"
	"strings"
)

// Source says where ExtractToken found a token. The values are stable
// (used as metric labels).
type Source uint8

const (
	SourceNone   Source = 0
	SourceAuth   Source = 1 // CONNECT auth payload, key "token"
	SourceHeader Source = 2 // Authorization: Bearer
	SourceCookie Source = 3 // cookie named Config.Cookie; needs CSRF/Origin checks
	SourceQuery  Source = 4 // query parameter Config.QueryParam
)

func (s Source) String() string {
	switch s {
	case SourceNone:
		return "none"
	case SourceAuth:
		return "auth"
	case SourceHeader:
		return "header"
	case SourceCookie:
		return "cookie"
	case SourceQuery:
		return "query"
	}
	return "unknown"
}

// TokenSources is what a client may carry a token in. Any field may be nil.
type TokenSources struct {
	// Auth is the Socket.IO CONNECT auth payload; its "token" string is read.
	Auth map[string]any
	// Header is the Engine.IO handshake request's header.
	Header http.Header
	// Query is the handshake request's query.
	Query url.Values
}

// ExtractToken returns the first non-empty token, in this order: the
// CONNECT auth "token", the Authorization Bearer header, the cookie
// cfg.Cookie (unless cfg.DisableCookie), the query parameter
// cfg.QueryParam (only when set). It returns ("", SourceNone) when there
// is none. Defaults of cfg apply (cookie "token").
func ExtractToken(src TokenSources, cfg Config) (token string, from Source) {
	return extractToken(src, cfg.withCookieDefault())
}

func (c Config) withCookieDefault() Config {
	if c.Cookie == "" {
		c.Cookie = "token"
	}
	return c
}

func extractToken(src TokenSources, cfg Config) (string, Source) {
	if t, ok := src.Auth["token"].(string); ok && t != "" {
		return t, SourceAuth
	}
	for _, h := range src.Header.Values("Authorization") {
		scheme, rest, ok := strings.Cut(strings.TrimSpace(h), " ")
		if ok && strings.EqualFold(scheme, "Bearer") {
			if t := strings.TrimSpace(rest); t != "" {
				return t, SourceHeader
			}
		}
	}
	if !cfg.DisableCookie {
		for _, line := range src.Header.Values("Cookie") {
			// Parsed by hand: one malformed cookie of another application
			// must not hide ours (http.ParseCookie rejects the whole line).
			for part := range strings.SplitSeq(line, ";") {
				name, value, ok := strings.Cut(strings.TrimSpace(part), "=")
				if !ok || name != cfg.Cookie {
					continue
				}
				value = strings.Trim(value, `"`)
				if value != "" {
					return value, SourceCookie
				}
			}
		}
	}
	if cfg.QueryParam != "" {
		if t := src.Query.Get(cfg.QueryParam); t != "" {
			return t, SourceQuery
		}
	}
	return "", SourceNone
}
