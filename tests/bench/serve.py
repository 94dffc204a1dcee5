#!/usr/bin/env python3
"""Serve a directory read-only on 127.0.0.1 for the benchmark.

Usage: serve.py DIR PORTFILE [REQUESTLOG]

Why not plain `python3 -m http.server`: that speaks HTTP/1.0 and closes
the connection after every file, so a client's connection reuse (apt's
pipelining, lunforge's keep-alive pool) would not matter and the server's
accept loop would dominate. This one speaks HTTP/1.1 with keep-alive,
serves each connection on its own thread, prints no log, and binds port 0
so the kernel picks a free port (no probe-then-bind race); the chosen port
is written to PORTFILE once the socket listens. With REQUESTLOG, the
status and path of every request are appended to that file, one a line:
the bench reads it to check that a warm-cache run downloaded no package.
"""

import functools
import http.server
import os
import sys
import threading


class Handler(http.server.SimpleHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; with Nagle's algorithm
    # the body then waits for the client's delayed ACK (40 ms on Linux) on
    # every request of a kept-alive connection, which would measure the
    # server's latency rather than the clients.
    disable_nagle_algorithm = True

    # The REQUESTLOG file (line-buffered) and the lock that keeps the
    # lines of concurrent connections whole; None: no log.
    request_log = None
    request_log_lock = threading.Lock()

    def log_message(self, *args):  # one line per .deb would drown the bench
        pass

    def log_request(self, code="-", size="-"):
        if self.request_log is not None:
            with self.request_log_lock:
                code = getattr(code, "value", code)  # an HTTPStatus
                self.request_log.write(f"{code} {self.path}\n")


def main():
    directory, portfile = sys.argv[1], sys.argv[2]
    if len(sys.argv) > 3:
        Handler.request_log = open(sys.argv[3], "a", buffering=1, encoding="utf-8")
    handler = functools.partial(Handler, directory=directory)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    tmp = portfile + ".tmp"
    with open(tmp, "w") as f:
        f.write(f"{server.server_address[1]}\n")
    os.replace(tmp, portfile)  # the reader never sees a half-written port
    server.serve_forever()


if __name__ == "__main__":
    main()
