// Scenario runner: drives the real socket.io-client@4.8.1 against a server
// running the integration test application (ionbus in integration/*_test.go,
// or js/reference-server.js).
//
// Usage: URL=http://127.0.0.1:PORT node js/client.js <scenario>
// Env:   URL (required), TIMEOUT_MS (default 15000), TRANSPORT (binary
//        scenario: "websocket" or "polling"), PING_INTERVAL_MS and
//        PING_TIMEOUT_MS (heartbeat scenario: the server's settings).
//
// Output: one JSON object per line. {"ok": "<check>"} for each passed
// check, {"result": {...}} with data for the Go test, {"ready": ...} when
// the script waits for the Go test to act, {"fail": "<message>"} on
// failure (exit status 1), {"done": "<scenario>"} on success (status 0).
// A global timer fails the run after TIMEOUT_MS (exit status 2): it never
// hangs.
"use strict";
const {
  io, Manager, URL, out, ok, fail, client, parserOpts, connected, connectError, once, sleep, ack, until,
  norm, eq, serverLog, disconnectReason, nextInput, sockets, run,
} = require("./lib");

const scenarios = {
  async "transport-websocket"() {
    const s = await connected(client("", { transports: ["websocket"] }));
    eq(s.io.engine.transport.name, "websocket", "client transport");
    const me = await ack(s, "whoami");
    eq(me.transport, "websocket", "server transport");
    eq(me.id, s.id, "socket id");
    eq(await ack(s, "echo", "hi", 1), "hi", "echo");
    out({ result: { id: s.id, sid: me.sid } });
  },

  async "transport-polling"() {
    const s = await connected(client("", { transports: ["polling"] }));
    eq(s.io.engine.transport.name, "polling", "client transport");
    const me = await ack(s, "whoami");
    eq(me.transport, "polling", "server transport");
    // Many packets in flight at once: exercises payload batching both ways.
    const answers = await Promise.all([...Array(50).keys()].map((i) => ack(s, "echo", i)));
    eq(answers, [...Array(50).keys()], "50 concurrent echoes");
    const got = once(s, "pushed");
    s.emit("emit-back", "pushed", { a: 1 }, "x");
    eq(await got, [{ a: 1 }, "x"], "server push over polling");
    eq(s.io.engine.transport.name, "polling", "still polling");
    out({ result: { id: s.id, sid: me.sid } });
  },

  // The fetch-based polling transport sends Accept-Encoding (undici:
  // gzip, deflate, br) and decodes the answer, as a browser does; the
  // default Node XHR transport asks for neither. Bodies over 1 KiB come
  // back compressed (the Go test reads the server's counter).
  async "polling-compressed"() {
    const { Fetch } = require("engine.io-client");
    const s = await connected(client("", { transports: [Fetch] }));
    eq(s.io.engine.transport.name, "polling", "client transport");
    const big = { file: "report.pdf", chunks: [...Array(100).keys()].map((i) => ({ i, progress: i / 100, note: "downloading" })) };
    eq(await ack(s, "echo", big), big, "2 KiB echo over compressed polling");
    const got = once(s, "pushed");
    s.emit("emit-back", "pushed", big, "é€");
    eq(await got, [big, "é€"], "server push over compressed polling");
    eq(await ack(s, "echo", "small"), "small", "small answer, not compressed");
    out({ result: { id: s.id, bytes: JSON.stringify(big).length } });
  },

  // socket.io-client in Node (the ws library) offers permessage-deflate
  // and compresses its own messages of 1 KiB or more.
  async "websocket-deflate"() {
    const s = await connected(client("", { transports: ["websocket"] }));
    const ext = s.io.engine.transport.ws._extensions || {};
    eq(Object.keys(ext), ["permessage-deflate"], "extension negotiated");
    const p = ext["permessage-deflate"].params || {};
    eq([!!p.server_no_context_takeover, !!p.client_no_context_takeover], [true, true], "no context takeover");
    const big = { file: "report.pdf", chunks: [...Array(100).keys()].map((i) => ({ i, progress: i / 100, note: "downloading" })) };
    eq(await ack(s, "echo", big), big, "2 KiB echo, compressed both ways");
    const bin = Buffer.alloc(4096, 7);
    const back = await ack(s, "echo", bin);
    eq(Buffer.compare(Buffer.from(back), bin), 0, "4 KiB binary echo");
    eq(await ack(s, "echo", "small"), "small", "small echo, not compressed");
    out({ result: { id: s.id } });
  },

  async "transport-upgrade"() {
    const s = client();
    // The Manager opens its engine synchronously: look before any I/O.
    const first = s.io.engine.transport.name;
    let upgradedTo = "";
    s.io.engine.on("upgrade", (t) => (upgradedTo = t.name));
    await connected(s);
    eq(first, "polling", "starts with polling");
    await until("upgrade to websocket", () => s.io.engine.transport.name === "websocket");
    eq(upgradedTo, "websocket", "engine upgrade event");
    const me = await ack(s, "whoami");
    eq(me.transport, "websocket", "server transport after upgrade");
    eq(await ack(s, "echo", { after: "upgrade" }), { after: "upgrade" }, "echo after upgrade");
    out({ result: { id: s.id, sid: me.sid, first } });
  },

  // Traffic both ways while the polling→websocket upgrade runs: nothing
  // lost, nothing reordered.
  async "upgrade-ordering"() {
    const N = 300;
    const s = client();
    const ticks = [];
    s.on("tick", (i) => ticks.push(i));
    await connected(s);
    const startedOn = s.io.engine.transport.name;
    s.emit("stream", N);
    const acks = await Promise.all([...Array(N).keys()].map((i) => s.timeout(10000).emitWithAck("echo", i)));
    eq(acks, [...Array(N).keys()], "acks complete and matched");
    await until("every tick", () => ticks.length >= N, 5000);
    eq(ticks, [...Array(N).keys()], "server events complete and in order");
    await until("upgrade to websocket", () => s.io.engine.transport.name === "websocket");
    ok("upgraded (started on " + startedOn + ")");
    // And once more on the websocket.
    ticks.length = 0;
    s.emit("stream", 50);
    await until("ticks after the upgrade", () => ticks.length >= 50, 5000);
    eq(ticks, [...Array(50).keys()], "server events after the upgrade");
  },

  // The server shuts down: clients see a transport close (not "io server
  // disconnect") and try to reconnect; server handlers see "server
  // shutting down".
  async shutdown() {
    const ws = await connected(client("", { transports: ["websocket"] }));
    const poll = await connected(client("", { transports: ["polling"] }));
    const ids = [ws.id, poll.id];
    const reasons = [ws, poll].map((s) => once(s, "disconnect"));
    const attempts = [ws, poll].map((s) => once(s.io, "reconnect_attempt"));
    ws.emit("shutdown-server");
    const [[wsReason], [pollReason]] = await Promise.all(reasons);
    eq(wsReason, "transport close", "websocket client reason");
    // The reference gives "transport error" (its HTTP server is gone, the
    // next GET fails) or "transport close" (a GET was pending and got the
    // close packet): either way not "io server disconnect".
    if (!["transport close", "transport error"].includes(pollReason)) throw new Error(`polling client reason ${pollReason}`);
    ok("polling client reason: " + pollReason);
    await Promise.all(attempts);
    ok("clients try to reconnect");
    out({ result: { ids } });
  },

  async acks() {
    const s = await connected(client("", { transports: ["websocket"] }));
    // Client emit with a callback answered by the server's ack.
    const cb = await new Promise((resolve) => s.emit("echo", 1, "two", { three: [3] }, null, (...a) => resolve(a)));
    eq(cb, [1, "two", { three: [3] }, null], "client callback got the server ack");
    eq(await s.emitWithAck("echo", "x"), "x", "emitWithAck");
    // Server emit with ack answered by the client callback.
    s.on("question", (payload, cb) => {
      if (payload && payload.silent) return; // never answer
      cb({ got: payload, n: 42 });
    });
    eq(await ack(s, "ask", { q: 1 }, 3000), { answer: { got: { q: 1 }, n: 42 } }, "server EmitWithAck answered");
    eq(await ack(s, "ask", { silent: true }, 300), { err: "timeout" }, "server EmitWithAck timeout");
    // Client emitWithAck with a timeout and no answer.
    let err;
    try {
      await s.timeout(300).emitWithAck("no-such-handler", 1);
    } catch (e) {
      err = e;
    }
    eq(err && err.message, "operation has timed out", "client emitWithAck timeout");
    eq(await s.emitWithAck("echo", "still alive"), "still alive", "socket fine after timeout");
  },

  async binary() {
    const transports = [process.env.TRANSPORT || "websocket"];
    const s = await connected(client("", { transports }));
    eq(s.io.engine.transport.name, transports[0], "transport");
    const b1 = Buffer.from([1, 2, 3, 255, 0]);
    const b2 = Buffer.from("héllo", "utf8");
    const b3 = Buffer.alloc(0);
    eq(await s.emitWithAck("echo", b1), b1, "binary arg echoed in ack");
    const nested = { a: b1, n: { list: [b2, "s", 7, { deep: b3 }] }, t: true };
    const got = await new Promise((resolve) => s.emit("echo", nested, "plain", b2, (...a) => resolve(a)));
    eq(got, [nested, "plain", b2], "nested binary in ack");
    const pushed = once(s, "bin");
    s.emit("emit-back", "bin", b2, { x: [b1] });
    eq(await pushed, [b2, { x: [b1] }], "server BINARY_EVENT with nested binary");
    // Binary in the ack the client sends to the server.
    s.on("question", (payload, cb) => cb({ echoed: payload, extra: Buffer.from([9, 9]) }));
    eq(
      await ack(s, "ask", { blob: b1 }, 3000),
      { answer: { echoed: { blob: b1 }, extra: Buffer.from([9, 9]) } },
      "binary in client ack and in server ack",
    );
    const big = Buffer.alloc(100000, 7);
    eq(await s.emitWithAck("echo", big), big, "100 kB binary");
  },

  async multiplex() {
    // io() without forceNew reuses one Manager per URL: one Engine.IO session.
    const a = io(URL + "/a", parserOpts);
    const b = io(URL + "/b", parserOpts);
    const c = io(URL + "/c", parserOpts);
    sockets.push(a, b, c);
    if (a.io !== b.io || b.io !== c.io) throw new Error("expected one shared Manager");
    await Promise.all([connected(a), connected(b), connected(c)]);
    const me = await Promise.all([a, b, c].map((s) => ack(s, "whoami")));
    eq(me.map((m) => m.nsp), ["/a", "/b", "/c"], "namespaces");
    eq(new Set(me.map((m) => m.sid)).size, 1, "one engine session");
    eq(new Set(me.map((m) => m.id)).size, 3, "three socket ids");
    eq(await ack(a, "engine-count"), 1, "server engine client count");
    eq(await Promise.all([a, b, c].map((s, i) => ack(s, "echo", i))), [0, 1, 2], "echo per namespace");
    // A broadcast in /a does not leak into /b or /c.
    const leaks = [];
    b.on("ns-news", () => leaks.push("b"));
    c.on("ns-news", () => leaks.push("c"));
    const got = once(a, "ns-news");
    await ack(a, "broadcast", { event: "ns-news", args: ["for a"] });
    eq(await got, ["for a"], "broadcast in /a");
    // Marker through /b and /c: anything of /a's would have arrived before it.
    const mb = once(b, "marker");
    const mc = once(c, "marker");
    b.emit("emit-back", "marker");
    c.emit("emit-back", "marker");
    await Promise.all([mb, mc]);
    eq(leaks, [], "no cross-namespace leak");
    // Leaving one namespace keeps the session and the other namespaces.
    b.disconnect();
    eq(await disconnectReason(a, me[1].id), "client namespace disconnect", "server reason for /b");
    const rc = once(c, "disconnect");
    c.emit("disconnect-me", false);
    eq((await rc)[0], "io server disconnect", "/c disconnected by the server");
    const after = await ack(a, "whoami");
    eq(after.sid, me[0].sid, "/a still on the same session");
    eq(await ack(a, "engine-count"), 1, "still one engine session");
    eq(a.io.engine.readyState, "open", "engine still open");
    out({ result: { sid: me[0].sid, ids: me.map((m) => m.id) } });
  },

  async rooms() {
    const membership = [["r1"], ["r1", "r2"], ["r2"], [], ["r1"]];
    const cs = await Promise.all(membership.map(() => connected(client("", { transports: ["websocket"] }))));
    const got = cs.map(() => []);
    cs.forEach((s, i) => s.on("news", (...a) => got[i].push(a.join(","))));
    await Promise.all(cs.map((s, i) => (membership[i].length ? ack(s, "join", membership[i]) : null)));
    out({ result: { ids: cs.map((s) => s.id), membership } });
    if (process.env.GO_DRIVEN) {
      // The Go test calls srv.To("r1").Except("r2").Emit("news", "n0")
      // itself, then writes a line to our stdin.
      out({ ready: "rooms" });
      await nextInput();
    } else {
      await ack(cs[3], "broadcast", { to: ["r1"], except: ["r2"], event: "news", args: ["n0"] });
    }
    // To r1 except r2.
    await ack(cs[3], "broadcast", { to: ["r1"], except: ["r2"], event: "news", args: ["n1"] });
    // socket.to(r1) from a member: the sender is excluded.
    await ack(cs[0], "broadcast", { fromSocket: true, to: ["r1"], event: "news", args: ["n2"] });
    // Volatile to r2.
    await ack(cs[2], "broadcast", { volatile: true, to: ["r2"], event: "news", args: ["n3"] });
    // Local to everyone.
    await ack(cs[2], "broadcast", { local: true, event: "news", args: ["n4"] });
    // Several rooms: a union without duplicates.
    await ack(cs[3], "broadcast", { to: ["r1", "r2"], event: "news", args: ["n5"] });
    // Socket broadcast (everyone but the sender).
    await ack(cs[4], "broadcast", { fromSocket: true, event: "news", args: ["n6"] });
    // Binary in a broadcast: one encoding shared by several sockets.
    const bin = cs.map(() => []);
    cs.forEach((s, i) => s.on("binnews", (...a) => bin[i].push(a)));
    const blob = Buffer.from([0, 1, 2, 250]);
    await ack(cs[3], "broadcast", { to: ["r2"], event: "binnews", args: [blob, { nested: [blob] }] });
    const done = cs.map((s) => once(s, "done"));
    await ack(cs[3], "broadcast", { event: "done" });
    await Promise.all(done);
    eq(
      got,
      [
        ["n0", "n1", "n4", "n5", "n6"],
        ["n2", "n3", "n4", "n5", "n6"],
        ["n3", "n4", "n5", "n6"],
        ["n4", "n6"],
        ["n0", "n1", "n2", "n4", "n5"],
      ],
      "each client got exactly its broadcasts",
    );
    const both = [[blob, { nested: [blob] }]];
    eq(bin, [[], both, both, [], []], "binary broadcast to r2");
  },

  async disconnect() {
    const transports = [process.env.TRANSPORT || "websocket"];
    // s.Disconnect(false): "io server disconnect" and no reconnection.
    const a = await connected(client("", { transports }));
    const aid = a.id;
    let reconnects = 0;
    a.io.on("reconnect_attempt", () => reconnects++);
    const ra = once(a, "disconnect");
    a.emit("disconnect-me", false);
    eq((await ra)[0], "io server disconnect", "client reason after Disconnect(false)");
    await sleep(300); // a reconnection would start within reconnectionDelay (50ms)
    eq([a.connected, a.active, reconnects], [false, false, 0], "no auto-reconnect");

    // s.Disconnect(true): same client reason, and the transport closes.
    const b = await connected(client("", { transports }));
    const bid = b.id;
    const rb = once(b, "disconnect");
    const engineClosed = once(b.io.engine, "close");
    b.emit("disconnect-me", true);
    eq((await rb)[0], "io server disconnect", "client reason after Disconnect(true)");
    await engineClosed;
    ok("transport closed after Disconnect(true)");
    await sleep(300);
    eq([b.connected, b.active], [false, false], "no auto-reconnect after Disconnect(true)");

    // Client-initiated disconnect.
    const c = await connected(client("", { transports }));
    const cid = c.id;
    c.disconnect();

    const d = await connected(client("", { transports }));
    eq(await disconnectReason(d, aid), "server namespace disconnect", "server reason for Disconnect(false)");
    eq(await disconnectReason(d, bid), "server namespace disconnect", "server reason for Disconnect(true)");
    eq(await disconnectReason(d, cid), "client namespace disconnect", "server reason for client disconnect");
    out({ result: { a: aid, b: bid, c: cid } });
  },

  async heartbeat() {
    const interval = Number(process.env.PING_INTERVAL_MS);
    const timeout = Number(process.env.PING_TIMEOUT_MS);
    if (!interval || !timeout) throw new Error("PING_INTERVAL_MS and PING_TIMEOUT_MS are required");
    const transports = [process.env.TRANSPORT || "websocket"];
    const s = await connected(client("", { transports, reconnection: false }));
    const id = s.id;
    const engine = s.io.engine;
    const start = Date.now();
    let pings = 0;
    const send = engine._sendPacket.bind(engine);
    engine._sendPacket = (type, ...rest) => {
      if (type === "pong") {
        pings++;
        return; // play dead
      }
      return send(type, ...rest);
    };
    const [reason] = await once(s, "disconnect", interval + timeout + 5000);
    const elapsed = Date.now() - start;
    eq(reason, "transport close", "client sees the server close the transport");
    if (pings < 1) throw new Error("no ping was received before the close");
    ok("pings ignored: " + pings);
    const d = await connected(client("", { transports: ["websocket"] }));
    eq(await disconnectReason(d, id), "ping timeout", "server reason");
    out({ result: { id, elapsed, pings } });
  },

  async recovery() {
    // TRANSPORT: "websocket" (default), "polling", or "default" (polling
    // then upgrade) for the recovering client.
    const t = process.env.TRANSPORT || "websocket";
    const a = await connected(client("", t === "default" ? {} : { transports: [t] }));
    const b = await connected(client("", { transports: ["websocket"] }));
    eq(a.recovered, false, "first connection is not recovered");
    const id = a.id;
    const got = [];
    // With recovery on, each event carries its offset as the last argument.
    a.on("rr", (...args) => got.push(args.slice(0, -1).join(",")));
    await ack(a, "join", ["rr"]);
    const m0 = once(a, "rr");
    await ack(b, "broadcast", { to: ["rr"], event: "rr", args: ["m0"] });
    await m0; // a now has an offset to resume from
    a.io.reconnection(false);
    const closed = once(a, "disconnect");
    a.io.engine.close();
    ok("transport closed by client: " + (await closed)[0]);
    eq(await disconnectReason(b, id), "transport close", "server saw the transport close");
    for (const m of ["m1", "m2", "m3"]) await ack(b, "broadcast", { to: ["rr"], event: "rr", args: [m] });
    await ack(b, "broadcast", { to: ["elsewhere"], event: "rr", args: ["not-for-a"] });
    await ack(b, "broadcast", { except: ["rr"], event: "rr", args: ["not-for-a-either"] });
    a.io.reconnection(true);
    a.connect();
    await connected(a);
    eq([a.id, a.recovered], [id, true], "same id, recovered");
    await until("missed packets", () => got.length >= 4, 3000);
    const me = await ack(a, "whoami");
    eq(me.rooms, [id, "rr"].sort(), "rooms kept");
    eq(me.recovered, true, "server socket recovered");
    const m5 = once(a, "rr");
    await ack(b, "broadcast", { to: ["rr"], event: "rr", args: ["m5"] });
    await m5;
    eq(got, ["m0", "m1", "m2", "m3", "m5"], "missed packets in order, then live ones");
    out({ result: { id } });
  },

  // Recovery refused: the client comes back after maxDisconnection
  // (RECOVERY_MS): new id, not recovered, no rooms.
  async "recovery-expired"() {
    const maxMs = Number(process.env.RECOVERY_MS);
    if (!maxMs) throw new Error("RECOVERY_MS is required");
    const a = await connected(client("", { transports: ["websocket"] }));
    const b = await connected(client("", { transports: ["websocket"] }));
    const id = a.id;
    await ack(a, "join", ["rr"]);
    const m0 = once(a, "rr");
    await ack(b, "broadcast", { to: ["rr"], event: "rr", args: ["m0"] });
    await m0;
    a.io.reconnection(false);
    a.io.engine.close();
    eq(await disconnectReason(b, id), "transport close", "server saw the transport close");
    await sleep(maxMs + 300); // let the session expire: time itself is under test
    const got = [];
    a.on("rr", (...args) => got.push(args[0]));
    await ack(b, "broadcast", { to: ["rr"], event: "rr", args: ["m1"] });
    a.connect();
    await connected(a);
    eq(a.recovered, false, "not recovered");
    if (a.id === id) throw new Error("expected a new socket id");
    ok("new socket id");
    const me = await ack(a, "whoami");
    eq([me.rooms, me.recovered], [[a.id], false], "no rooms kept");
    const marker = once(a, "marker");
    a.emit("emit-back", "marker");
    await marker;
    eq(got, [], "no missed packets delivered");
    out({ result: { old: id, id: a.id } });
  },

  async middleware() {
    const refused = client("/auth", { transports: ["websocket"], reconnection: false });
    const err = await connectError(refused);
    eq([err.message, err.data], ["Authentication failed", { code: "AUTH_REQUIRED" }], "middleware refusal");
    const good = await connected(client("/auth", { transports: ["websocket"], auth: { token: "good" } }));
    eq(await ack(good, "echo", "in"), "in", "accepted with a good token");
    const unknown = client("/nope", { transports: ["websocket"], reconnection: false });
    eq((await connectError(unknown)).message, "Invalid namespace", "unknown namespace");
    const dyn = await connected(client("/dyn-42", { transports: ["websocket"] }));
    const me = await ack(dyn, "whoami");
    eq(me.nsp, "/dyn-42", "dynamic namespace name");
    eq(await ack(dyn, "echo", 5), 5, "dynamic namespace echo");
    const nomatch = client("/dyn-x", { transports: ["websocket"], reconnection: false });
    eq((await connectError(nomatch)).message, "Invalid namespace", "pattern mismatch");
    // On one Engine.IO session: a refused namespace leaves the others alone.
    const m = new Manager(URL, { transports: ["websocket"], reconnection: false });
    const mAuth = m.socket("/auth");
    const mA = m.socket("/a");
    const mNope = m.socket("/nope");
    sockets.push(mAuth, mA, mNope);
    const [e1, , e2] = await Promise.all([connectError(mAuth), connected(mA), connectError(mNope)]);
    eq([e1.message, e2.message], ["Authentication failed", "Invalid namespace"], "refusals on a shared session");
    eq(await ack(mA, "echo", "shared"), "shared", "the accepted namespace works");
    mAuth.auth = { token: "good" };
    mAuth.connect();
    await connected(mAuth);
    const [w1, w2] = await Promise.all([ack(mAuth, "whoami"), ack(mA, "whoami")]);
    eq(w1.sid, w2.sid, "retry on the same session");
    out({ result: { dyn: me.id } });
  },

  // api-emit: clients join rooms, print {"ready"}, and the Go test emits
  // through the HTTP API: "api-news" to room "api-room", "api-question"
  // with an ack, then "api-done" to everyone. Each client reports what it
  // got.
  async "api-emit"() {
    const membership = [["api-room"], [], ["api-room", "x"]];
    const cs = await Promise.all(membership.map(() => connected(client("", { transports: ["websocket"] }))));
    const got = cs.map(() => []);
    cs.forEach((s, i) => s.on("api-news", (...a) => got[i].push(norm(a))));
    cs.forEach((s, i) => s.on("api-question", (q, cb) => cb({ from: i, q })));
    await Promise.all(cs.map((s, i) => (membership[i].length ? ack(s, "join", membership[i]) : null)));
    const done = cs.map((s) => once(s, "api-done", 10000));
    out({ ready: { ids: cs.map((s) => s.id) } });
    await Promise.all(done);
    out({ result: { got } });
  },
};

run(scenarios);
