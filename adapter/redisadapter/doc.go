// Package redisadapter is the Redis implementation of adapter.Adapter. It
// is wire-compatible with @socket.io/redis-adapter v8, so ionbus nodes and
// Node.js socket.io servers (and @socket.io/redis-emitter publishers) form
// one cluster on one Redis.
//
// # Modes
//
//   - ModeClassic (createAdapter): PSUBSCRIBE "<key>#<ns>#*" for broadcasts
//     (a broadcast to exactly one room travels on "<key>#<ns>#<room>#"),
//     plain SUBSCRIBE of "<key>-request#<ns>#", "<key>-response#<ns>#" and
//     "<key>-response#<ns>#<uid>#". Broadcasts are notepack msgpack
//     [uid, packet, opts]; requests and responses JSON, broadcast-with-ack
//     msgpack. Node servers count the cluster with PUBSUB NUMSUB of the
//     request channel, which is why it is a plain subscription.
//   - ModeSharded (createShardedAdapter): SSUBSCRIBE/SPUBLISH, ClusterAdapter
//     messages {type, data, uid, nsp} (JSON, msgpack when binary), channels
//     "<key>#<ns>#" and "<key>#<ns>#<room>#"; subscription modes static,
//     dynamic, dynamic-private. The cluster size is PUBSUB SHARDNUMSUB.
//   - ModeRoom (ionbus): the classic wire format without the pattern
//     subscription: SUBSCRIBE "<key>#<ns>#" plus one channel per local room
//     through adapter.RoomWatcher. Socket-id rooms must be reported too.
//
// Every channel and key name comes from wire.Channel (golden-tested).
//
// # Mapping onto the adapter contract
//
// Broadcasts, REMOTE_JOIN/LEAVE/DISCONNECT (also from Node peers and the
// emitter) and server-side emits without ack arrive as adapter.Message.
// SOCKETS/REMOTE_FETCH, ALL_ROOMS, SERVER_SIDE_EMIT with ack and BROADCAST
// (with ack) arrive as adapter.Request; the handler's replies are published
// as the Node adapter would (first reply only, except broadcast acks:
// client count then one message per ack). Node adapters carry a single ack
// argument, so Reply.Data holds a one-element array on receipt and only the
// first argument is sent. In sharded mode, where the ClusterAdapter has no
// all-rooms request, RequestAllRooms is answered from fetched sockets.
//
// A node ignores its own broadcasts and requests (uid match).
//
// # Liveness and timeouts
//
// A Request waits for NUMSUB-1 (SHARDNUMSUB-1) answers, re-reading the count
// every 250ms so that a server that left does not hold the request; it ends
// with adapter.ErrTimeout at ctx end or Config.RequestTimeout (default 5s).
// Each node also refreshes the key "<key>-node#<uid>" (TTL three heartbeat
// intervals) and its member of the sorted set "<key>-nodes", scored with
// the unix milliseconds at which its liveness lapses (now + three
// intervals; members lapsed for an hour are pruned, Close removes its
// own). At each re-count a Request also looks for ionbus nodes that
// lapsed yet still subscribe their node channel of the namespace: a
// stopped, starved or deadlocked process keeps its Redis connection, so
// NUMSUB still counts it, but it will not answer. The request stops
// waiting for them and, once the others answered, returns the answers with
// an error wrapping adapter.ErrTimeout that says how many nodes it gave up
// on. Node.js peers keep no entry and are always waited for.
//
// # Resilience
//
// One receive goroutine reads each subscriber connection. On Redis loss it
// logs at warn, sets Degraded, and retries with capped exponential backoff;
// go-redis redials and resubscribes every channel and pattern, after which
// Degraded clears.
//
// Sharded mode on a redis.ClusterClient keeps one subscriber connection
// per master, each holding the SSUBSCRIBEs of every slot that master
// serves (one command per slot, as Redis Cluster requires): 10,000 rooms
// on 3 masters take 3 connections per node, not one per slot in use. A
// subscriber whose connection fails is not redialed in place (go-redis
// would replay every channel in one SSUBSCRIBE, refused as CROSSSLOT, on
// the node of the first channel's stale slot owner): its channels become
// orphans, the slot map is reloaded, and a repair goroutine resubscribes
// them where the map now says, retrying with the same backoff until the
// replica that took over answers; a publish that fails with an
// unreachable node or a CLUSTERDOWN/MOVED-like reply reloads the map too
// (TopologyChanged tells which errors). Degraded holds while any channel is an
// orphan; a subscriber emptied by room deletions is closed, so nothing
// stale is left to keep a node degraded. Responses to this node's requests are routed inline;
// everything else goes through a bounded queue (Config.QueueSize) to one
// worker that calls the Handler in arrival order; overflow is dropped,
// counted (Stats().Dropped) and logged at powers of two. Malformed or
// foreign payloads are counted (Stats().Malformed) and dropped, and a panic
// while handling one message is contained.
//
// # Concurrency
//
// All methods are safe for concurrent use. Publish and Request do I/O on
// the caller's goroutine; RoomCreated/RoomDeleted only queue. Handler calls
// come from the single worker goroutine; onReply runs on the Request
// caller's goroutine. Lock order: nsMu, reqMu and pingMu are leaves, never
// held together, and never held across a Handler call or network I/O.
//
// # Lifecycle
//
// New validates; Start subscribes "/" and starts the goroutines (call Close
// even when Start fails); WatchNamespace subscribes further namespaces;
// Close closes the subscriber connection (Node peers stop counting this
// node at once), deletes the liveness key and waits for the goroutines.
// The redis client belongs to the caller.
package redisadapter
