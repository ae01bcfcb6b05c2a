package limits

import "net/netip"

// Key names: the one place that builds them (golden-tested).

// UserSlotKey is the Slots key of a user's connections.
func UserSlotKey(userID string) string { return "user:" + userID }

// IPSlotKey is the Slots key of a client address's connections.
func IPSlotKey(ip string) string { return "ip:" + ip }

// connectRateKey is the Rate key of connection attempts from one client IP key.
func connectRateKey(ip string) string { return "connect:ip:" + ip }

// messageRateKey is the Rate key of messages from one subject.
func messageRateKey(subject string) string { return "msg:" + subject }

// ipKey turns addr into the per-IP key: IPv4 (and IPv4-mapped IPv6) as
// the address, IPv6 as its /bits network.
func ipKey(addr netip.Addr, bits int) string {
	addr = addr.Unmap()
	if addr.Is6() && bits < 128 {
		p, err := addr.WithZone("").Prefix(bits)
		if err == nil {
			return p.String()
		}
	}
	return addr.WithZone("").String()
}

// redisNames builds every Redis key of one KeyPrefix. Slot-related keys
// share the hash tag "{prefix}" so a Lua script may touch them together
// in Redis Cluster; rate keys do not, to spread load.
type redisNames struct {
	tag string // "{prefix}:"
	raw string // "prefix:"
}

func newRedisNames(prefix string) redisNames {
	return redisNames{tag: "{" + prefix + "}:", raw: prefix + ":"}
}

// slots is the hash of slotID -> owner node of one limit key.
func (n redisNames) slots(key string) string { return n.tag + "slots:" + key }

// nodePrefix + nodeID is a node's heartbeat key (string, TTL NodeTTL).
func (n redisNames) nodePrefix() string { return n.tag + "node:" }

// nodeSlotsPrefix + nodeID is the set of "<slots hash>\n<slotID>" a node owns.
func (n redisNames) nodeSlotsPrefix() string { return n.tag + "nodeslots:" }

// nodes is the set of node IDs that may own slots.
func (n redisNames) nodes() string { return n.tag + "nodes" }

// rate is the GCRA state (theoretical arrival time, µs) of one key.
func (n redisNames) rate(key string) string { return n.raw + "rate:" + key }

// window is the sliding-window state (hash of bucket end µs -> count) of
// one key. Distinct from rate so that switching algorithms never reads
// the other's state (nor hits WRONGTYPE).
func (n redisNames) window(key string) string { return n.raw + "window:" + key }
