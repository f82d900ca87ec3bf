"""A local HTTP server on 127.0.0.1 that serves one file and fails on purpose, as networks do."""

from __future__ import annotations

import contextlib
import http.server
import socket
import struct
import threading
import time
from pathlib import Path


class FlakyFileServer:
    """Serves ``payload`` at ``/<name>``; the n-th GET follows ``script[n]`` (then "ok"):
    "reset" (connection reset), an int (that HTTP status), "truncated" (half the body), "ok"."""

    def __init__(self, payload: bytes, name: str, script: list, delay: float = 0.0):
        self.payload, self.name, self.script, self.delay = payload, name, list(script), delay
        self.requests: list[str] = []
        self.lock = threading.Lock()
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output clean
                pass

            def do_GET(self):
                with server.lock:
                    server.requests.append(self.path)
                    step = server.script.pop(0) if server.script else "ok"
                if self.path != f"/{server.name}":
                    self.send_error(404)
                elif step == "reset":
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    self.connection.close()
                    self.close_connection = True
                elif isinstance(step, int):
                    self.send_error(step)
                else:
                    time.sleep(server.delay)  # a slow link: concurrent readers overlap
                    body = (
                        server.payload[: len(server.payload) // 2] if step == "truncated" else server.payload
                    )
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(server.payload)))
                    self.end_headers()
                    self.wfile.write(body)
                    self.close_connection = True

            def finish(self):
                with contextlib.suppress(OSError):  # the client went away: nothing to finish
                    super().finish()

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/{name}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> FlakyFileServer:
        self.thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def gets(self) -> int:
        return sum(1 for path in self.requests if path == f"/{self.name}")


def read(path: Path) -> bytes:
    return Path(path).read_bytes()
