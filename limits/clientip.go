package limits

import (
	"net/http"
	"net/netip"
	"strings"
)

// ClientIP returns the client address of a request that arrived from
// remoteAddr ("host:port" or a bare address) with header.
//
// Forwarding headers are believed only when the TCP peer is in
// trustedProxies. Then the hops of X-Forwarded-For (or, when the request
// has none, of Forwarded's for= parameters) are walked right to left,
// skipping trusted proxies; the first untrusted hop is the client. A
// malformed or obfuscated hop ends the walk and the last trusted hop is
// returned, so a client can never choose its own address by writing to
// the left of what the proxy appended. If every hop is trusted the
// leftmost is returned. IPv4-mapped IPv6 addresses are unmapped and
// zones dropped. The zero Addr means remoteAddr did not parse.
func ClientIP(remoteAddr string, header http.Header, trustedProxies []netip.Prefix) netip.Addr {
	return clientIP(remoteAddr, header, trustedProxies, "")
}

func clientIP(remoteAddr string, header http.Header, trusted []netip.Prefix, proxyHeader string) netip.Addr {
	peer, ok := parseHop(remoteAddr)
	if !ok {
		return netip.Addr{}
	}
	if !isTrusted(peer, trusted) {
		return peer
	}
	var hops []string
	switch proxyHeader {
	case "X-Forwarded-For":
		hops = xffHops(header)
	case "Forwarded":
		hops = forwardedHops(header)
	default:
		if hops = xffHops(header); hops == nil {
			hops = forwardedHops(header)
		}
	}
	last := peer
	for i := len(hops) - 1; i >= 0; i-- {
		hop, ok := parseHop(hops[i])
		if !ok {
			return last
		}
		if !isTrusted(hop, trusted) {
			return hop
		}
		last = hop
	}
	return last
}

func isTrusted(a netip.Addr, trusted []netip.Prefix) bool {
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func xffHops(h http.Header) []string {
	var hops []string
	for _, line := range h.Values("X-Forwarded-For") {
		for part := range strings.SplitSeq(line, ",") {
			hops = append(hops, strings.TrimSpace(part))
		}
	}
	return hops
}

// forwardedHops extracts the for= values of RFC 7239 Forwarded headers,
// one per forwarded-element, in order. An element without for= yields an
// empty hop (which ends the walk).
func forwardedHops(h http.Header) []string {
	var hops []string
	for _, line := range h.Values("Forwarded") {
		for elem := range strings.SplitSeq(line, ",") {
			hop := ""
			for pair := range strings.SplitSeq(elem, ";") {
				k, v, ok := strings.Cut(strings.TrimSpace(pair), "=")
				if ok && strings.EqualFold(k, "for") {
					hop = strings.Trim(strings.TrimSpace(v), `"`)
				}
			}
			hops = append(hops, hop)
		}
	}
	return hops
}

// parseHop parses "1.2.3.4", "1.2.3.4:80", "::1", "[::1]", "[::1]:80".
func parseHop(s string) (netip.Addr, bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return netip.Addr{}, false
	}
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Unmap().WithZone(""), true
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap().WithZone(""), true
	}
	if strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") {
		if a, err := netip.ParseAddr(s[1 : len(s)-1]); err == nil {
			return a.Unmap().WithZone(""), true
		}
	}
	return netip.Addr{}, false
}
