// Many real socket.io-client sockets, possibly on several servers, driven
// by the Go cluster tests: commands arrive as JSON lines on stdin,
// everything the sockets observe is printed as JSON lines on stdout, in
// the order it happened (one process, so the order is causal).
//
// Commands:
//   {"cmd":"connect","id":"a1","url":"http://...","auth":{...},"transports":["websocket"],"nsp":"/","reconnection":false,
//    "parser":"msgpack",                   (socket.io-msgpack-parser; default the JSON parser)
//    "headers":{"cookie":"session=..."}}   (handshake headers, both transports)
//   {"cmd":"emit","id":"a1","event":"join_room","args":[...],"ack":true,"seq":7}
//   {"cmd":"disconnect","id":"a1"}
//   {"cmd":"exit"}
// Output lines:
//   {"ev":"connect","id":"a1","sid":"..."}
//   {"ev":"connect_error","id":"a1","message":"...","data":{...}}
//   {"ev":"disconnect","id":"a1","reason":"..."}
//   {"ev":"event","id":"a1","name":"...","args":[...],"t":<ms>}   binary as {"$bin":"<hex>"};
//     an event sent with an ack callback is acked with {"from":"a1","event":name}
//   {"ev":"ack","id":"a1","seq":7,"args":[...]} or {"ev":"ack",...,"error":"..."}
//   {"ev":"ready"} once stdin is read; {"fatal":"..."} on a script error.
//
// usage: TIMEOUT_MS=... node js/swarm.js
"use strict";
const path = require("path");
const readline = require("readline");
const { io } = require(path.join(__dirname, "..", "node_modules", "socket.io-client"));
const { norm } = require("./norm");

const TIMEOUT_MS = Number(process.env.TIMEOUT_MS || 120000);
setTimeout(() => {
  print({ fatal: `swarm timed out after ${TIMEOUT_MS}ms` });
  process.exit(2);
}, TIMEOUT_MS).unref();

function print(o) {
  process.stdout.write(JSON.stringify(o) + "\n");
}

const sockets = new Map();

function connect(c) {
  const old = sockets.get(c.id);
  if (old) old.disconnect();
  const s = io(c.url + (c.nsp && c.nsp !== "/" ? c.nsp : ""), {
    forceNew: true,
    transports: c.transports || ["websocket"],
    auth: c.auth || {},
    extraHeaders: c.headers || {},
    reconnection: !!c.reconnection,
    reconnectionDelay: 50,
    reconnectionDelayMax: 200,
    timeout: 5000,
    ...(c.parser === "msgpack" ? { parser: require(path.join(__dirname, "..", "node_modules", "socket.io-msgpack-parser")) } : {}),
  });
  sockets.set(c.id, s);
  s.on("connect", () => print({ ev: "connect", id: c.id, sid: s.id }));
  s.on("connect_error", (e) => print({ ev: "connect_error", id: c.id, message: e.message, data: e.data === undefined ? null : norm(e.data) }));
  s.on("disconnect", (reason) => print({ ev: "disconnect", id: c.id, reason }));
  s.onAny((name, ...args) => {
    // A server event that asks for an ack is answered with who got it.
    const cb = typeof args[args.length - 1] === "function" ? args.pop() : null;
    print({ ev: "event", id: c.id, name, args: norm(args), t: Date.now(), ...(cb ? { acked: true } : {}) });
    if (cb) cb({ from: c.id, event: name });
  });
}

async function emit(c) {
  const s = sockets.get(c.id);
  if (!s) return print({ ev: "ack", id: c.id, seq: c.seq, error: "no such socket" });
  const args = c.args || [];
  if (!c.ack) return s.emit(c.event, ...args);
  try {
    const res = await s.timeout(c.timeoutMs || 5000).emitWithAck(c.event, ...args);
    print({ ev: "ack", id: c.id, seq: c.seq, args: norm([res]) });
  } catch (e) {
    print({ ev: "ack", id: c.id, seq: c.seq, error: String(e && e.message || e) });
  }
}

readline.createInterface({ input: process.stdin }).on("line", (line) => {
  let c;
  try {
    c = JSON.parse(line);
  } catch (e) {
    return print({ fatal: "bad command " + line });
  }
  try {
    switch (c.cmd) {
      case "connect":
        return connect(c);
      case "emit":
        return emit(c);
      case "disconnect": {
        const s = sockets.get(c.id);
        if (s) s.disconnect();
        return;
      }
      case "exit":
        for (const s of sockets.values()) s.disconnect();
        setTimeout(() => process.exit(0), 100);
        return;
      default:
        print({ fatal: "unknown command " + line });
    }
  } catch (e) {
    print({ fatal: String(e && e.stack || e) });
  }
}).on("close", () => {
  for (const s of sockets.values()) s.disconnect();
  setTimeout(() => process.exit(0), 100);
});
print({ ev: "ready" });
