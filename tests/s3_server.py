"""A real S3 API server for the tests: moto's, with conditional writes made atomic as on AWS S3.

moto honours ``If-None-Match: *`` and ``If-Match`` on object writes, but checks and writes in separate
steps, so two racing create-once writes can both win. One process-wide lock around moto's
object-writing handlers closes that gap; the request body is already read when they run, so only the
in-memory work is serialised. The server's threads take turns every 0.1 ms, not every 5 ms (Python's
default): with few preemptions, a check-then-write gap almost never shows (0 in 3000 races of 20
writers), and tests could not tell a server with the lock from one without it.
Run by hand: ``python tests/s3_server.py [--port N]`` (0, the default: any free port); it prints its
endpoint and nothing else.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import logging
import os
import select
import shutil
import subprocess
import sys
import tempfile
import threading
import urllib.request
from pathlib import Path

HOST = "127.0.0.1"
# moto's handlers that create, replace or delete objects: PUT (put, copy, upload part), POST (complete
# a multipart upload), DELETE of one key, and the bucket's batch delete (DeleteObjects).
OBJECT_WRITE_HANDLERS = (
    "_key_response_put",
    "_key_response_post",
    "_key_response_delete",
    "_bucket_response_delete_keys",
)
CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def serialise_object_writes() -> None:
    """Each object write checks its precondition and stores under one lock, as one step."""
    from moto.s3.responses import S3Response

    lock = threading.Lock()
    for name in OBJECT_WRITE_HANDLERS:
        handler = getattr(S3Response, name)

        @functools.wraps(handler)
        def locked(self, *args, _handler=handler, **kwargs):
            with lock:
                return _handler(self, *args, **kwargs)

        setattr(S3Response, name, locked)


def serve(port: int, until_stdin_closes: bool = False) -> None:
    from moto.server import ThreadedMotoServer

    serialise_object_writes()
    sys.setswitchinterval(1e-4)  # interleave as a multi-core server would: races show, if any
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # not a line per request
    server = ThreadedMotoServer(ip_address=HOST, port=port, verbose=False)
    server.start()
    print(f"http://{HOST}:{server.get_host_and_port()[1]}", flush=True)
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # nothing more on stdout: nobody reads it now
    with contextlib.suppress(KeyboardInterrupt):  # stops at SIGTERM or Ctrl-C, too
        if until_stdin_closes:
            sys.stdin.read()  # the other end closes when its parent ends, however it ends
        else:
            threading.Event().wait()


class S3Server:
    """The server above in its own process, with its own TMPDIR (moto spills large objects there).

    ``endpoint`` and ``env`` are what clients need; ``reset()`` empties it (about 2 ms).
    """

    def __init__(self, startup_timeout: float = 30.0):
        self.tmpdir = Path(tempfile.mkdtemp(prefix="imdb-tests-s3-"))
        stderr = self.tmpdir / "stderr.log"
        with stderr.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, __file__, "--until-stdin-closes"],  # never outlives the tests
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                env={**os.environ, "TMPDIR": str(self.tmpdir)},
            )
        # Its endpoint on stdout, or end-of-file if it died.
        started = select.select([self.process.stdout], [], [], startup_timeout)[0]
        self.endpoint = self.process.stdout.readline().decode().strip() if started else ""
        if not self.endpoint:
            log = stderr.read_text()[-3000:]
            self.stop()
            state = f"exited with {self.process.returncode}" if started else f"silent for {startup_timeout} s"
            raise RuntimeError(f"the S3 server did not start ({state}):\n{log}")
        # No ~/.aws files either: a developer's profile (say, virtual-host addressing) cannot leak in.
        self.env = {
            **CREDENTIALS,
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        }
        self.reset()  # it answers

    def reset(self) -> None:
        request = urllib.request.Request(f"{self.endpoint}/moto-api/reset", method="POST")
        no_proxy = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with no_proxy.open(request, timeout=10) as response:
            assert response.status == 200, response.status

    def create_bucket(self, name: str) -> None:
        import boto3

        client = boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name=CREDENTIALS["AWS_DEFAULT_REGION"],
            aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        )
        client.create_bucket(Bucket=name)

    def stop(self) -> None:
        self.process.stdin.close()
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process.stdout.close()
        shutil.rmtree(self.tmpdir, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0, help="0: any free port")
    parser.add_argument("--until-stdin-closes", action="store_true", help="and stop when it does")
    arguments = parser.parse_args()
    serve(arguments.port, arguments.until_stdin_closes)
