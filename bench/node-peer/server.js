#!/usr/bin/env node
// Node peer for `ionbus bench`: a plain socket.io@4.8 server offering the same
// surface the bench drives on ionbus, so both are measured with one client.
//
//   socket.io   127.0.0.1:$PORT (default 3000), path $IO_PATH (default /socket.io/)
//   HTTP API    127.0.0.1:$API_PORT (default 3001): POST /api/v1/emit
//               Authorization: Bearer $API_KEY (checked only when API_KEY is set)
//               {"namespace":"/","event":"bench","data":[...],"rooms":[...],"except":[...]}
//   events      join_room {room_name}  -> join, emit room_joined {room_name}, ack {ok:true}
//               leave_room {room_name} -> leave, ack
//               echo / message-with-ack ...args, ack -> ack(...args)
//               $TRIGGER_EVENT (default bench_emit) <emit body>, ack -> broadcast like the API, ack
//
// Flags mirror the env: --port N --api-port N --path P --api-key K
// --trigger-event NAME --ping-interval MS --ping-timeout MS (defaults 25000/20000).
// socket.io is resolved from NODE_PATH, then ../../integration/node_modules.
'use strict';

const http = require('http');
const path = require('path');

function load(name) {
  try {
    return require(name);
  } catch (err) {
    return require(path.join(__dirname, '..', '..', 'integration', 'node_modules', name));
  }
}
const { Server } = load('socket.io');

const args = process.argv.slice(2);
function opt(flag, env, def) {
  const i = args.indexOf(flag);
  if (i >= 0 && i + 1 < args.length) return args[i + 1];
  return process.env[env] !== undefined ? process.env[env] : def;
}
const port = Number(opt('--port', 'PORT', 3000));
const apiPort = Number(opt('--api-port', 'API_PORT', 3001));
const ioPath = opt('--path', 'IO_PATH', '/socket.io/');
const apiKey = opt('--api-key', 'API_KEY', '');
const triggerEvent = opt('--trigger-event', 'TRIGGER_EVENT', 'bench_emit');
const pingInterval = Number(opt('--ping-interval', 'PING_INTERVAL', 25000)); // ms
const pingTimeout = Number(opt('--ping-timeout', 'PING_TIMEOUT', 20000)); // ms
const host = '127.0.0.1';

const httpServer = http.createServer((req, res) => {
  res.writeHead(404).end();
});
const io = new Server(httpServer, {
  path: ioPath,
  cors: { origin: true, credentials: true },
  pingInterval,
  pingTimeout,
  maxHttpBufferSize: 1e6,
});

// broadcast applies an emit body the way ionbus's API does.
function broadcast(body) {
  if (!body || typeof body.event !== 'string' || body.event === '') {
    throw new Error('event is required');
  }
  const nsp = io.of(typeof body.namespace === 'string' && body.namespace ? body.namespace : '/');
  let op = nsp;
  if (Array.isArray(body.rooms) && body.rooms.length) op = op.to(body.rooms);
  if (Array.isArray(body.except) && body.except.length) op = op.except(body.except);
  const data = Array.isArray(body.data) ? body.data : body.data === undefined ? [] : [body.data];
  op.emit(body.event, ...data);
}

function onConnection(socket) {
  socket.on('join_room', (payload, ack) => {
    const room = payload && payload.room_name;
    if (typeof room !== 'string' || room === '') {
      if (typeof ack === 'function') ack({ ok: false, error: 'room_name required' });
      return;
    }
    socket.join(room);
    socket.emit('room_joined', { room_name: room });
    if (typeof ack === 'function') ack({ ok: true, room_name: room });
  });
  socket.on('leave_room', (payload, ack) => {
    if (payload && payload.room_name) socket.leave(payload.room_name);
    if (typeof ack === 'function') ack({ ok: true });
  });
  // echo, and message-with-ack as in the official protocol test server
  // (ionbus's conformance profile answers that one too).
  const echo = (...a) => {
    const ack = typeof a[a.length - 1] === 'function' ? a.pop() : null;
    if (ack) ack(...a);
  };
  socket.on('echo', echo);
  socket.on('message-with-ack', echo);
  socket.on(triggerEvent, (body, ack) => {
    try {
      broadcast(body);
      if (typeof ack === 'function') ack({ ok: true });
    } catch (err) {
      if (typeof ack === 'function') ack({ ok: false, error: String(err.message) });
    }
  });
}
io.of('/').on('connection', onConnection);
io.of(/^\/.+$/).on('connection', onConnection);

const api = http.createServer((req, res) => {
  const reply = (status, obj) => {
    res.writeHead(status, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify(obj));
  };
  if (req.method !== 'POST' || req.url !== '/api/v1/emit') return reply(404, { error: 'not found' });
  if (apiKey && req.headers.authorization !== 'Bearer ' + apiKey) return reply(401, { error: 'unauthorized' });
  const chunks = [];
  let size = 0;
  req.on('data', (c) => {
    size += c.length;
    if (size > 1 << 20) {
      reply(413, { error: 'body too large' });
      req.destroy();
      return;
    }
    chunks.push(c);
  });
  req.on('end', () => {
    if (res.writableEnded) return;
    let body;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch (err) {
      return reply(400, { error: 'invalid JSON' });
    }
    try {
      broadcast(body);
    } catch (err) {
      return reply(400, { error: String(err.message) });
    }
    reply(200, { ok: true });
  });
});

httpServer.listen(port, host, () => {
  api.listen(apiPort, host, () => {
    // The bench scripts wait for this line.
    console.log(`node-peer listening io=http://${host}:${httpServer.address().port}${ioPath} api=http://${host}:${api.address().port} pid=${process.pid}`);
  });
});

function shutdown() {
  io.close();
  api.close();
  setTimeout(() => process.exit(0), 500).unref();
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
