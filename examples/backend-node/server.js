// An application backend for ionbus's backend bridge, in plain Node
// (>= 18, no dependencies: node:http and node:crypto only).
//
// ionbus POSTs every hook to one URL (POST /ionbus here), signed with
// X-Ionbus-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, t + "." + body)>.
// This server
//   - verifies the signature in constant time and refuses a timestamp
//     outside a replay window (401, nothing is processed);
//   - "connect": maps an opaque session id, read from the "sid" cookie
//     (Express-style; "session" is accepted too), to a user in an
//     in-memory session store, and answers the user, the socket data and
//     rooms, or {"error":{"code":"AUTH_INVALID_SESSION"}};
//   - "refresh": the same check for a connected socket (logout ends it);
//   - "event": request_caption_status (ack and emit), chat_join /
//     chat_leave (join and leave answers), chat_* (recorded in order);
//   - "lifecycle": the webhook batches of connection events.
//
// Other endpoints, for people and tests:
//   POST /login   {"user","password"} -> Set-Cookie: sid=...; {"session":"...","user":{...}}
//   POST /logout  (with the cookie)    -> the session is gone
//   GET  /received[?socket=<sid>]      -> the events each socket sent, in arrival order
//   GET  /lifecycle                    -> the lifecycle events received by webhook
//   GET  /healthz                      -> {"status":"ok"}
//
// Environment:
//   IONBUS_BACKEND_SECRET  the HMAC key, the same as the nodes' (required)
//   PORT (5000), HOST (127.0.0.1)
//   SIGNATURE_TOLERANCE    replay window in seconds (300)
//   USERS                  "id:password:Name:role|role,..." (default: alice and bob)
//   SESSIONS               "sessionid:userid,..." sessions to create at start
//   QUIET=1                no JSON line per hook on stdout
"use strict";

const http = require("node:http");
const crypto = require("node:crypto");

const SECRET = process.env.IONBUS_BACKEND_SECRET || "";
const PORT = Number(process.env.PORT || 5000);
const HOST = process.env.HOST || "127.0.0.1";
const TOLERANCE_S = Number(process.env.SIGNATURE_TOLERANCE || 300);
const QUIET = process.env.QUIET === "1";
const MAX_BODY = 1 << 20; // ionbus's default backend.max_body_bytes

if (!SECRET) {
  console.error("IONBUS_BACKEND_SECRET is required (the same value as the ionbus nodes' backend.secret)");
  process.exit(2);
}

function log(o) {
  if (!QUIET) process.stdout.write(JSON.stringify({ t: new Date().toISOString(), ...o }) + "\n");
}

// ---------------------------------------------------------------------------
// Users and sessions (in memory: a real app keeps them in its database or
// in Redis, shared with its web tier).

const users = new Map(); // id -> {id, name, roles, password}
for (const spec of (process.env.USERS || "alice:alice-pw:Alice:admin|editor,bob:bob-pw:Bob:viewer").split(",")) {
  const [id, password, name, roles] = spec.split(":");
  if (id) users.set(id, { id, password: password || "", name: name || id, roles: roles ? roles.split("|") : [] });
}

const sessions = new Map(); // opaque session id -> {user, created}
for (const spec of (process.env.SESSIONS || "").split(",").filter(Boolean)) {
  const [sid, user] = spec.split(":");
  if (users.has(user)) sessions.set(sid, { user, created: Date.now() });
}

function newSession(user) {
  const sid = crypto.randomBytes(24).toString("base64url"); // opaque, unguessable
  sessions.set(sid, { user, created: Date.now() });
  return sid;
}

function parseCookies(header) {
  const out = {};
  for (const part of (header || "").split(";")) {
    const i = part.indexOf("=");
    if (i < 0) continue;
    const k = part.slice(0, i).trim();
    let v = part.slice(i + 1).trim();
    try {
      v = decodeURIComponent(v);
    } catch {
      // keep it raw
    }
    if (k && !(k in out)) out[k] = v;
  }
  return out;
}

// sessionUser resolves the handshake's cookie header to a user, or null.
function sessionUser(headers) {
  const cookies = parseCookies(headers && headers.cookie);
  const sid = cookies.sid || cookies.session;
  const s = sid && sessions.get(sid);
  const u = s && users.get(s.user);
  return u ? { user: u, session: s } : null;
}

function publicUser(u) {
  return { id: u.id, name: u.name, roles: u.roles };
}

// ---------------------------------------------------------------------------
// Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, t + "." + raw body)>

function verifySignature(header, body) {
  if (typeof header !== "string") return "missing signature";
  let ts = "";
  const sigs = [];
  for (const part of header.split(",")) {
    const i = part.indexOf("=");
    if (i < 0) return "malformed signature";
    const k = part.slice(0, i).trim();
    const v = part.slice(i + 1).trim();
    if (k === "t") ts = v;
    else if (k === "v1" && /^[0-9a-f]{64}$/i.test(v)) sigs.push(Buffer.from(v, "hex"));
  }
  if (!/^\d+$/.test(ts) || sigs.length === 0) return "malformed signature";
  const want = crypto.createHmac("sha256", SECRET).update(ts + ".").update(body).digest();
  // Constant time: every candidate is compared, equal lengths guaranteed above.
  let ok = false;
  for (const s of sigs) ok = crypto.timingSafeEqual(s, want) || ok;
  if (!ok) return "signature mismatch";
  // Checked after the MAC, so a forger learns nothing from the answer.
  if (Math.abs(Date.now() / 1000 - Number(ts)) > TOLERANCE_S) return "timestamp outside the replay window";
  return null;
}

// ---------------------------------------------------------------------------
// Hooks

const received = new Map(); // socket id -> [{event, seq, ack, ...}] in arrival order
const lifecycle = []; // webhook lifecycle events, deduplicated on id
const lifecycleIDs = new Set();

function record(sock, ev) {
  let list = received.get(sock);
  if (!list) received.set(sock, (list = []));
  list.push(ev);
}

function onConnect(req) {
  const found = sessionUser(req.headers);
  if (!found) {
    log({ hook: "connect", namespace: req.namespace, sid: req.sid, admitted: false });
    return { error: { code: "AUTH_INVALID_SESSION", message: "no valid session; log in again" } };
  }
  const { user } = found;
  log({ hook: "connect", namespace: req.namespace, sid: req.sid, user: user.id, admitted: true });
  return {
    user: publicUser(user),
    // The socket's data: sent back with every event hook of this socket.
    data: { plan: user.roles.includes("admin") ? "pro" : "free", since: found.session.created },
    // Rooms joined when the socket is connected (ionbus adds auto_join rooms).
    rooms: user.roles.map((r) => "role:" + r),
  };
}

function onRefresh(req) {
  const found = sessionUser(req.headers);
  if (!found || !req.user || found.user.id !== req.user.id) {
    return { error: { code: "AUTH_INVALID_SESSION", message: "session ended" } };
  }
  return { user: publicUser(found.user) };
}

function onEvent(req) {
  const sock = req.socket || {};
  const arg = Array.isArray(req.args) && req.args.length > 0 ? req.args[0] : undefined;
  const obj = arg && typeof arg === "object" && !Array.isArray(arg) ? arg : {};
  const user = sock.user ? sock.user.id : null;
  record(sock.id, { event: req.event, seq: obj.seq === undefined ? null : obj.seq, ack: !!req.ack, user });
  log({ hook: "event", event: req.event, socket: sock.id, user, seq: obj.seq, ack: !!req.ack });

  switch (req.event) {
    case "request_caption_status": {
      if (typeof obj.job_id !== "string" || obj.job_id === "") {
        return { error: { code: "INVALID_JOB", message: "job_id is required", data: { field: "job_id" } } };
      }
      const status = { job_id: obj.job_id, status: "ready", progress: 100, checked_by: user };
      // emit goes to the calling socket before the ack; a client that
      // did not ask for an ack gets the status as an event only.
      return { emit: [{ event: "caption_status", args: [status] }], ack: [status] };
    }
    case "chat_join":
    case "chat_leave": {
      if (typeof obj.room !== "string" || !/^[\w-]{1,64}$/.test(obj.room)) {
        return { error: { code: "INVALID_ROOM", message: "room must be 1-64 word characters" } };
      }
      const room = "chat:" + obj.room;
      return req.event === "chat_join" ? { join: [room], ack: [{ ok: true, room }] } : { leave: [room], ack: [{ ok: true, room }] };
    }
    default:
      if (req.event.startsWith("chat_")) {
        // chat_message and friends: store it (here: record), answer the ack.
        return req.ack ? { ack: [{ ok: true, seq: obj.seq === undefined ? null : obj.seq }] } : {};
      }
      return { error: { code: "UNKNOWN_EVENT", message: "no handler for " + req.event } };
  }
}

function onLifecycle(req) {
  for (const ev of req.events || []) {
    if (lifecycleIDs.has(ev.id)) continue; // delivery is at least once: dedupe on id
    lifecycleIDs.add(ev.id);
    lifecycle.push(ev);
    log({ hook: "lifecycle", ...ev });
  }
  return {};
}

function dispatch(req) {
  switch (req.type) {
    case "connect":
      return onConnect(req);
    case "refresh":
      return onRefresh(req);
    case "event":
      return onEvent(req);
    case "lifecycle":
      return onLifecycle(req);
    default:
      return null;
  }
}

// ---------------------------------------------------------------------------
// HTTP

function send(res, status, obj, headers) {
  const body = JSON.stringify(obj);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(body), ...headers });
  res.end(body);
}

function readBody(req, cb) {
  const chunks = [];
  let size = 0;
  let failed = false;
  req.on("data", (c) => {
    if (failed) return;
    size += c.length;
    if (size > MAX_BODY) {
      failed = true;
      cb(new Error("body too large"));
      req.destroy();
      return;
    }
    chunks.push(c);
  });
  req.on("end", () => {
    if (!failed) cb(null, Buffer.concat(chunks));
  });
  req.on("error", (e) => {
    if (!failed) {
      failed = true;
      cb(e);
    }
  });
}

function parseJSON(buf) {
  try {
    const v = JSON.parse(buf.toString("utf8"));
    return v && typeof v === "object" && !Array.isArray(v) ? v : null;
  } catch {
    return null;
  }
}

const server = http.createServer((req, res) => {
  const url = new URL(req.url, "http://x");
  if (req.method === "POST" && url.pathname === "/ionbus") {
    return readBody(req, (err, body) => {
      if (err) return send(res, 413, { error: "too large" });
      const bad = verifySignature(req.headers["x-ionbus-signature"], body);
      if (bad) {
        log({ hook: "refused", reason: bad, node: req.headers["x-ionbus-node"] || null });
        return send(res, 401, { error: bad });
      }
      const hook = parseJSON(body);
      const answer = hook && dispatch(hook);
      if (!answer) return send(res, 400, { error: "unknown hook" });
      send(res, 200, answer);
    });
  }
  if (req.method === "POST" && url.pathname === "/login") {
    return readBody(req, (err, body) => {
      const cred = !err && parseJSON(body);
      const u = cred && users.get(cred.user);
      if (!u || typeof cred.password !== "string" || u.password.length !== cred.password.length ||
          !crypto.timingSafeEqual(Buffer.from(u.password), Buffer.from(cred.password))) {
        return send(res, 401, { error: "bad credentials" });
      }
      const sid = newSession(u.id);
      send(res, 200, { session: sid, user: publicUser(u) }, { "set-cookie": `sid=${sid}; Path=/; HttpOnly; SameSite=Lax` });
    });
  }
  if (req.method === "POST" && url.pathname === "/logout") {
    const cookies = parseCookies(req.headers.cookie);
    sessions.delete(cookies.sid || cookies.session);
    return send(res, 200, { ok: true }, { "set-cookie": "sid=; Path=/; Max-Age=0" });
  }
  if (req.method === "GET" && url.pathname === "/received") {
    const sock = url.searchParams.get("socket");
    if (sock) return send(res, 200, { socket: sock, events: received.get(sock) || [] });
    return send(res, 200, { sockets: Object.fromEntries(received) });
  }
  if (req.method === "GET" && url.pathname === "/lifecycle") return send(res, 200, { events: lifecycle });
  if (req.method === "GET" && url.pathname === "/healthz") return send(res, 200, { status: "ok" });
  send(res, 404, { error: "not found" });
});

server.keepAliveTimeout = 65000; // longer than ionbus's idle connections, so none is cut mid-request
server.listen(PORT, HOST, () => log({ listening: `http://${HOST}:${server.address().port}/ionbus` }));

for (const sig of ["SIGINT", "SIGTERM"]) process.on(sig, () => server.close(() => process.exit(0)).closeAllConnections());
