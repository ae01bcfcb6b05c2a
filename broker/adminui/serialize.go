package adminui

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"strings"

	"github.com/ionbus/ionbus/broker"
)

// hiddenHeaders never reach the UI, as in broker/api's socket list:
// they carry credentials.
var hiddenHeaders = map[string]bool{"cookie": true, "authorization": true, "proxy-authorization": true}

// serialize is upstream's serialize(socket): the shape the UI's socket,
// client and room views read. Unlike upstream it leaves out what carries
// credentials: the Cookie and Authorization headers, the query (a token
// may be a query parameter) and the URL with it; the auth payload is
// never sent by either.
func serialize(s *broker.Socket) map[string]any {
	hs := s.Handshake()
	headers := map[string]string{}
	for k, v := range hs.Headers() {
		k = strings.ToLower(k)
		if len(v) > 0 && !hiddenHeaders[k] {
			headers[k] = v[0]
		}
	}
	address := hs.Address
	for _, h := range []string{"cf-connecting-ip", "x-forwarded-for"} {
		if v := headers[h]; v != "" {
			address = v
			break
		}
	}
	return map[string]any{
		"id":        s.ID(),
		"clientId":  clientID(s.Conn().ID()),
		"transport": s.Transport(),
		"nsp":       s.Namespace().Name(),
		"data":      socketData(s.Data()),
		"handshake": map[string]any{
			"address": address,
			"headers": headers,
			"query":   map[string]string{},
			"issued":  hs.Time.UnixMilli(),
			"secure":  hs.Secure,
			// Date.prototype.toString, as the reference's handshake.time.
			"time":    hs.Time.UTC().Format("Mon Jan 02 2006 15:04:05 GMT-0700 (Coordinated Universal Time)"),
			"url":     "",
			"xdomain": hs.XDomain,
		},
		"rooms": s.Rooms(),
	}
}

// clientID names the socket's Engine.IO session in the UI (its Clients
// view groups sockets by it). Upstream shows the first 12 characters of
// the session id, which authenticates polling requests; a digest shows
// nothing of it.
func clientID(sid string) string {
	sum := sha256.Sum256([]byte(sid))
	return base64.RawURLEncoding.EncodeToString(sum[:9])
}

// socketData is the socket's application data as the UI shows it: {}
// when unset or when it does not marshal to JSON.
func socketData(v any) any {
	if v == nil {
		return map[string]any{}
	}
	raw, err := json.Marshal(v)
	if err != nil {
		return map[string]any{}
	}
	return json.RawMessage(raw)
}
