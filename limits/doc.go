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
//     messages per user), with the two algorithms below.
//   - Rate, algorithm "window" (MemoryWindowRate, RedisWindowRate): a sliding-window
//     counter. "N per W" means at most N events in ANY interval of length
//     W. The window is split into buckets of W/60 (at least 1 ms); a key
//     keeps one count per bucket. Allow at time t sums the buckets that
//     end after t-W, admits if the sum is under N and counts the event in
//     the bucket holding t. Proof: an event at time e sits in a bucket
//     ending after e, so every event admitted in [t-W, t] is in that sum;
//     had N of them been admitted, the one at t would have been refused.
//     It is conservative by at most one bucket: a refusal at t means N
//     events were admitted in (t-W-W/60, t]. After a burst of N, the next
//     event waits the whole window (plus up to one bucket), however long
//     the pause. Decision.ResetAt is when the newest counted bucket leaves
//     the window; RetryAfter when enough of the oldest have left for one
//     more. Memory per key: at most about 62 counts; idle keys are
//     forgotten once their newest bucket has left the window (memory:
//     swept; Redis: TTL). Redis: one hash per key, one round trip (a Lua
//     script that keeps a running sum and deletes buckets as they leave),
//     cluster-wide, on the Redis server's clock. The intended default
//     ("limits.rate_algorithm: window").
//   - Rate, algorithm "gcra" (MemoryRate, RedisRate): the generic cell rate algorithm,
//     for smooth refill ("limits.rate_algorithm: gcra"). N per W admits
//     a burst of N, then one event every W/N, so a client sending as fast
//     as it may gets up to about 2N through in the first window (the
//     burst plus W/(W/N) refills) and N per window after that. One
//     timestamp of state per key; never the fixed-window double burst at
//     a boundary. Idle keys are forgotten once fully replenished.
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
// Clocks: the window algorithm on Redis uses the Redis server's clock
// (TIME inside the script), so nodes with skewed clocks share one window;
// Config.Now only turns the reply's relative times into
// Decision.ResetAt. GCRA on Redis uses Config.Now on the calling node
// (the script receives "now" as an argument), so nodes must be
// NTP-synced; skew of s shifts a key's window by at most s. The memory
// backends use the clock they are given. Node liveness uses Redis TTLs,
// i.e. the Redis server's clock.
//
// Goroutine safety: every exported type is safe for concurrent use.
// MemorySlots holds one mutex; MemoryRate and MemoryWindowRate hold one
// mutex per shard; no I/O happens under any of them. RedisSlots.Run is the only goroutine the
// package needs, started by the caller.
//
// This is a leaf package: it imports neither broker nor connection.
package limits
