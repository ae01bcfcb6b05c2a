// A Node socket.io@4.8 server clustered with @socket.io/redis-adapter@8
// (classic createAdapter, or createShardedAdapter with MODE=sharded), the
// way an existing Node deployment runs, joining an ionbus cluster on the
// same Redis and key. Clients connect to it with js/swarm.js. It answers
// join_room {room_name} like ionbus (room_joined + ack), and takes
// commands as JSON lines on stdin:
//   {"cmd":"emit","rooms":[..],"except":[..],"event":"..","args":[..]}   io.to().except().emit()
//   {"cmd":"fetchSockets","rooms":[..]}   -> {"ev":"fetched","sockets":[{id,rooms}]}
//   {"cmd":"sseAck","event":"..","args":[..]} -> {"ev":"sseAcked","responses":[..]} or {"error"}
//   {"cmd":"serverCount"} -> {"ev":"serverCount","count":n}
//   {"cmd":"broadcastAck","rooms":[..],"event":"..","args":[..]} -> {"ev":"broadcastAcked","responses":[..]} or {"error"}
// Buffers are {"$bin":"<hex>"} both ways. Prints {"ev":"ready","url":...}.
//
// usage: REDIS_URL=redis://... KEY=socket.io [MODE=classic|sharded] node js/peer.js
"use strict";
const path = require("path");
const http = require("http");
const readline = require("readline");
const nm = path.join(__dirname, "..", "node_modules");
const { Server } = require(path.join(nm, "socket.io"));
const { createAdapter, createShardedAdapter } = require(path.join(nm, "@socket.io/redis-adapter"));
const { createClient } = require(path.join(nm, "redis"));

const TIMEOUT_MS = Number(process.env.TIMEOUT_MS || 120000);
setTimeout(() => process.exit(2), TIMEOUT_MS).unref();

const toJSON = (v) => JSON.stringify(v, function (k, val) {
  const raw = this[k];
  if (Buffer.isBuffer(raw)) return { $bin: raw.toString("hex") };
  if (typeof val === "function") return undefined;
  return val;
});
const fromJSON = (s) => JSON.parse(s, (k, v) => (v && typeof v === "object" && typeof v.$bin === "string" ? Buffer.from(v.$bin, "hex") : v));
const print = (o) => process.stdout.write(toJSON(o) + "\n");

async function main() {
  const url = process.env.REDIS_URL;
  const key = process.env.KEY || "socket.io";
  const pub = createClient({ url });
  const sub = pub.duplicate();
  for (const c of [pub, sub]) c.on("error", (e) => print({ ev: "redis-error", message: String(e) }));
  await Promise.all([pub.connect(), sub.connect()]);
  const httpServer = http.createServer();
  const io = new Server(httpServer, { pingInterval: 1000, pingTimeout: 1000 });
  io.adapter(process.env.MODE === "sharded"
    ? createShardedAdapter(pub, sub, { channelPrefix: key })
    : createAdapter(pub, sub, { key, requestsTimeout: 3000 }));
  io.on("connection", (s) => {
    print({ ev: "connection", sid: s.id });
    s.on("join_room", (p, cb) => {
      const room = p && p.room_name;
      s.join(room);
      const payload = { room_name: room, success: true, message: "Joined room " + room };
      s.emit("room_joined", payload);
      if (typeof cb === "function") cb(payload);
    });
  });
  await new Promise((r) => httpServer.listen(0, "127.0.0.1", r));

  readline.createInterface({ input: process.stdin }).on("line", async (line) => {
    let c;
    try { c = fromJSON(line); } catch (e) { return print({ ev: "error", message: "bad command" }); }
    try {
      switch (c.cmd) {
        case "emit": {
          let op = io.of("/");
          if (c.rooms && c.rooms.length) op = op.to(c.rooms);
          if (c.except && c.except.length) op = op.except(c.except);
          op.emit(c.event, ...(c.args || []));
          break;
        }
        case "fetchSockets": {
          let op = io.of("/");
          if (c.rooms && c.rooms.length) op = op.in(c.rooms);
          const sockets = await op.fetchSockets();
          print({ ev: "fetched", sockets: sockets.map((s) => ({ id: s.id, rooms: [...s.rooms] })) });
          break;
        }
        case "sseAck": {
          try {
            const responses = await io.serverSideEmitWithAck(c.event, ...(c.args || []));
            print({ ev: "sseAcked", responses });
          } catch (e) { print({ ev: "sseAcked", error: String(e) }); }
          break;
        }
        case "broadcastAck": {
          try {
            let op = io.of("/").timeout(c.timeoutMs || 3000);
            if (c.rooms && c.rooms.length) op = op.to(c.rooms);
            const responses = await op.emitWithAck(c.event, ...(c.args || []));
            print({ ev: "broadcastAcked", responses });
          } catch (e) { print({ ev: "broadcastAcked", error: String(e) }); }
          break;
        }
        case "serverCount":
          print({ ev: "serverCount", count: await io.of("/").adapter.serverCount() });
          break;
      }
      print({ ev: "done", cmd: c.cmd });
    } catch (e) {
      print({ ev: "error", cmd: c.cmd, message: String(e && e.stack || e) });
    }
  }).on("close", async () => {
    io.close();
    await Promise.allSettled([pub.quit(), sub.quit()]);
    process.exit(0);
  });
  print({ ev: "ready", url: `http://127.0.0.1:${httpServer.address().port}` });
}
main().catch((e) => { print({ fatal: String(e && e.stack || e) }); process.exit(1); });
