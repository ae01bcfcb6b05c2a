// @socket.io/redis-emitter@5 publishing into a cluster, the way a backend
// process does. Commands as JSON lines on stdin (Buffers as {"$bin":hex}):
//   {"cmd":"emit","nsp":"/","rooms":[..],"except":[..],"event":"..","args":[..]}
//   {"cmd":"socketsJoin","rooms":[..],"join":[..]}
// Prints {"ev":"done","cmd":..} after each command, {"ev":"ready"} first.
//
// usage: REDIS_URL=redis://... KEY=socket.io node js/emitter.js
"use strict";
const path = require("path");
const readline = require("readline");
const nm = path.join(__dirname, "..", "node_modules");
const { Emitter } = require(path.join(nm, "@socket.io/redis-emitter"));
const { createClient } = require(path.join(nm, "redis"));

const TIMEOUT_MS = Number(process.env.TIMEOUT_MS || 120000);
setTimeout(() => process.exit(2), TIMEOUT_MS).unref();
const fromJSON = (s) => JSON.parse(s, (k, v) => (v && typeof v === "object" && typeof v.$bin === "string" ? Buffer.from(v.$bin, "hex") : v));
const print = (o) => process.stdout.write(JSON.stringify(o) + "\n");

async function main() {
  const client = createClient({ url: process.env.REDIS_URL });
  client.on("error", (e) => print({ ev: "redis-error", message: String(e) }));
  await client.connect();
  const emitter = new Emitter(client, { key: process.env.KEY || "socket.io" });
  readline.createInterface({ input: process.stdin }).on("line", async (line) => {
    let c;
    try { c = fromJSON(line); } catch (e) { return print({ ev: "error", message: "bad command" }); }
    try {
      let e = emitter.of(c.nsp || "/");
      if (c.rooms && c.rooms.length) e = e.to(c.rooms);
      if (c.except && c.except.length) e = e.except(c.except);
      switch (c.cmd) {
        case "emit":
          e.emit(c.event, ...(c.args || []));
          break;
        case "socketsJoin":
          e.socketsJoin(c.join);
          break;
      }
      print({ ev: "done", cmd: c.cmd });
    } catch (err) {
      print({ ev: "error", cmd: c.cmd, message: String(err && err.stack || err) });
    }
  }).on("close", async () => {
    await client.quit().catch(() => {});
    process.exit(0);
  });
  print({ ev: "ready" });
}
main().catch((e) => { print({ fatal: String(e && e.stack || e) }); process.exit(1); });
