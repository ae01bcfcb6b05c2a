// Package adapter is the contract between the broker and the transport
// that links the nodes of a cluster, plus its in-process implementation.
//
// The broker owns sockets and rooms. It applies every broadcast, join,
// leave and disconnect to its local sockets itself, then hands the
// operation to an Adapter, which carries it to the other nodes and
// delivers what they send to the broker's Handler. The Adapter never
// keeps room membership.
//
// Implementations:
//
//   - Memory / MemoryBus (this package): several nodes in one process.
//     NewMemory is the single-node default, where Publish is a no-op.
//   - redisadapter: Redis pub/sub, wire-compatible with the Node
//     @socket.io/redis-adapter v8 (classic and sharded) so ionbus nodes and
//     Node socket.io servers form one cluster.
//   - emitter: a publisher for backend processes, wire-compatible with
//     @socket.io/redis-emitter v5.
//
// adaptertest holds the conformance suite every implementation passes.
//
// Concurrency: every Adapter method is safe for concurrent use. Handlers
// are called from one receive goroutine per node, in publish order, and
// never while an adapter lock is held. Request callbacks (onReply) run on
// the goroutine that called Request. Optional capabilities
// (NamespaceWatcher, RoomWatcher, ServerCounter) are found by type
// assertion.
//
// Lock order in Memory: MemoryBus.mu, then memoryRequest.mu; Memory.qmu is
// a leaf. No lock is held while a Handler or onReply runs.
package adapter
