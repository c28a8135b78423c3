"""Test backend for homeostat's e2e tests: stdlib http.server, HTTP/1.1 keep-alive.

Routes (any method; POST/PUT bodies are read and ignored):
  /users/<n>, /items/<n>, /api/items/<n>  200, small JSON body
  /missing                                404 (keep-alive kept, unlike send_error)
  /error                                  500
  /slow                                   sleeps exactly --slow-ms (default 200) then 200
  anything else                           404
With --mode-file FILE, routes named in FILE come first; the file is re-read on every
request so a test can change the server's behaviour while it runs (write it atomically):
  {"routes": {"/work": {"delay_ms": 5, "error_ratio": 0.0}}}
such a route sleeps delay_ms, then answers 500 with probability error_ratio, else 200.
Usage: py_http_server.py --port PORT [--slow-ms MS] [--mode-file FILE]
"""
import argparse
import json
import random
import re
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ID_ROUTE = re.compile(r"^/(users|items|api/items)/\d+$")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "e2e-py"
    slow_s = 0.2
    mode_file = ""

    def log_message(self, fmt, *args):  # quiet: the test reads only the daemon
        pass

    def _reply(self, status: int, body: bytes, ctype: str = "application/json"):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _route(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        path = self.path.split("?", 1)[0]
        mode = self._mode_route(path)
        if mode is not None:
            time.sleep(mode.get("delay_ms", 0) / 1000.0)
            if random.random() < mode.get("error_ratio", 0.0):
                self._reply(500, b'{"error": "injected"}\n')
            else:
                self._reply(200, b'{"ok": true}\n')
        elif ID_ROUTE.match(path):
            self._reply(200, b'{"id": "%s"}\n' % path.rsplit("/", 1)[1].encode())
        elif path == "/missing":
            self._reply(404, b'{"error": "not found"}\n')
        elif path == "/error":
            self._reply(500, b'{"error": "boom"}\n')
        elif path == "/slow":
            time.sleep(self.slow_s)
            self._reply(200, b'{"slow": true}\n')
        else:
            self._reply(404, b'{"error": "no route"}\n')

    def _mode_route(self, path: str):
        if not self.mode_file:
            return None
        try:
            with open(self.mode_file) as f:
                return json.load(f)["routes"].get(path)
        except (OSError, ValueError, KeyError):
            return None

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _route


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--slow-ms", type=int, default=200)
    ap.add_argument("--mode-file", default="")
    args = ap.parse_args()
    Handler.slow_s = args.slow_ms / 1000.0
    Handler.mode_file = args.mode_file
    ThreadingHTTPServer.daemon_threads = True
    ThreadingHTTPServer.allow_reuse_address = True
    srv = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    print(f"READY {args.port}", flush=True)
    try:
        srv.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
