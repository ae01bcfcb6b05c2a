#!/usr/bin/env python3
"""A backend that never gives ionbus a usable answer (bridge_python_test.go).

modes:
  slow        answers a valid admission / ack, but only after --sleep seconds
  garbage     200 with a body that is not JSON
  wrongtypes  200 with JSON of the wrong shape (user.id a number, ack a string)

Every request is logged as one JSON line on stdout. Standard library only.

usage: python3 hostile_backend.py --port N --mode slow|garbage|wrongtypes [--sleep 2]
"""

import argparse
import json
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--mode", choices=["slow", "garbage", "wrongtypes"], required=True)
    ap.add_argument("--sleep", type=float, default=2.0)
    args = ap.parse_args()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *a):
            pass

        def do_GET(self):
            self.send(200, b'{"status":"ok"}', "application/json")

        def send(self, status, body, ctype):
            try:
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            except OSError:
                pass  # the caller gave up (timeout)

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            typ = self.headers.get("X-Ionbus-Type", "")
            sys.stdout.write(json.dumps({"hook": typ, "mode": args.mode, "bytes": len(body)}) + "\n")
            sys.stdout.flush()
            if args.mode == "slow":
                time.sleep(args.sleep)
                answer = {"user": {"id": "slowpoke", "roles": []}} if typ == "connect" else {"ack": [{"late": True}]}
                return self.send(200, json.dumps(answer).encode(), "application/json")
            if args.mode == "garbage":
                return self.send(200, b"<html>surely not JSON", "text/html")
            answer = {"user": {"id": 7, "roles": "admin"}} if typ == "connect" else {"ack": "ok", "emit": {"event": 1}}
            self.send(200, json.dumps(answer).encode(), "application/json")

    srv = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    srv.daemon_threads = True
    srv.serve_forever()


if __name__ == "__main__":
    main()
