package wire

// Name is a Redis channel or key the adapter and emitter use.
type Name uint8

const (
	// ChanBroadcast is "<key>#<ns>#": classic broadcasts to several or no
	// rooms; in sharded mode every cluster message of the namespace.
	ChanBroadcast Name = 1
	// ChanBroadcastPattern is "<key>#<ns>#*", the classic PSUBSCRIBE pattern.
	ChanBroadcastPattern Name = 2
	// ChanRoom is "<key>#<ns>#<room>#": a broadcast to exactly one room
	// (classic), the dynamic channel of a room (sharded), or in sharded
	// mode the response channel of node <room>.
	ChanRoom Name = 3
	// ChanRequest is "<key>-request#<ns>#" (classic requests).
	ChanRequest Name = 4
	// ChanResponse is "<key>-response#<ns>#" (classic responses).
	ChanResponse Name = 5
	// ChanNodeResponse is "<key>-response#<ns>#<uid>#".
	ChanNodeResponse Name = 6
	// KeyHeartbeat is "<key>-node#<uid>", the liveness key of an ionbus node.
	KeyHeartbeat Name = 7
	// KeyNodes is "<key>-nodes", a sorted set of ionbus node uids scored by
	// the unix milliseconds at which each node's liveness lapses.
	KeyNodes Name = 8
)

// Channel builds every Redis channel and key name. arg is the room, node
// uid, or unused, depending on name.
func Channel(name Name, key, ns, arg string) string {
	switch name {
	case ChanBroadcast:
		return key + "#" + ns + "#"
	case ChanBroadcastPattern:
		return key + "#" + ns + "#*"
	case ChanRoom:
		return key + "#" + ns + "#" + arg + "#"
	case ChanRequest:
		return key + "-request#" + ns + "#"
	case ChanResponse:
		return key + "-response#" + ns + "#"
	case ChanNodeResponse:
		return key + "-response#" + ns + "#" + arg + "#"
	case KeyHeartbeat:
		return key + "-node#" + arg
	case KeyNodes:
		return key + "-nodes"
	}
	panic("wire: unknown channel name")
}
