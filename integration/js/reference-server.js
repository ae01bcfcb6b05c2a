// Reference server: the same test application as integration/app_test.go,
// built on the real socket.io@4.8.1 package. The scenario runner
// (js/client.js) must pass against it before its verdict on ionbus counts.
//
// Env: PORT (default 0 = random), PING_INTERVAL_MS, PING_TIMEOUT_MS,
// MAX_PAYLOAD (maxHttpBufferSize), CORS_ORIGIN (cors: that origin, with
// credentials), RECOVERY_MS (connectionStateRecovery
// maxDisconnectionDuration; 0 disables), PER_MESSAGE_DEFLATE=1
// (perMessageDeflate as ionbus negotiates it: 1 KiB threshold, no context
// takeover either way), PARSER=msgpack (socket.io-msgpack-parser),
// TIMEOUT_MS (self-destruct, default
// 120000). Prints one JSON line {"url": "..."} once listening.
"use strict";
const http = require("http");
const { Server } = require("socket.io");

const env = (k, d) => (process.env[k] !== undefined && process.env[k] !== "" ? Number(process.env[k]) : d);

const opts = {
  pingInterval: env("PING_INTERVAL_MS", 25000),
  pingTimeout: env("PING_TIMEOUT_MS", 20000),
  maxHttpBufferSize: env("MAX_PAYLOAD", 1e6),
};
if (process.env.CORS_ORIGIN) {
  opts.cors = { origin: [process.env.CORS_ORIGIN], credentials: true };
}
if (env("RECOVERY_MS", 0) > 0) {
  opts.connectionStateRecovery = { maxDisconnectionDuration: env("RECOVERY_MS", 0), skipMiddlewares: true };
}

if (process.env.PER_MESSAGE_DEFLATE === "1") {
  opts.perMessageDeflate = { threshold: 1024, serverNoContextTakeover: true, clientNoContextTakeover: true };
}

if (process.env.PARSER === "msgpack") {
  opts.parser = require("socket.io-msgpack-parser");
}

const httpServer = http.createServer();
const io = new Server(httpServer, opts);

// Disconnect records, newest last: what the "server-log" event returns.
const log = [];

function app(nsp) {
  nsp.on("connection", (socket) => {
    log.push({ kind: "connect", id: socket.id, nsp: nsp.name, recovered: socket.recovered });
    socket.on("disconnect", (reason) => log.push({ kind: "disconnect", id: socket.id, nsp: socket.nsp.name, reason }));
    socket.on("echo", (...args) => {
      const ack = args.pop();
      ack(...args);
    });
    socket.on("emit-back", (event, ...args) => socket.emit(event, ...args));
    socket.on("whoami", (ack) =>
      ack({
        id: socket.id,
        sid: socket.conn.id,
        transport: socket.conn.transport.name,
        nsp: socket.nsp.name,
        rooms: [...socket.rooms].sort(),
        recovered: socket.recovered,
      }),
    );
    socket.on("join", (rooms, ack) => {
      socket.join(rooms);
      ack(true);
    });
    socket.on("leave", (room, ack) => {
      socket.leave(room);
      ack(true);
    });
    // Server-initiated emit with ack: the client's answer comes back in ack.
    socket.on("ask", async (payload, timeoutMs, ack) => {
      try {
        const answer = await socket.timeout(timeoutMs).emitWithAck("question", payload);
        ack({ answer });
      } catch (err) {
        ack({ err: "timeout" });
      }
    });
    socket.on("broadcast", (o, ack) => {
      let op = o.fromSocket ? socket.broadcast : socket.nsp;
      if (o.fromSocket && o.to && o.to.length) op = socket.to(o.to);
      else if (o.to && o.to.length) op = op.to(o.to);
      if (o.except && o.except.length) op = op.except(o.except);
      if (o.volatile) op = op.volatile;
      if (o.local) op = op.local;
      op.emit(o.event, ...(o.args || []));
      ack(true);
    });
    socket.on("disconnect-me", (close) => socket.disconnect(close));
    // stream: count numbered "tick" events, back to back.
    socket.on("stream", (count) => {
      for (let i = 0; i < count; i++) socket.emit("tick", i);
    });
    socket.on("shutdown-server", () => io.close());
    socket.on("server-log", (ack) => ack(log));
    socket.on("engine-count", (ack) => ack(io.engine.clientsCount));
  });
}

for (const name of ["/", "/a", "/b", "/c"]) app(io.of(name));
const authNsp = io.of("/auth");
authNsp.use((socket, next) => {
  if (socket.handshake.auth && socket.handshake.auth.token === "good") return next();
  const err = new Error("Authentication failed");
  err.data = { code: "AUTH_REQUIRED" };
  next(err);
});
app(authNsp);
app(io.of(/^\/dyn-\d+$/));

httpServer.listen(env("PORT", 0), "127.0.0.1", () => {
  console.log(JSON.stringify({ url: `http://127.0.0.1:${httpServer.address().port}` }));
});
setTimeout(() => process.exit(0), env("TIMEOUT_MS", 120000)).unref();
process.on("SIGTERM", () => process.exit(0));
