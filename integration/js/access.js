// Access control, limits and built-in room events, driven through the real
// socket.io-client against an ionbus node guarded by broker/access (see
// access_test.go for the server's rules).
//
// Usage: URL=... TOKENS='{"alice":...}' node js/access.js <scenario>
"use strict";
const { client, connected, connectError, once, ack, eq, ok, sleep, until, out, run } = require("./lib");

const T = JSON.parse(process.env.TOKENS || "{}");
// Every server timestamp a client sees: ISO 8601, UTC, milliseconds.
const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

async function refused(nsp, opts, code) {
  const err = await connectError(client(nsp, { reconnection: false, ...opts }));
  eq(err.message, code === "CONNECTION_LIMIT_EXCEEDED" ? "Connection limit exceeded" : "Authentication failed", `${nsp} refusal message (${code})`);
  eq(err.data && err.data.code, code, `${nsp} refusal code`);
  return err;
}

const scenarios = {
  async access() {
    await connected(client("/", { transports: ["websocket"] }));
    ok("public namespace without a token");
    await refused("/private", {}, "AUTH_REQUIRED");
    await refused("/private", { auth: { token: "not.a.jwt" } }, "AUTH_INVALID_SESSION");
    await refused("/private", { auth: { token: T.expired } }, "AUTH_INVALID_SESSION");
    await refused("/private", { auth: { token: T.wrongKey } }, "AUTH_INVALID_SESSION");
    await refused("/private", { auth: { token: T.none } }, "AUTH_INVALID_SESSION");
    // Each token source.
    const viaAuth = await connected(client("/private", { auth: { token: T.alice } }));
    eq((await ack(viaAuth, "whoami")).user, "alice", "token in auth payload");
    const viaHeader = await connected(client("/private", { extraHeaders: { Authorization: "Bearer " + T.bob } }));
    eq((await ack(viaHeader, "whoami")).user, "bob", "token in Authorization header");
    for (const transports of [["polling"], ["websocket"]]) {
      const viaCookie = await connected(client("/private", { transports, extraHeaders: { Cookie: "other=1; token=" + T.alice } }));
      eq((await ack(viaCookie, "whoami")).user, "alice", `token in cookie (${transports[0]})`);
      viaCookie.disconnect();
    }
    // Roles.
    await refused("/admin", { auth: { token: T.alice } }, "AUTH_INSUFFICIENT_PRIVILEGES");
    const admin = await connected(client("/admin", { auth: { token: T.admin } }));
    eq((await ack(admin, "whoami")).user, "root", "admin role accepted on /admin");
    // CSRF for cookie-carried tokens.
    await refused("/csrf", { extraHeaders: { Cookie: "token=" + T.alice } }, "CSRF_TOKEN_INVALID");
    await connected(client("/csrf", { auth: { csrf: "c-alice" }, extraHeaders: { Cookie: "token=" + T.alice } }));
    ok("cookie token with matching csrf accepted");
    // Compatibility events for apps listening for auth_required.
    const legacy = client("/legacy", { reconnection: false });
    const legacyGone = once(legacy, "disconnect");
    const [payload] = await once(legacy, "auth_required");
    eq([payload.error_code, payload.code, payload.message, payload.redirect_url, ISO.test(payload.timestamp)],
      ["AUTH_REQUIRED", "AUTH_REQUIRED", "Authentication failed", "/login", true], "auth_required event");
    const [reason] = await legacyGone;
    eq(reason, "io server disconnect", "legacy namespace disconnects after the event");
    for (const s of [viaAuth, viaHeader, admin]) s.disconnect();
  },

  async expiry() {
    const s = await connected(client("/private", { auth: { token: T.short } }));
    // Refresh first: a token for another user is refused, one for the same user accepted.
    const bad = await ack(s, "auth:refresh", { token: T.bob });
    eq([bad.success, bad.error.code], [false, "AUTH_INVALID_SESSION"], "refresh with another user's token refused");
    const [session] = await Promise.all([once(s, "user:session").then((a) => a[0]), ack(s, "auth:refresh", { token: T.short2 })]);
    eq(session.event, "token_refresh", "user:session token_refresh");
    eq(ISO.test(session.expiresAt), true, "expiresAt (ISO 8601)");
    const gone = once(s, "disconnect", 8000);
    const [expired] = await once(s, "user:session", 8000);
    eq(expired.event, "token_expired", "user:session token_expired");
    const [reason] = await gone;
    eq(reason, "io server disconnect", "expired socket disconnected");
  },

  async limits() {
    // Per-user concurrent connections (limit 2), cluster-wide slots per
    // Engine.IO session: two namespaces on one connection count once.
    const a = await connected(client("/private", { auth: { token: T.carol }, forceNew: true }));
    await connected(a.io.socket("/", { auth: { token: T.carol } })); // same session: no new slot
    const b = await connected(client("/private", { auth: { token: T.carol } }));
    await refused("/private", { auth: { token: T.carol } }, "CONNECTION_LIMIT_EXCEEDED");
    b.disconnect();
    await until("slot released", async () => {
      const s = client("/private", { auth: { token: T.carol }, reconnection: false });
      return new Promise((resolve) => {
        s.once("connect", () => resolve(true));
        s.once("connect_error", () => { s.close(); resolve(false); });
      });
    });
    ok("slot comes back after a disconnect");
    // Message rate: 20 per window, then RATE_LIMIT_EXCEEDED with details.
    const errors = [];
    a.on("error", (e) => errors.push(e));
    const acks = [];
    for (let i = 0; i < 22; i++) acks.push(a.timeout(3000).emitWithAck("whoami").catch((e) => ({ timeout: true })));
    const got = await Promise.all(acks);
    eq(got.filter((r) => r.user === "carol").length, 20, "20 messages pass");
    eq(got.filter((r) => r.success === false).length, 2, "2 answered with success:false");
    await until("error events", () => errors.length >= 2);
    const e = errors[0];
    eq([e.code, e.error_code, e.limit, typeof e.remaining, ISO.test(e.reset_time), e.error_details.original_event, e.retry_possible, ISO.test(e.timestamp)],
      ["RATE_LIMIT_EXCEEDED", "RATE_LIMIT_EXCEEDED", 20, "number", true, "whoami", true, true], "rate limit error payload");
    // Size limit (2 KiB) is separate from maxPayload.
    const c = await connected(client("/", { auth: { token: T.dave } }));
    const sizeErr = once(c, "error");
    c.emit("whoami", "x".repeat(4096));
    const [se] = await sizeErr;
    eq([se.code, se.error_code, typeof se.error_message, se.retry_possible], ["MESSAGE_TOO_LARGE", "MESSAGE_TOO_LARGE", "string", false], "oversized message refused");
  },

  async rooms() {
    const s = await connected(client("/", { auth: { token: T.alice } }));
    const mine = await ack(s, "my-rooms");
    eq(["user:alice", "role:user"].every((r) => mine.includes(r)), true, "auto-joined user:{user} and role:{role}");
    const [joinedEvt, joinedAck] = await Promise.all([
      once(s, "room_joined").then((a) => a[0]),
      ack(s, "join_room", { room_name: "chat:general", room_type: "chat" }),
    ]);
    eq(joinedEvt, { room_name: "chat:general", success: true, message: "Joined room chat:general" }, "room_joined event");
    eq(joinedAck.success, true, "join_room ack");
    eq((await ack(s, "join_room", { room_name: "user_alice_inbox" })).success, true, "{user} pattern");
    const errs = [];
    s.on("error", (e) => errs.push(e));
    const cases = [
      [{ room_name: "user_bob_inbox" }, "ROOM_NOT_ALLOWED"],
      [{ room_name: 42 }, "INVALID_ROOM_NAME"],
      [{ room_name: "x".repeat(1001) }, "INVALID_ROOM_NAME"],
      [{ room_name: "" }, "INVALID_ROOM_NAME"],
      [[1, 2], "INVALID_PAYLOAD"],
    ];
    for (const [payload, code] of cases) {
      const r = await ack(s, "join_room", payload);
      eq([r.success, r.error_code], [false, code], `join_room ${JSON.stringify(payload).slice(0, 40)}`);
    }
    await until("error events", () => errs.length >= cases.length);
    const e = errs[0];
    eq([e.error_code, e.code, typeof e.error_message, e.message, e.error_details.original_event, e.retry_possible, ISO.test(e.timestamp)],
      ["ROOM_NOT_ALLOWED", "ROOM_NOT_ALLOWED", "string", e.error_message, "join_room", false, true], "standard error event");
    // Room limit: 4 rooms besides the own id room (2 auto-joined + 2 joined).
    const over = await ack(s, "join_room", { room_name: "chat:more" });
    eq([over.success, over.error_code], [false, "ROOM_LIMIT_EXCEEDED"], "room limit");
    const [leftEvt] = await Promise.all([once(s, "room_left").then((a) => a[0]), ack(s, "leave_room", { room_name: "chat:general" })]);
    eq(leftEvt, { room_name: "chat:general", success: true, message: "Left room chat:general" }, "room_left event");
    eq((await ack(s, "my-rooms")).includes("chat:general"), false, "left the room");
  },
};

run(scenarios);
