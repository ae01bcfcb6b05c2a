package bridge

import (
	"errors"
	"strings"
)

// Redis key names. The Lua scripts build the per-node names of other
// nodes from the same base (lua/sweep.lua); TestKeyNames pins both.
//
// Every key of the bridge and the lifecycle stream share one Redis
// Cluster slot, so each script touches one slot: the base carries the
// hash tag of the lifecycle stream key (the stream's own tag when it has
// one, else the whole key, which Redis hashes the same way).
//
//	<prefix>:{<tag>}:hb:<node>       STRING heartbeat, PX NodeTTL ("b"; "1" when a write created it)
//	<prefix>:{<tag>}:nodes           SET    nodes that own a sockets hash
//	<prefix>:{<tag>}:sockets:<node>  HASH   sid -> {"namespace","sid","user","tag"}
//	<prefix>:{<tag>}:users           HASH   <len(ns)>:<ns>:<user> -> live sockets on the cluster
type keys struct {
	base    string
	stream  string
	hb      string
	nodes   string
	sockets string
	users   string
}

func newKeys(prefix, stream, node string) keys {
	tag, _ := hashTag(stream) // validated by Config.validate
	base := prefix + ":{" + tag + "}"
	return keys{
		base:    base,
		stream:  stream,
		hb:      base + ":hb:" + node,
		nodes:   base + ":nodes",
		sockets: base + ":sockets:" + node,
		users:   base + ":users",
	}
}

// hashTag returns what Redis Cluster hashes for key: the text between the
// first '{' and the next '}' when it is not empty, else the whole key.
// Keys whose braces Redis would hash partially in a way a tag cannot
// reproduce ("a{}b", "a{b") are refused.
func hashTag(key string) (string, error) {
	open := strings.IndexByte(key, '{')
	if open < 0 {
		if strings.IndexByte(key, '}') >= 0 {
			return "", errors.New("a '}' without '{'")
		}
		return key, nil
	}
	end := strings.IndexByte(key[open+1:], '}')
	if end <= 0 {
		return "", errors.New("braces must enclose a non-empty Redis Cluster hash tag, as in {app}:lifecycle")
	}
	return key[open+1 : open+1+end], nil
}
