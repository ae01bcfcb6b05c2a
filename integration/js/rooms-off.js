// Connects socket.io-client to URL (namespace NSP, default "/"), emits
// join_room and leave_room with an ack and join_room without one, and
// prints one JSON line: {"acks":[..],"errors":[..]} with the acks and the
// "error" events received (or {"fatal":".."}).
//
// usage: URL=http://127.0.0.1:4000 [NSP=/] node js/rooms-off.js
"use strict";
const path = require("path");
const { io } = require(path.join(__dirname, "..", "node_modules", "socket.io-client"));

setTimeout(() => { console.log(JSON.stringify({ fatal: "timeout" })); process.exit(2); }, 10000).unref();

const socket = io(process.env.URL + (process.env.NSP || "/"), { transports: ["websocket"], reconnection: false });
const errors = [];
socket.on("error", (e) => errors.push(e));
socket.on("connect_error", (e) => { console.log(JSON.stringify({ fatal: "connect_error " + e.message })); process.exit(1); });
socket.on("connect", async () => {
  const acks = [];
  acks.push(await socket.timeout(3000).emitWithAck("join_room", { room_name: "lobby", room_type: "chat" }));
  acks.push(await socket.timeout(3000).emitWithAck("leave_room", { room_name: "lobby" }));
  socket.emit("join_room", "lobby"); // no ack: the error event alone
  const deadline = Date.now() + 3000;
  while (errors.length < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  console.log(JSON.stringify({ acks, errors }));
  socket.close();
  process.exit(0);
});
