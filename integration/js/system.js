// Built-in system events (system_events) through the real
// socket.io-client on a cluster: clients on every node, each event once
// per interval whichever node emits it, the documented payloads, and a
// service posted through the HTTP API showing up in system:health.
//
// usage: URL=<node a> URLS=<node a>,<node b> API=<api of node a> KEY=<api.key>
//        INTERVAL_MS=300 WATCH_MS=3000 node js/system.js events
// Expects, on every node: system:health on "/" (every client),
// system:metrics on "/system" to room "admins" only, and
// system_status_update on "/".
"use strict";
const { io, out, ok, fail, connected, until, sleep, sockets, run, ack } = require("./lib");

const URLS = (process.env.URLS || "").split(",").filter(Boolean);
const API = process.env.API;
const KEY = process.env.KEY;
const INTERVAL = Number(process.env.INTERVAL_MS || 300);
const WATCH = Number(process.env.WATCH_MS || 3000);
const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

function sock(url, nsp) {
  const s = io(url + nsp, { forceNew: true, transports: ["websocket"], reconnection: false });
  sockets.push(s);
  s.seen = [];
  s.onAny((name, ...args) => s.seen.push({ name, at: Date.now(), payload: args[0], argc: args.length }));
  return s;
}

const keys = (o) => Object.keys(o || {}).sort().join(",");
function expectShape(e, want, what) {
  for (const [path, k] of Object.entries(want)) {
    const v = path === "." ? e.payload : path.split(".").reduce((o, p) => (o || {})[p], e.payload);
    if (keys(v) !== k) throw new Error(`${what}: keys of ${path} are ${keys(v)}, want ${k} in ${JSON.stringify(e.payload)}`);
  }
  if (e.argc !== 1) throw new Error(`${what}: ${e.argc} arguments`);
  if (!ISO.test(e.payload.timestamp)) throw new Error(`${what}: timestamp ${e.payload.timestamp} is not ISO 8601 UTC`);
}

// cadence checks one client's events named name seen in [from, to]:
// about one per interval, never two in the same interval.
function cadence(s, name, from, to, what) {
  const list = s.seen.filter((e) => e.name === name && e.at >= from && e.at <= to);
  const expected = (to - from) / INTERVAL;
  if (list.length < expected - 2 || list.length > expected + 1) {
    throw new Error(`${what}: ${list.length} ${name} in ${to - from}ms, want about ${expected.toFixed(1)}`);
  }
  for (let i = 1; i < list.length; i++) {
    const gap = list[i].at - list[i - 1].at;
    if (gap < INTERVAL / 2) throw new Error(`${what}: two ${name} ${gap}ms apart (interval ${INTERVAL}ms): emitted twice`);
  }
  return list;
}

const HEALTH = { ".": "metrics,services,status,timestamp", metrics: "connections,cpu,memory,nodes,uptime" };
const METRICS = {
  ".": "cpu,disk,memory,network,timestamp", cpu: "cores,loadAverage,usage", memory: "free,percentage,total,used",
  disk: "free,percentage,total,used", network: "bytesReceived,bytesSent,packetsReceived,packetsSent",
};
const STATUS = { ".": "component,metrics,status,timestamp", metrics: "active_connections,cpu_usage,memory_usage,total_connections" };

run({
  async events() {
    if (URLS.length < 2 || !API || !KEY) fail("URLS (two or more), API and KEY are required");
    const nodes = URLS.map((url, i) => ({
      name: String.fromCharCode(97 + i),
      root: sock(url, "/"),
      admin: sock(url, "/system"),
      plain: sock(url, "/system"),
    }));
    for (const n of nodes) await Promise.all([connected(n.root), connected(n.admin), connected(n.plain)]);
    for (const n of nodes) {
      const res = await ack(n.admin, "join_room", { room_name: "admins" });
      if (!res || !res.success) throw new Error(`join admins on ${n.name}: ${JSON.stringify(res)}`);
    }
    ok(`${nodes.length * 3} clients on ${nodes.length} nodes`);

    const from = Date.now();
    await sleep(WATCH);
    const to = Date.now();
    const result = { counts: {}, sequences: {} };
    for (const n of nodes) {
      const h = cadence(n.root, "system:health", from, to, `health on ${n.name}`);
      const st = cadence(n.root, "system_status_update", from, to, `status on ${n.name}`);
      const m = cadence(n.admin, "system:metrics", from, to, `metrics on ${n.name}`);
      h.forEach((e) => expectShape(e, HEALTH, `health on ${n.name}`));
      st.forEach((e) => expectShape(e, STATUS, `status on ${n.name}`));
      m.forEach((e) => expectShape(e, METRICS, `metrics on ${n.name}`));
      const last = h[h.length - 1].payload;
      if (last.services.redis !== "online" || last.status !== "healthy") throw new Error(`health on ${n.name}: ${JSON.stringify(last)}`);
      if (last.metrics.nodes !== nodes.length || last.metrics.connections !== nodes.length * 3) {
        throw new Error(`health on ${n.name} counts ${JSON.stringify(last.metrics)}, want ${nodes.length} nodes, ${nodes.length * 3} connections`);
      }
      const sm = st[st.length - 1].payload;
      if (sm.component !== "websocket_server" || sm.status !== "online" || sm.metrics.active_connections !== nodes.length * 3) {
        throw new Error(`status on ${n.name}: ${JSON.stringify(sm)}`);
      }
      const mm = m[m.length - 1].payload;
      if (!(mm.cpu.cores > 0) || !(mm.memory.total > 0) || mm.cpu.loadAverage.length !== 3) throw new Error(`metrics on ${n.name}: ${JSON.stringify(mm)}`);
      const leaked = n.plain.seen.filter((e) => e.name === "system:metrics").length + n.root.seen.filter((e) => e.name === "system:metrics").length;
      if (leaked) throw new Error(`system:metrics reached ${leaked} clients outside the admins room on ${n.name}`);
      result.counts[n.name] = { health: h.length, status: st.length, metrics: m.length };
      result.sequences[n.name] = {
        health: h.map((e) => e.payload.timestamp),
        metrics: m.map((e) => e.payload.timestamp),
      };
    }
    ok("one event per interval on every node, documented shapes, metrics to admins only");

    // A backend posts a service; every node's clients see it.
    const res = await fetch(API + "/api/v1/services", {
      method: "POST",
      headers: { authorization: "Bearer " + KEY, "content-type": "application/json" },
      body: JSON.stringify({ name: "database", status: "online", ttl_ms: 60000 }),
    });
    if (res.status !== 200) throw new Error(`POST /api/v1/services: ${res.status} ${await res.text()}`);
    const posted = Date.now();
    for (const n of nodes) {
      const e = await until(`database in system:health on ${n.name}`, () =>
        n.root.seen.find((e) => e.name === "system:health" && e.at > posted && e.payload.services.database === "online"), 5000);
      if (e.payload.services.redis !== "online" || e.payload.status !== "healthy") throw new Error(JSON.stringify(e.payload));
    }
    ok("posted service merged into system:health");
    await fetch(API + "/api/v1/services", {
      method: "POST",
      headers: { authorization: "Bearer " + KEY, "content-type": "application/json" },
      body: JSON.stringify({ name: "database", status: "offline", ttl_ms: 60000 }),
    });
    const marked = Date.now();
    for (const n of nodes) {
      await until(`database offline on ${n.name}`, () =>
        n.root.seen.find((e) => e.name === "system:health" && e.at > marked && e.payload.services.database === "offline" && e.payload.status === "degraded"), 5000);
    }
    ok("a service offline degrades system:health");
    out({ result });
  },
});
