#!/usr/bin/env python3
"""Redis Streams worker for ionbus events routed `via: stream`, standard library only.

ionbus XADDs each matching client event to backend.stream.key with the
fields type, namespace, event, args (JSON text), ack, socket (JSON text),
node and time. This worker reads them in a consumer group, handles
pause_* / resume_* (records the job's state in the Redis hash
<stream>:jobs and answers the socket through the ionbus HTTP API: an emit
to the room named by the socket id), and XACKs each entry only after it
was handled. A worker that dies mid-way loses nothing: on start it first
re-reads its own pending entries (XREADGROUP ... STREAMS key 0), then
new ones (">"); entries left pending by a consumer that never came back
(another name, a host that is gone) are taken over with XAUTOCLAIM once
they have been idle for --claim-idle-ms. Handling is therefore at least
once, so it is idempotent (HSET, and an answer the client may receive
twice).

One JSON line per handled entry on stdout:
  {"entry":"<id>","event":"pause_job","job_id":"j1","state":"paused","socket":"<sid>","redelivered":false}

usage: IONBUS_API_KEY=... python3 worker.py [--redis redis://127.0.0.1:6379/0]
       [--stream ionbus:events] [--group captions] [--consumer worker-1]
       [--api http://127.0.0.1:4001]
"""

import argparse
import json
import os
import signal
import socket
import sys
import time
import urllib.error
import urllib.parse
import urllib.request


def out(**fields):
    sys.stdout.write(json.dumps(fields, separators=(",", ":")) + "\n")
    sys.stdout.flush()


# ---------------------------------------------------------------------------
# A minimal RESP2 client: one connection, one command at a time.


class RedisError(Exception):
    pass


class Redis:
    def __init__(self, url, timeout=10.0):
        u = urllib.parse.urlparse(url)
        if u.scheme not in ("redis", ""):
            raise ValueError("only redis:// URLs (no TLS) are supported")
        self.sock = socket.create_connection((u.hostname or "127.0.0.1", u.port or 6379), timeout=timeout)
        self.rd = self.sock.makefile("rb")
        if u.password:
            self.call("AUTH", *([urllib.parse.unquote(u.username)] if u.username else []), urllib.parse.unquote(u.password))
        db = (u.path or "/").lstrip("/")
        if db and db != "0":
            self.call("SELECT", db)

    def call(self, *args):
        buf = [b"*%d\r\n" % len(args)]
        for a in args:
            a = a if isinstance(a, bytes) else str(a).encode()
            buf.append(b"$%d\r\n%s\r\n" % (len(a), a))
        self.sock.sendall(b"".join(buf))
        return self._read()

    def _read(self):
        line = self.rd.readline()
        if not line.endswith(b"\r\n"):
            raise ConnectionError("redis closed the connection")
        kind, rest = line[:1], line[1:-2]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            raise RedisError(rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            if n < 0:
                return None
            data = self.rd.read(n + 2)
            return data[:-2].decode()
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self._read() for _ in range(n)]
        raise RedisError("unexpected reply %r" % line)

    def close(self):
        self.sock.close()


# ---------------------------------------------------------------------------
# The application's handling of one event


class Worker:
    def __init__(self, args):
        self.args = args
        self.redis = Redis(args.redis, timeout=args.block_ms / 1000.0 + 10)
        self.stopping = False
        self.handled = 0
        self.last_claim = 0.0

    def ensure_group(self):
        try:
            self.redis.call("XGROUP", "CREATE", self.args.stream, self.args.group, "0", "MKSTREAM")
        except RedisError as e:
            if not str(e).startswith("BUSYGROUP"):  # the group exists: keep its position
                raise

    def claim(self):
        """Takes over entries idle for --claim-idle-ms in any consumer's
        pending list; it reports whether any became ours (they are then
        read back from our own pending list)."""
        claimed, start = 0, "0-0"
        while True:
            reply = self.redis.call("XAUTOCLAIM", self.args.stream, self.args.group, self.args.consumer,
                                    self.args.claim_idle_ms, start, "COUNT", self.args.count, "JUSTID")
            start, ids = reply[0], reply[1] or []
            claimed += len(ids)
            if start == "0-0" or self.stopping:
                break
        if claimed:
            out(status="claimed", entries=claimed)
        return claimed > 0

    def emit(self, namespace, room, event, data):
        body = json.dumps({"namespace": namespace, "event": event, "data": data, "rooms": [room]}).encode()
        req = urllib.request.Request(self.args.api.rstrip("/") + "/api/v1/emit", data=body, method="POST",
                                     headers={"Content-Type": "application/json",
                                              "Authorization": "Bearer " + self.args.api_key})
        with urllib.request.urlopen(req, timeout=5) as resp:
            resp.read()

    def handle(self, entry_id, fields, redelivered):
        """Handles one entry; an exception leaves it pending (not acked)."""
        event = fields.get("event", "")
        sock = json.loads(fields.get("socket") or "{}")
        args = json.loads(fields.get("args") or "[]")
        first = args[0] if args and isinstance(args[0], dict) else {}
        job_id = str(first.get("job_id", ""))
        if event.startswith("pause_"):
            state, answer = "paused", "caption_generation_paused"
        elif event.startswith("resume_"):
            state, answer = "running", "caption_generation_resumed"
        else:
            state, answer = None, None
        if state and job_id:
            if self.args.delay_ms:
                time.sleep(self.args.delay_ms / 1000.0)  # stands for real work
            self.redis.call("HSET", self.args.stream + ":jobs", job_id, state)
            self.emit(fields.get("namespace", "/"), sock.get("id", ""), answer,
                      [{"job_id": job_id, "state": state, "entry": entry_id}])
        out(entry=entry_id, event=event, job_id=job_id, state=state, socket=sock.get("id"),
            user=(sock.get("user") or {}).get("id"), redelivered=redelivered, consumer=self.args.consumer)
        self.handled += 1
        if self.args.crash_after and self.handled >= self.args.crash_after:
            # Simulates a crash between the work and its XACK: the entry
            # stays pending and is handled again after a restart.
            os.kill(os.getpid(), signal.SIGKILL)

    def run(self):
        self.ensure_group()
        out(status="started", stream=self.args.stream, group=self.args.group, consumer=self.args.consumer)
        cursor = "0"  # first our own pending entries, then ">"
        while not self.stopping:
            if self.args.max_entries and self.handled >= self.args.max_entries:
                break
            if cursor == ">" and self.args.claim_idle_ms and time.time() - self.last_claim >= self.args.claim_idle_ms / 2000.0:
                self.last_claim = time.time()
                if self.claim():
                    cursor = "0"  # the claimed entries are now in our pending list
            reply = self.redis.call("XREADGROUP", "GROUP", self.args.group, self.args.consumer,
                                    "COUNT", self.args.count, "BLOCK", self.args.block_ms,
                                    "STREAMS", self.args.stream, cursor)
            entries = reply[0][1] if reply else []
            if not entries:
                if cursor != ">":
                    cursor = ">"  # pending list drained
                continue
            for entry_id, flat in entries:
                if cursor != ">":
                    cursor = entry_id  # the next pending read starts after it
                if flat is None:  # trimmed from the stream (MAXLEN) while pending
                    self.redis.call("XACK", self.args.stream, self.args.group, entry_id)
                    continue
                fields = dict(zip(flat[0::2], flat[1::2]))
                try:
                    self.handle(entry_id, fields, redelivered=cursor != ">")
                except (OSError, ValueError, urllib.error.URLError, RedisError) as e:
                    # Left pending; re-read from our pending list after a pause.
                    out(status="error", entry=entry_id, error=str(e))
                    time.sleep(1)
                    cursor = "0"
                    break
                self.redis.call("XACK", self.args.stream, self.args.group, entry_id)
                if self.stopping:
                    break
        out(status="stopped", handled=self.handled)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    env = os.environ.get
    ap.add_argument("--redis", default=env("REDIS_URL", "redis://127.0.0.1:6379/0"), help="env REDIS_URL")
    ap.add_argument("--stream", default=env("IONBUS_STREAM", "ionbus:events"), help="backend.stream.key (env IONBUS_STREAM)")
    ap.add_argument("--group", default=env("WORKER_GROUP", "captions"), help="consumer group (env WORKER_GROUP)")
    ap.add_argument("--consumer", default=env("WORKER_CONSUMER", socket.gethostname()),
                    help="consumer name, stable across restarts so pending entries are found again (env WORKER_CONSUMER)")
    ap.add_argument("--api", default=env("IONBUS_API_URL", "http://127.0.0.1:4001"), help="ionbus api.listen URL (env IONBUS_API_URL)")
    ap.add_argument("--api-key", default=env("IONBUS_API_KEY", ""), help="ionbus api.key (env IONBUS_API_KEY; prefer the env)")
    ap.add_argument("--count", type=int, default=10, help="entries per XREADGROUP")
    ap.add_argument("--block-ms", type=int, default=1000, help="XREADGROUP BLOCK; also how soon SIGTERM is noticed")
    ap.add_argument("--claim-idle-ms", type=int, default=60000,
                    help="take over entries pending this long on any consumer (XAUTOCLAIM; 0: never)")
    ap.add_argument("--max-entries", type=int, default=0, help="exit after handling this many (0: run until SIGTERM)")
    ap.add_argument("--crash-after", type=int, default=0, help="SIGKILL itself after handling this many, before the XACK (tests)")
    ap.add_argument("--delay-ms", type=int, default=0, help="sleep per handled entry, standing for real work (tests)")
    args = ap.parse_args()

    w = Worker(args)

    def stop(signum, frame):
        w.stopping = True  # finish the current entry, then exit

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    w.run()


if __name__ == "__main__":
    main()
