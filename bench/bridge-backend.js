// A minimal app backend for bench/bridge.sh: verifies every request's
// X-Ionbus-Signature like a real backend, admits any "session=<id>"
// cookie as user <id>, acks forwarded events with their own arguments,
// and counts the hooks it served (printed as JSON on SIGTERM and at
// GET /counts). Node >= 18, standard library only.
//
//   PORT=5055 IONBUS_BACKEND_SECRET=s node bench/bridge-backend.js
"use strict";
const http = require("http");
const crypto = require("crypto");

const port = Number(process.env.PORT || 5055);
const secret = process.env.IONBUS_BACKEND_SECRET || "";
const counts = { connect: 0, event: 0, lifecycle: 0, refresh: 0, forged: 0 };

function verified(req, body) {
  if (!secret) return true;
  const h = req.headers["x-ionbus-signature"] || "";
  const t = /(?:^|,)t=(\d+)/.exec(h);
  const v = /(?:^|,)v1=([0-9a-f]{64})/.exec(h);
  if (!t || !v || Math.abs(Date.now() / 1000 - Number(t[1])) > 300) return false;
  const want = crypto.createHmac("sha256", secret).update(t[1] + "." + body).digest();
  return crypto.timingSafeEqual(want, Buffer.from(v[1], "hex"));
}

function answer(res, code, obj) {
  const b = JSON.stringify(obj);
  res.writeHead(code, { "content-type": "application/json", "content-length": Buffer.byteLength(b) });
  res.end(b);
}

http.createServer((req, res) => {
  if (req.method === "GET" && req.url === "/counts") return answer(res, 200, counts);
  const chunks = [];
  req.on("data", (c) => chunks.push(c));
  req.on("end", () => {
    const body = Buffer.concat(chunks).toString("utf8");
    if (!verified(req, body)) {
      counts.forged++;
      return answer(res, 401, { error: { code: "FORGED" } });
    }
    const m = JSON.parse(body);
    counts[m.type] = (counts[m.type] || 0) + 1;
    switch (m.type) {
      case "connect": {
        const s = /(?:^|;\s*)session=([^;]+)/.exec((m.headers && m.headers.cookie) || "");
        if (!s) return answer(res, 200, { error: { code: "AUTH_INVALID_SESSION", message: "no session" } });
        return answer(res, 200, { user: { id: s[1], name: s[1], roles: [] } });
      }
      case "event":
        return answer(res, 200, m.ack ? { ack: m.args } : {});
      default:
        return answer(res, 200, {});
    }
  });
}).listen(port, "127.0.0.1", () => console.error(`bench backend on 127.0.0.1:${port}`));

process.on("SIGTERM", () => {
  console.log(JSON.stringify(counts));
  process.exit(0);
});
