// A Redis Streams consumer for ionbus's backend bridge: client events
// routed `via: stream` (backend.stream.key) and lifecycle events
// (backend.lifecycle.stream), read in a consumer group, so several
// workers share the load and an entry is redelivered until some worker
// acknowledges it.
//
// Loop: XGROUP CREATE ... MKSTREAM (once, "BUSYGROUP" is fine), then
// XREADGROUP with id 0 (this consumer's own pending entries: delivered
// before a crash, never acknowledged) until none is left, then with ">"
// (new entries); each entry is processed (here: one JSON line on
// stdout), then XACKed. Delivery is at least once: lifecycle entries are
// deduplicated on their "id" field (a duplicate is printed with
// "dup":true and acknowledged).
//
// Environment:
//   REDIS_URL         redis://127.0.0.1:6379
//   EVENTS_STREAM     ionbus:events ("" to skip; backend.stream.key)
//   LIFECYCLE_STREAM  ""            (backend.lifecycle.stream; "" to skip)
//   GROUP             app
//   CONSUMER          <hostname>-<pid> (keep it stable across restarts to get the pending entries back)
//   GROUP_START       0 (the group reads the stream from its start; "$": only new entries)
"use strict";

const os = require("node:os");
const { createClient } = require("redis");

const REDIS_URL = process.env.REDIS_URL || "redis://127.0.0.1:6379";
const GROUP = process.env.GROUP || "app";
const CONSUMER = process.env.CONSUMER || `${os.hostname()}-${process.pid}`;
const GROUP_START = process.env.GROUP_START || "0";
const EVENTS = process.env.EVENTS_STREAM === undefined ? "ionbus:events" : process.env.EVENTS_STREAM;
const LIFECYCLE = process.env.LIFECYCLE_STREAM || "";
const STREAMS = [EVENTS, LIFECYCLE].filter(Boolean);

function print(o) {
  process.stdout.write(JSON.stringify(o) + "\n");
}

function parse(text) {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

// Lifecycle ids already processed (bounded: the oldest are forgotten).
const seen = new Set();
function firstTime(id) {
  if (seen.has(id)) return false;
  seen.add(id);
  if (seen.size > 100000) seen.delete(seen.values().next().value);
  return true;
}

// handle is the application's work for one entry.
function handle(stream, entry) {
  const f = entry.message;
  if (f.type === "event") {
    // A client event: {namespace, event, args (JSON), ack, socket (JSON), node, time}.
    print({
      stream, entry: entry.id, type: "event", namespace: f.namespace, event: f.event,
      args: parse(f.args), ack: f.ack === "true", socket: parse(f.socket), node: f.node, time: f.time,
    });
    return;
  }
  // A lifecycle event: type, namespace, sid, user, room, reason, node, time, id.
  print({ stream, entry: entry.id, ...f, dup: !firstTime(f.id) });
}

async function ensureGroups(client) {
  for (const key of STREAMS) {
    try {
      await client.xGroupCreate(key, GROUP, GROUP_START, { MKSTREAM: true });
    } catch (e) {
      if (!String(e && e.message).includes("BUSYGROUP")) throw e;
    }
  }
}

async function main() {
  if (STREAMS.length === 0) throw new Error("set EVENTS_STREAM and/or LIFECYCLE_STREAM");
  const client = createClient({ url: REDIS_URL });
  client.on("error", (e) => print({ warn: String(e && e.message || e) }));
  await client.connect();
  await ensureGroups(client);
  print({ ready: true, group: GROUP, consumer: CONSUMER, streams: STREAMS });

  let stopping = false;
  for (const sig of ["SIGINT", "SIGTERM"]) process.on(sig, () => (stopping = true));

  // Own pending entries first, per stream, then new ones.
  const cursor = Object.fromEntries(STREAMS.map((k) => [k, "0"]));
  while (!stopping) {
    const pending = STREAMS.filter((k) => cursor[k] !== ">");
    const keys = pending.length > 0 ? pending : STREAMS;
    let res;
    try {
      res = await client.xReadGroup(GROUP, CONSUMER, keys.map((key) => ({ key, id: cursor[key] })),
        pending.length > 0 ? { COUNT: 100 } : { COUNT: 100, BLOCK: 1000 });
    } catch (e) {
      if (String(e && e.message).includes("NOGROUP")) {
        await ensureGroups(client); // the stream was deleted: start again
        continue;
      }
      print({ warn: String(e && e.message || e) });
      await new Promise((r) => setTimeout(r, 500));
      continue;
    }
    const got = new Map((res || []).map((s) => [s.name, s.messages]));
    for (const key of keys) {
      const messages = (got.get(key) || []).filter(Boolean); // a pending entry trimmed away reads as null
      if (cursor[key] !== ">" && messages.length === 0) {
        cursor[key] = ">"; // no pending entries left
        continue;
      }
      for (const entry of messages) {
        handle(key, entry);
        await client.xAck(key, GROUP, entry.id);
        if (cursor[key] !== ">") cursor[key] = entry.id;
      }
    }
  }
  await client.quit();
}

main().catch((e) => {
  print({ fatal: String(e && e.stack || e) });
  process.exit(1);
});
