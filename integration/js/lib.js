// Shared helpers of the scenario scripts: output protocol, timeouts,
// socket.io-client wrappers, deep equality with binary normalisation, and
// the stdin channel from the Go test.
//
// Output: one JSON object per line. {"ok": "<check>"} for each passed
// check, {"result": {...}} with data for the Go test, {"ready": ...} when
// the script waits for the Go test to act, {"fail": "<message>"} on
// failure (exit status 1), {"done": "<scenario>"} on success (status 0).
// A global timer fails the run after TIMEOUT_MS (exit status 2).
"use strict";
const { io, Manager } = require("socket.io-client");
const assert = require("assert");
const readline = require("readline");
const { norm } = require("./norm");

const URL = process.env.URL;
const scenario = process.argv[2];
const TIMEOUT_MS = Number(process.env.TIMEOUT_MS || 15000);

function out(obj) {
  process.stdout.write(JSON.stringify(obj) + "\n");
}
function ok(name) {
  out({ ok: name });
}
function fail(msg) {
  out({ fail: String(msg) });
  process.exit(1);
}
if (!URL) fail("URL env is required");
setTimeout(() => {
  out({ fail: `scenario ${scenario} timed out after ${TIMEOUT_MS}ms` });
  process.exit(2);
}, TIMEOUT_MS).unref();

const sockets = [];
// Every socket made here: fresh Manager unless opts.forceNew === false.
// PARSER=msgpack: every client uses socket.io-msgpack-parser.
const parserOpts = process.env.PARSER === "msgpack" ? { parser: require("socket.io-msgpack-parser") } : {};
function client(nsp = "", opts = {}) {
  const s = io(URL + nsp, { forceNew: true, reconnectionDelay: 50, reconnectionDelayMax: 200, ...parserOpts, ...opts });
  sockets.push(s);
  return s;
}
function connected(s, ms = 5000) {
  return new Promise((resolve, reject) => {
    if (s.connected) return resolve(s);
    const t = setTimeout(() => reject(new Error(`connect ${s.nsp} timed out`)), ms);
    s.once("connect", () => {
      clearTimeout(t);
      resolve(s);
    });
    s.once("connect_error", (err) => {
      clearTimeout(t);
      reject(err);
    });
  });
}
function connectError(s, ms = 5000) {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no connect_error on ${s.nsp}`)), ms);
    s.once("connect", () => {
      clearTimeout(t);
      reject(new Error(`${s.nsp} connected, expected connect_error`));
    });
    s.once("connect_error", (err) => {
      clearTimeout(t);
      resolve(err);
    });
  });
}
function once(emitter, event, ms = 5000) {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no "${event}" within ${ms}ms`)), ms);
    emitter.once(event, (...args) => {
      clearTimeout(t);
      resolve(args);
    });
  });
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
function ack(s, event, ...args) {
  return s.timeout(5000).emitWithAck(event, ...args);
}
// until polls fn (async) until it returns a truthy value.
async function until(what, fn, ms = 5000, every = 25) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(every);
  }
}
function eq(got, want, what) {
  try {
    assert.deepStrictEqual(norm(got), norm(want));
  } catch (e) {
    throw new Error(`${what}: got ${JSON.stringify(norm(got))}, want ${JSON.stringify(norm(want))}`);
  }
  ok(what);
}
async function serverLog(s) {
  return ack(s, "server-log");
}
async function disconnectReason(s, id) {
  return until(`server disconnect record for ${id}`, async () => {
    const log = await serverLog(s);
    const rec = log.find((r) => r.kind === "disconnect" && r.id === id);
    return rec && rec.reason;
  });
}
// Lines the Go test writes to our stdin.
const stdinLines = [];
const stdinWaiters = [];
readline.createInterface({ input: process.stdin }).on("line", (line) => {
  const w = stdinWaiters.shift();
  if (w) w(line);
  else stdinLines.push(line);
});
function nextInput(ms = 10000) {
  if (stdinLines.length) return Promise.resolve(stdinLines.shift());
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error("no input from the test")), ms);
    stdinWaiters.push((l) => {
      clearTimeout(t);
      resolve(l);
    });
  });
}


// run executes scenarios[name] and exits with the protocol's status.
function run(scenarios) {
  (async () => {
    const fn = scenarios[scenario];
    if (!fn) fail(`unknown scenario ${JSON.stringify(scenario)}; known: ${Object.keys(scenarios).join(", ")}`);
    try {
      await fn();
    } catch (e) {
      fail(e && e.stack ? e.stack.split("\n").slice(0, 3).join(" | ") : e);
    }
    for (const s of sockets) s.disconnect();
    // Best-effort grace so a polling client's last POSTs (DISCONNECT, then
    // the Engine.IO close) leave before the process exits; the Go tests
    // wait for their effect on the server, never on this delay.
    await sleep(200);
    out({ done: scenario });
    process.exit(0);
  })();
}

module.exports = {
  io, Manager, URL, scenario, out, ok, fail, client, parserOpts, connected, connectError, once, sleep, ack, until,
  norm, eq, serverLog, disconnectReason, nextInput, sockets, run,
};
