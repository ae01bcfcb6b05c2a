// Golden bytes for the Go adapter, produced by the real npm packages.
// Prints one JSON document: {notepack: [...], classic: [...], sharded: [...], emitter: [...]}
// where every payload is hex. Run by adapter/redisadapter golden tests.
"use strict";
const path = require("path");
const nm = path.join(__dirname, "..", "node_modules");
const msgpack = require(path.join(nm, "notepack.io"));
const { Server } = require(path.join(nm, "socket.io"));
const { createAdapter, createShardedAdapter } = require(path.join(nm, "@socket.io/redis-adapter"));
const { Emitter } = require(path.join(nm, "@socket.io/redis-emitter"));

const hex = (b) => Buffer.from(b).toString("hex");
const out = { notepack: [], classic: [], sharded: [], emitter: [] };

// --- notepack values ---------------------------------------------------
const big = (n) => "x".repeat(n);
const nums = [0, 1, 127, 128, 255, 256, 65535, 65536, 4294967295, 4294967296, 9007199254740991,
  -1, -32, -33, -128, -129, -32768, -32769, -2147483648, -2147483649, -9007199254740991,
  1.5, -0.5, 1e300, 0.1, 1e21, 1.5e-7];
for (const n of nums) out.notepack.push({ name: "num " + n, json: JSON.stringify(n), hex: hex(msgpack.encode(n)) });
for (const n of [0, 31, 32, 255, 256, 65535, 65536]) {
  out.notepack.push({ name: "str " + n, json: JSON.stringify(big(n)), hex: hex(msgpack.encode(big(n))) });
}
const uni = "héllo ✓ 😀 \u0000 \"q\" \\ </script>";
out.notepack.push({ name: "unicode", json: JSON.stringify(uni), hex: hex(msgpack.encode(uni)) });
for (const v of [null, true, false, [], {}, [1, [2, [3]]], { b: 1, a: { z: null, y: [true, "s"] } },
  Array.from({ length: 15 }, (_, i) => i), Array.from({ length: 16 }, (_, i) => i),
  Object.fromEntries(Array.from({ length: 16 }, (_, i) => ["k" + i, i]))]) {
  out.notepack.push({ name: "value " + JSON.stringify(v).slice(0, 40), json: JSON.stringify(v), hex: hex(msgpack.encode(v)) });
}
for (const n of [0, 3, 255, 256, 65536]) {
  const b = Buffer.alloc(n, 7);
  out.notepack.push({ name: "bin " + n, bin: hex(b), hex: hex(msgpack.encode(b)) });
}
// decode-only: a Date and a float32
out.notepack.push({ name: "date", decodeOnly: true, json: JSON.stringify(new Date(1700000000123)), hex: hex(msgpack.encode(new Date(1700000000123))) });
out.notepack.push({ name: "date32", decodeOnly: true, json: JSON.stringify(new Date(1700000000000)), hex: hex(msgpack.encode(new Date(1700000000000))) });

// --- fake redis clients that record what the packages publish -----------
function fakeClient(sink) {
  return {
    publish: (channel, msg) => { sink.push({ channel, hex: hex(typeof msg === "string" ? Buffer.from(msg) : msg) }); return Promise.resolve(1); },
    sPublish: (channel, msg) => { sink.push({ channel, hex: hex(typeof msg === "string" ? Buffer.from(msg) : msg) }); return Promise.resolve(1); },
    pSubscribe: () => Promise.resolve(), subscribe: () => Promise.resolve(),
    pUnsubscribe: () => Promise.resolve(), unsubscribe: () => Promise.resolve(),
    sSubscribe: () => Promise.resolve(), sUnsubscribe: () => Promise.resolve(),
    sendCommand: () => Promise.resolve(["ch", 2]), // PUBSUB NUMSUB/SHARDNUMSUB: two servers
    on: () => {}, off: () => {},
  };
}

async function capture(list, name, sink, fn, nsAdapter) {
  sink.length = 0;
  try { await Promise.race([fn(), new Promise((r) => setTimeout(r, 20))]); } catch (e) { /* timeouts of pending requests */ }
  for (const m of sink) {
    const item = { name, channel: m.channel, hex: m.hex };
    let req = null;
    try { const buf = Buffer.from(m.hex, "hex"); req = buf[0] === 0x7b ? JSON.parse(buf.toString()) : msgpack.decode(buf); } catch (e) { }
    if (req && !Array.isArray(req)) {
      if (req.requestId !== undefined) item.requestId = req.requestId;
      if (req.data && req.data.requestId !== undefined) item.requestId = req.data.requestId;
    }
    list.push(item);
  }
}

async function main() {
  // classic
  {
    const sink = [];
    const io = new Server({ serveClient: false });
    io.adapter(createAdapter(fakeClient(sink), fakeClient([]), { requestsTimeout: 50 }));
    const admin = io.of("/admin");
    io.of("/").adapter.uid = "GOLDEN";
    admin.adapter.uid = "GOLDEN";
    const c = out.classic;
    await capture(c, "emit", sink, () => io.emit("hello", 1, "two", { a: [1.5, null, true] }));
    await capture(c, "emit one room binary", sink, () => io.to("room1").emit("ev", Buffer.from([1, 2, 3]), { k: Buffer.from("second") }));
    await capture(c, "emit rooms except flags", sink, () => io.to(["a", "b"]).except("c").volatile.compress(true).emit("ev", 42));
    await capture(c, "emit admin", sink, () => admin.emit("x"));
    await capture(c, "socketsJoin", sink, () => io.in("r").socketsJoin(["j1", "j2"]));
    await capture(c, "socketsLeave", sink, () => io.except("x").socketsLeave("j1"));
    await capture(c, "disconnectSockets", sink, () => io.in("r").disconnectSockets(true));
    await capture(c, "serverSideEmit", sink, () => { io.serverSideEmit("sse", "x", 3); });
    await capture(c, "fetchSockets", sink, () => io.in("r").fetchSockets());
    await capture(c, "allRooms", sink, () => io.of("/").adapter.allRooms());
    await capture(c, "serverSideEmitWithAck", sink, () => io.serverSideEmitWithAck("q", 1));

  }
  // sharded (dynamic and static)
  for (const mode of ["dynamic", "static"]) {
    const sink = [];
    const io = new Server({ serveClient: false });
    io.adapter(createShardedAdapter(fakeClient(sink), fakeClient([]), { subscriptionMode: mode }));
    io.of("/").adapter.uid = "GOLDEN";
    const s = out.sharded;
    const p = mode + " ";
    await capture(s, p + "emit", sink, () => io.emit("hello", 1, "two", { a: [1.5, null, true] }));
    await capture(s, p + "emit one room", sink, () => io.to("room1").emit("ev", 2));
    await capture(s, p + "emit socket id", sink, () => io.to("abcdefghijklmnopqrst").emit("ev", 3));
    await capture(s, p + "emit binary", sink, () => io.to(["a", "b"]).except("c").emit("ev", Buffer.from([1, 2, 3])));
    await capture(s, p + "socketsJoin", sink, () => io.in("r").socketsJoin(["j1", "j2"]));
    await capture(s, p + "disconnectSockets", sink, () => io.in("r").disconnectSockets(false));
    await capture(s, p + "serverSideEmit", sink, () => { io.serverSideEmit("sse", "x", 3); });
    await capture(s, p + "fetchSockets", sink, () => io.in("r").fetchSockets());

  }
  // emitter
  {
    const sink = [];
    const e = new Emitter(fakeClient(sink));
    const c = out.emitter;
    await capture(c, "emit", sink, () => { e.emit("hello", 1, "two", { a: [1.5, null, true] }); });
    await capture(c, "emit one room binary", sink, () => { e.to("room1").emit("ev", Buffer.from([1, 2, 3])); });
    await capture(c, "emit admin rooms except", sink, () => { e.of("/admin").to(["a", "b"]).except("c").emit("ev", 42); });
    await capture(c, "emit volatile compress", sink, () => { e.volatile.compress(false).emit("ev"); });
    await capture(c, "socketsJoin", sink, () => { e.in("r").socketsJoin(["j1", "j2"]); });
    await capture(c, "socketsLeave", sink, () => { e.socketsLeave("j1"); });
    await capture(c, "disconnectSockets", sink, () => { e.in("r").disconnectSockets(true); });
    await capture(c, "serverSideEmit", sink, () => { e.serverSideEmit("sse", "x", 3); });
  }
  for (const it of out.notepack) {
    const d = msgpack.decode(Buffer.from(it.hex, "hex"));
    it.decoded = Buffer.isBuffer(d) ? undefined : JSON.stringify(d);
  }
  process.stdout.write(JSON.stringify(out), () => process.exit(0));
  return;

}
main().catch((e) => { console.error(e); process.exit(1); });
