#!/usr/bin/env python3
"""Application backend for ionbus, standard library only.

One HTTP server:

  POST /ionbus   the ionbus bridge's webhook (connect, refresh, event,
                 lifecycle), every request signed with X-Ionbus-Signature
  POST /login    {"user","password"} -> {"session"} + Set-Cookie: session=<id>
  POST /logout   ends the session named by the cookie
  GET  /healthz  "ok"

Sessions are opaque ids in memory (a real app keeps them in its database);
the browser sends the cookie with the Socket.IO handshake, ionbus forwards
the cookie header in the connect hook, and the answer tells ionbus who the
socket is: user id, name, roles, rooms to join and the socket's data.

Every line this program logs is one JSON object on stdout. Cookies, session
ids and signatures are never logged.

usage: IONBUS_BACKEND_SECRET=... python3 app.py [--listen 127.0.0.1:5000]
       [--user id:password:Name:role1,role2] [--session <id>=<user>]
"""

import argparse
import hashlib
import hmac
import http.cookies
import json
import os
import secrets
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# Requests older or newer than this are refused: a captured request can
# not be replayed later.
REPLAY_WINDOW_SECONDS = 300
MAX_BODY_BYTES = 1 << 20

# Demo users: id -> password, display name, roles, rooms joined on connect.
USERS = {
    "alice": {"password": "alice-pw", "name": "Alice", "roles": ["viewer"], "rooms": ["topic:captions"]},
    "bob": {"password": "bob-pw", "name": "Bob", "roles": ["staff", "viewer"], "rooms": ["topic:captions", "staff"]},
}

_log_lock = threading.Lock()


def log(**fields):
    fields["ts"] = round(time.time(), 3)
    with _log_lock:
        sys.stdout.write(json.dumps(fields, separators=(",", ":")) + "\n")
        sys.stdout.flush()


# ---------------------------------------------------------------------------
# Signature


def verify_signature(secret, header, body, now=None, window=REPLAY_WINDOW_SECONDS):
    """Checks X-Ionbus-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, t + "." + body)>.

    body is the raw request body (bytes), exactly as received: never a
    re-serialised JSON. Several v1 values may be present (secret rotation).
    Returns None when the signature holds, otherwise the reason.
    """
    if not header:
        return "missing signature"
    ts, sigs = None, []
    for part in header.split(","):
        key, sep, value = part.strip().partition("=")
        if not sep:
            return "malformed signature"
        if key == "t":
            ts = value
        elif key == "v1":
            sigs.append(value)
    if ts is None or not ts.isdigit() or not sigs:
        return "malformed signature"
    expected = hmac.new(secret, ts.encode() + b"." + body, hashlib.sha256).hexdigest()
    # compare_digest takes the same time whatever the first differing byte.
    if not any(hmac.compare_digest(expected, s) for s in sigs):
        return "signature mismatch"
    now = time.time() if now is None else now
    if abs(now - int(ts)) > window:
        return "timestamp outside the replay window"
    return None


# ---------------------------------------------------------------------------
# Sessions and application state


class Store:
    """Sessions and caption jobs, in memory, safe for the server's threads."""

    def __init__(self, users):
        self.users = users
        self.sessions = {}  # session id -> user id
        self.jobs = {}  # job id -> status
        self.lock = threading.Lock()

    def login(self, user_id, password):
        user = self.users.get(user_id)
        if user is None or not hmac.compare_digest(user["password"], password or ""):
            return None
        sid = secrets.token_urlsafe(24)
        with self.lock:
            self.sessions[sid] = user_id
        return sid

    def add_session(self, sid, user_id):
        with self.lock:
            self.sessions[sid] = user_id

    def logout(self, sid):
        with self.lock:
            self.sessions.pop(sid, None)

    def user_of(self, sid):
        with self.lock:
            user_id = self.sessions.get(sid)
        if user_id is None:
            return None, None
        return user_id, self.users[user_id]

    def job_status(self, job_id):
        with self.lock:
            return self.jobs.setdefault(job_id, {"status": "running", "progress": 42})


def session_from_cookie(cookie_header):
    if not cookie_header:
        return None
    jar = http.cookies.SimpleCookie()
    try:
        jar.load(cookie_header)
    except http.cookies.CookieError:
        return None
    morsel = jar.get("session")
    return morsel.value if morsel else None


# ---------------------------------------------------------------------------
# Hooks: each returns the answer object (always HTTP 200 once signed)


def on_connect(store, req):
    sid = session_from_cookie((req.get("headers") or {}).get("cookie"))
    if sid is None:
        return {"error": {"code": "AUTH_REQUIRED", "message": "log in first"}}
    user_id, user = store.user_of(sid)
    if user is None:
        return {"error": {"code": "AUTH_INVALID_SESSION", "message": "unknown or expired session"}}
    return {
        "user": {"id": user_id, "name": user["name"], "roles": user["roles"]},
        "data": {"plan": "pro", "connected_at": int(time.time())},
        "rooms": user["rooms"],
    }


def on_refresh(store, req):
    # Same check as connect: a logged-out session ends the socket.
    return on_connect(store, req)


def on_event(store, req):
    event = req.get("event")
    args = req.get("args") or []
    sock = req.get("socket") or {}
    if event == "request_caption_status":
        first = args[0] if args and isinstance(args[0], dict) else {}
        job_id = str(first.get("job_id", ""))
        if not job_id:
            return {"error": {"code": "INVALID_PAYLOAD", "message": "job_id is required"}}
        user = sock.get("user") or {}
        status = dict(store.job_status(job_id), job_id=job_id, user=user.get("id"),
                      plan=(sock.get("data") or {}).get("plan"))
        if req.get("ack"):
            return {"ack": [status]}
        return {"emit": [{"event": "caption_status_response", "args": [status]}]}
    return {"error": {"code": "UNKNOWN_EVENT", "message": "the backend does not handle %s" % event}}


def on_lifecycle(store, req):
    for ev in req.get("events") or []:
        log(lifecycle=ev.get("type"), namespace=ev.get("namespace"), sid=ev.get("sid"),
            user=ev.get("user"), room=ev.get("room"), id=ev.get("id"))
    return {}


HOOKS = {"connect": on_connect, "refresh": on_refresh, "event": on_event, "lifecycle": on_lifecycle}


# ---------------------------------------------------------------------------
# HTTP


class Handler(BaseHTTPRequestHandler):
    server_version = "ionbus-backend-python"
    protocol_version = "HTTP/1.1"  # keep-alive: ionbus reuses connections

    def log_message(self, fmt, *args):  # the default writes every request to stderr
        pass

    def reply(self, status, obj, headers=()):
        body = json.dumps(obj, separators=(",", ":")).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def read_body(self):
        try:
            n = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            n = -1
        if n < 0 or n > MAX_BODY_BYTES:
            self.close_connection = True
            return None
        return self.rfile.read(n)

    def do_GET(self):
        if self.path == "/healthz":
            return self.reply(200, {"status": "ok"})
        self.reply(404, {"error": "not found"})

    def do_POST(self):
        body = self.read_body()
        if body is None:
            return self.reply(413, {"error": "body too large"})
        if self.path == "/ionbus":
            return self.hook(body)
        if self.path == "/login":
            return self.login(body)
        if self.path == "/logout":
            sid = session_from_cookie(self.headers.get("Cookie"))
            if sid:
                self.server.store.logout(sid)
            return self.reply(200, {"ok": True}, [("Set-Cookie", "session=; Max-Age=0; Path=/")])
        self.reply(404, {"error": "not found"})

    def login(self, body):
        try:
            req = json.loads(body)
            sid = self.server.store.login(str(req.get("user")), str(req.get("password")))
        except (ValueError, AttributeError):
            return self.reply(400, {"error": "want {\"user\",\"password\"}"})
        if sid is None:
            return self.reply(403, {"error": "wrong user or password"})
        log(login=req.get("user"))
        self.reply(200, {"session": sid},
                   [("Set-Cookie", "session=%s; HttpOnly; SameSite=Lax; Path=/" % sid)])

    def hook(self, body):
        typ = self.headers.get("X-Ionbus-Type", "")
        why = verify_signature(self.server.secret, self.headers.get("X-Ionbus-Signature"), body)
        if why is not None:
            log(hook=typ, status=401, reason=why)
            return self.reply(401, {"error": why})
        # Only a verified body is parsed.
        try:
            req = json.loads(body)
        except ValueError:
            log(hook=typ, status=400, reason="not JSON")
            return self.reply(400, {"error": "not JSON"})
        fn = HOOKS.get(req.get("type")) if isinstance(req, dict) else None
        if fn is None:
            log(hook=typ, status=400, reason="unknown hook type")
            return self.reply(400, {"error": "unknown hook type"})
        answer = fn(self.server.store, req)
        err = answer.get("error")
        log(hook=req["type"], status=200, namespace=req.get("namespace"), event=req.get("event"),
            node=self.headers.get("X-Ionbus-Node"), ack=req.get("ack"),
            user=(answer.get("user") or {}).get("id"), refused=err["code"] if err else None)
        self.reply(200, answer)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--listen", default=os.environ.get("APP_LISTEN", "127.0.0.1:5000"), help="host:port (env APP_LISTEN)")
    ap.add_argument("--secret", default=os.environ.get("IONBUS_BACKEND_SECRET", ""),
                    help="HMAC key shared with ionbus backend.secret (env IONBUS_BACKEND_SECRET; prefer the env)")
    ap.add_argument("--user", action="append", default=[], metavar="ID:PASSWORD:NAME:ROLES[:ROOMS]",
                    help="add a user; roles and rooms comma-separated (repeatable)")
    ap.add_argument("--session", action="append", default=[], metavar="SESSION=USER",
                    help="seed a session id for a user (repeatable; for demos and tests)")
    args = ap.parse_args()
    if not args.secret:
        ap.error("set IONBUS_BACKEND_SECRET (the same value as ionbus backend.secret)")

    users = {k: dict(v) for k, v in USERS.items()}
    for spec in args.user:
        parts = spec.split(":")
        if len(parts) not in (4, 5) or not parts[0]:
            ap.error("--user %r: want id:password:name:roles[:rooms]" % spec)
        rooms = parts[4].split(",") if len(parts) == 5 and parts[4] else ["topic:captions"]
        users[parts[0]] = {"password": parts[1], "name": parts[2],
                           "roles": [r for r in parts[3].split(",") if r], "rooms": rooms}
    store = Store(users)
    for spec in args.session:
        sid, sep, user_id = spec.partition("=")
        if not sep or user_id not in users:
            ap.error("--session %r: want <session id>=<known user>" % spec)
        store.add_session(sid, user_id)

    host, _, port = args.listen.rpartition(":")
    srv = ThreadingHTTPServer((host or "127.0.0.1", int(port)), Handler)
    srv.daemon_threads = True
    srv.store = store
    srv.secret = args.secret.encode()
    log(listening="%s:%d" % srv.server_address[:2], users=sorted(users))
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
