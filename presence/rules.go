package presence

import (
	"regexp"
	"strings"
)

// PatternRules are the Rules of every namespace whose name matches
// Namespace (dynamic namespaces, e.g. ^/tenant-.+$).
type PatternRules struct {
	Namespace *regexp.Regexp
	Rules     Rules
}

// Rules say what presence a namespace records.
type Rules struct {
	// Namespace records namespace-wide presence under the room NamespaceRoom
	// (""): who is connected to the namespace at all.
	Namespace bool
	// Rooms are patterns of the rooms to track. "*" matches any run of bytes
	// (including none); "{user}" is replaced by the connecting user's id and
	// matched literally, so "user_{user}_*" tracks only the user's own rooms.
	// Everything else is literal. Empty: no room is tracked.
	Rooms []string
}

// Match reports whether room is tracked for userID. The namespace room ("")
// matches when Namespace is set.
func (r Rules) Match(room, userID string) bool {
	if room == NamespaceRoom {
		return r.Namespace
	}
	for _, p := range r.Rooms {
		if matchPattern(p, room, userID) {
			return true
		}
	}
	return false
}

// matchPattern is a glob with "*" only, after substituting "{user}". The
// substituted id is literal even if it contains "*".
func matchPattern(pattern, s, userID string) bool {
	parts := strings.Split(pattern, "*")
	for i, p := range parts {
		parts[i] = strings.ReplaceAll(p, "{user}", userID)
	}
	if len(parts) == 1 {
		return parts[0] == s
	}
	if !strings.HasPrefix(s, parts[0]) {
		return false
	}
	s = s[len(parts[0]):]
	last := parts[len(parts)-1]
	for _, p := range parts[1 : len(parts)-1] {
		i := strings.Index(s, p)
		if i < 0 {
			return false
		}
		s = s[i+len(p):]
	}
	return len(s) >= len(last) && strings.HasSuffix(s, last)
}
