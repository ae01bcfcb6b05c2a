// Package limits is ionbus's admission and rate control, as pure logic
// with an injected clock and two backends.
//
// Three contracts, each with a memory implementation (one node) and a
// Redis implementation (cluster-wide):
//
//   - Slots: concurrent connection slots per key ("user:<id>",
//     "ip:<addr>"). Acquire is atomic across all the keys of one call: if
//     any key is full nothing is taken and the Decision names the key.
//     The Redis backend (RedisSlots) is crash-safe: every slot is owned
//     by a node ID, each node refreshes a heartbeat key with a TTL of
//     Config.NodeTTL from RedisSlots.Run, and slots of a node whose
//     heartbeat lapsed are reclaimed lazily inside Acquire (when a key is
//     full) and by a periodic sweep in Run. A crashed node's slots are
//     therefore usable again at most NodeTTL after its last heartbeat.
//     The other way round: when Redis loses a live node's slots (restart
//     without persistence, failover to an empty replica, or the node's own
//     heartbeat lapsed and its slots were swept), the node's next
//     heartbeat finds its heartbeat value gone and returns ErrLapsed; Run
//     then calls the RedisSlots.SetOnLapsed function, whose owner (the
//     broker's access.Guard) puts the live sessions' slots back with
//     Limiter.RestoreConnections — forced, even above a limit (a
//     connection admitted while the slots were missing is not kicked; new
//     ones are refused until the count is under the limit again). The
//     limit therefore holds again within NodeTTL/3 of Redis answering, or
//     sooner: an Acquire that finds the node's heartbeat key missing makes
//     Run beat at once.
//   - Rate: events per key per window (connection attempts per IP,
//     messages per user), using GCRA (generic cell rate algorithm): a
//     limit of N per window W lets a burst of N through, then one event
//     every W/N. It is a sliding window with one timestamp of state per
//     key, never the fixed-window double burst at a boundary. Idle keys
//     are forgotten once fully replenished (memory: swept; Redis: TTL).
//   - Limiter: the policy the broker calls (AcquireConnection,
//     AllowConnectAttempt, AllowMessage, AllowJoin, ClientIP), built from
//     Config, that names refusals with a Reason and counts them (Stats).
//
// Redis layout (all names built in keys.go): slot hashes, node heartbeat
// keys, per-node slot sets and the node registry share the hash tag
// "{<KeyPrefix>}" so that one Lua script may touch them atomically in
// Redis Cluster; rate keys are untagged and spread over the cluster.
// Scripts live in lua/*.lua; their headers describe KEYS and ARGV.
//
// Clocks: rate decisions use Config.Now on the calling node (the Redis
// script receives "now" as an argument), so nodes must be NTP-synced;
// skew of s shifts a key's window by at most s. Node liveness uses Redis
// TTLs, i.e. the Redis server's clock.
//
// Goroutine safety: every exported type is safe for concurrent use.
// MemorySlots holds one mutex; MemoryRate holds one mutex per shard; no
// I/O happens under either. RedisSlots.Run is the only goroutine the
// package needs, started by the caller.
//
// This is a leaf package: it imports neither broker nor connection.
package limits
