package presence

import "strconv"

// Redis key names. lua/common.lua builds the same names; TestKeyNames pins
// both. The base is a hash tag so every key shares one Cluster slot.

func keyBase(prefix string) string { return "{" + prefix + "}" }

// roomKey: kind "m" (member ZSET) or "h" (member data HASH). The namespace is
// length-prefixed so "/a" + "b:c" and "/a:b" + "c" cannot collide.
func roomKey(base, kind, ns, room string) string {
	return base + ":" + kind + ":" + strconv.Itoa(len(ns)) + ":" + ns + ":" + room
}

func heartbeatKey(base, node string) string { return base + ":hb:" + node }

func nodeConnsKey(base, node string) string { return base + ":conns:" + node }

func nodesKey(base string) string { return base + ":nodes" }
