// Raw probe: sends hand-made Engine.IO/Socket.IO input to a server over a
// plain websocket (the `ws` package) and prints what comes back, so the
// exact answers of the reference server can be compared with ionbus's
// (integration/badinput_test.go pins those answers).
//
// Usage: URL=http://127.0.0.1:PORT node js/raw-probe.js <case>
// Prints {"frames": [...], "close": {"code": n, "reason": "..."}}.
"use strict";
const WebSocket = require("ws");
const URL = process.env.URL;
const name = process.argv[2];
setTimeout(() => {
  console.log(JSON.stringify({ fail: "timeout" }));
  process.exit(2);
}, 5000).unref();

const nest = (n) => "[".repeat(n) + "]".repeat(n);
const cases = {
  "bad-json": ["40", '42["ev",'],
  "unknown-sio-type": ["40", "49"],
  "unknown-eio-type": ["9hello"],
  "non-utf8": ["40", Buffer.from([0x34, 0x32, 0xff, 0xfe])],
  "nesting-bomb": ["40", '42["ev",' + nest(10000) + "]"],
  "oversized": ["40", "42" + JSON.stringify(["ev", "x".repeat(Number(process.env.SIZE || 200))])],
  "event-before-connect": ['42["ev"]'],
  "duplicate-connect": ["40", "40"],
  "numeric-event": ["40", '42[1,"x"]'],
  "reserved-event": ["40", '42["disconnect"]'],
  "ack-unknown-id": ["40", '4399["x"]'],
  "disconnect-unjoined": ["41/a,"],
  "connect-error-from-client": ["40", '44{"message":"x"}'],
  "bad-namespace-chars": ['40nope,'],
  "ping-probe": ['42["ev"]'],
  "binary-without-header": ["40", Buffer.from([1, 2, 3])],
};
const frames = [];
const ws = new WebSocket(URL.replace(/^http/, "ws") + "/socket.io/?EIO=4&transport=websocket");
ws.on("message", (data, isBinary) => {
  const s = isBinary ? "<bin " + data.length + ">" : data.toString();
  frames.push(s.length > 200 ? s.slice(0, 200) + "..." : s);
  if (frames.length === 1) {
    for (const m of cases[name]) {
      if (Buffer.isBuffer(m) && name === "non-utf8") ws._sender.send(m, { binary: false, fin: true, mask: true, opcode: 1, readOnly: false }, () => {});
      else ws.send(m, { binary: Buffer.isBuffer(m) });
    }
    // Liveness: a CONNECT to an unknown namespace must still be answered.
    setTimeout(() => ws.send(name === "ping-probe" ? "3probe-alive?" : "40/nope,"), 300);
  }
});
ws.on("close", (code, reason) => {
  console.log(JSON.stringify({ frames, close: { code, reason: reason.toString() } }));
  process.exit(0);
});
ws.on("error", (e) => frames.push("error: " + e.message));
setTimeout(() => {
  console.log(JSON.stringify({ frames, close: null }));
  process.exit(0);
}, 1500);
