// A Node socket.io@4 server with @socket.io/redis-adapter (classic or
// sharded) and one real socket.io-client connected to it, driven by the
// Go interop tests: commands arrive as JSON lines on stdin, everything the
// server and client observe is printed as JSON lines on stdout.
// Buffers are written as {"$bin": "<hex>"} both ways.
//
// usage: node interop.js <redis-url> [classic|sharded]
"use strict";
const path = require("path");
const http = require("http");
const readline = require("readline");
const nm = path.join(__dirname, "..", "node_modules");
const { Server } = require(path.join(nm, "socket.io"));
const ioc = require(path.join(nm, "socket.io-client"));
const { createAdapter, createShardedAdapter } = require(path.join(nm, "@socket.io/redis-adapter"));
const { Emitter } = require(path.join(nm, "@socket.io/redis-emitter"));
const { createClient } = require(path.join(nm, "redis"));

const url = process.argv[2];
const mode = process.argv[3] || "classic";

const toJSON = (v) => JSON.stringify(v, function (k, val) {
  const raw = this[k];
  if (Buffer.isBuffer(raw)) return { $bin: raw.toString("hex") };
  if (typeof val === "function") return undefined;
  return val;
});
const fromJSON = (s) => JSON.parse(s, (k, v) => (v && typeof v === "object" && typeof v.$bin === "string" ? Buffer.from(v.$bin, "hex") : v));
const print = (o) => process.stdout.write(toJSON(o) + "\n");

async function main() {
  const pub = createClient({ url });
  const sub = pub.duplicate();
  const emitterClient = pub.duplicate();
  for (const c of [pub, sub, emitterClient]) c.on("error", (e) => print({ event: "redis-error", message: String(e) }));
  await Promise.all([pub.connect(), sub.connect(), emitterClient.connect()]);

  const httpServer = http.createServer();
  const io = new Server(httpServer);
  io.adapter(mode === "sharded" ? createShardedAdapter(pub, sub) : createAdapter(pub, sub, { requestsTimeout: 3000 }));
  const emitter = new Emitter(emitterClient);

  io.on("connection", (s) => {
    s.data = { node: "js" };
    s.join("room-node");
    print({ event: "connection", sid: s.id });
  });
  io.on("hello-servers", (...args) => {
    const cb = typeof args[args.length - 1] === "function" ? args.pop() : null;
    print({ event: "sse", args, withAck: !!cb });
    if (cb) cb("node-ack");
  });

  await new Promise((r) => httpServer.listen(0, "127.0.0.1", r));
  const port = httpServer.address().port;
  const client = ioc(`http://127.0.0.1:${port}`, { transports: ["websocket"] });
  client.onAny((event, ...args) => print({ event: "client", name: event, args }));
  client.on("q", (...args) => { const cb = args.pop(); cb("client-ack"); });
  await new Promise((r) => client.on("connect", r));
  await new Promise((r) => setTimeout(r, 50)); // let the server-side join settle

  const rl = readline.createInterface({ input: process.stdin });
  rl.on("line", async (line) => {
    let c;
    try { c = fromJSON(line); } catch (e) { return print({ event: "error", message: "bad command" }); }
    try {
      switch (c.cmd) {
        case "emit": {
          let op = io.of(c.nsp || "/");
          if (c.rooms) op = op.to(c.rooms);
          op.emit(c.name, ...c.args);
          break;
        }
        case "fetchSockets": {
          const sockets = await io.fetchSockets();
          print({ event: "fetched", sockets: sockets.map((s) => ({ id: s.id, rooms: [...s.rooms], data: s.data, handshake: s.handshake })) });
          break;
        }
        case "allRooms":
          print({ event: "allRooms", rooms: [...(await io.of("/").adapter.allRooms())] });
          break;
        case "serverCount":
          print({ event: "serverCount", count: await io.of("/").adapter.serverCount() });
          break;
        case "sseAck": {
          try {
            const responses = await io.serverSideEmitWithAck("hello-servers", ...c.args);
            print({ event: "sseAcked", responses });
          } catch (e) { print({ event: "sseAcked", error: String(e) }); }
          break;
        }
        case "sse":
          io.serverSideEmit("hello-servers", ...c.args);
          break;
        case "broadcastAck": {
          try {
            const responses = await io.timeout(3000).emitWithAck("q", ...c.args);
            print({ event: "broadcastAcked", responses });
          } catch (e) { print({ event: "broadcastAcked", error: String(e) }); }
          break;
        }
        case "socketsJoin":
          io.in(c.rooms).socketsJoin(c.join);
          break;
        case "disconnectSockets":
          io.in(c.rooms).disconnectSockets(c.close);
          break;
        case "emitter": {
          let e = emitter.of(c.nsp || "/");
          if (c.rooms) e = e.to(c.rooms);
          if (c.join) e.socketsJoin(c.join);
          else if (c.sse) emitter.serverSideEmit(...c.args);
          else e.emit(c.name, ...c.args);
          break;
        }
        case "exit":
          client.close();
          io.close();
          await Promise.allSettled([pub.quit(), sub.quit(), emitterClient.quit()]);
          process.exit(0);
      }
      print({ event: "done", cmd: c.cmd });
    } catch (e) {
      print({ event: "error", cmd: c.cmd, message: String(e && e.stack || e) });
    }
  });
  print({ event: "ready", port, sid: client.id });
}
main().catch((e) => { print({ event: "fatal", message: String(e && e.stack || e) }); process.exit(1); });
