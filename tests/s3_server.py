"""A real S3 API server for the tests: moto's, with conditional writes made atomic as on AWS S3.

moto honours ``If-None-Match: *`` and ``If-Match`` on object writes, but checks and writes in separate
steps, so two racing create-once writes can both win (about 1 race in 2000). One process-wide lock
around moto's object-writing handlers closes that gap; the request body is already read when they
run, so only the in-memory work is serialised. Run by hand: ``python tests/s3_server.py [--port N]``
(0, the default: any free port); it prints its endpoint and nothing else.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import os
import select
import shutil
import subprocess
import sys
import tempfile
import threading
import time
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


def serve(port: int) -> None:
    from moto.server import ThreadedMotoServer

    serialise_object_writes()
    server = ThreadedMotoServer(ip_address=HOST, port=port, verbose=False)
    server.start()
    print(f"http://{HOST}:{server.get_host_and_port()[1]}", flush=True)
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # nothing more on stdout: nobody reads it now
    with contextlib.suppress(KeyboardInterrupt):
        threading.Event().wait()  # until SIGTERM or Ctrl-C


class S3Server:
    """The server above in its own process, with its own TMPDIR (moto spills large objects there).

    ``endpoint`` and ``env`` are what clients need; ``reset()`` empties it (about 2 ms).
    """

    def __init__(self, startup_timeout: float = 30.0):
        self.tmpdir = Path(tempfile.mkdtemp(prefix="imdb-tests-s3-"))
        stderr = self.tmpdir / "stderr.log"
        with stderr.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, __file__],
                stdout=subprocess.PIPE,
                stderr=log,
                env={**os.environ, "TMPDIR": str(self.tmpdir)},
            )
        deadline = time.monotonic() + startup_timeout
        while not select.select([self.process.stdout], [], [], 0.05)[0]:
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the S3 server did not start:\n{stderr.read_text()[-3000:]}")
        self.endpoint = self.process.stdout.readline().decode().strip()
        if not self.endpoint:
            self.stop()
            raise RuntimeError(f"the S3 server exited:\n{stderr.read_text()[-3000:]}")
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
    serve(parser.parse_args().port)
