"""Leases on a bucket: a small object that says who is doing something, until when.

Created only if absent (``If-None-Match``), renewed while held, taken over (``If-Match``) only once
expired, so a killed holder blocks others for at most one lease. A lease only avoids duplicate work
(two promotions at once, two runs scoring one batch): what must happen once rests on a create-once
write, never on a lease, since a paused holder may outlive it.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator

from imdb_pipeline.store.object_store import ObjectPath, ObjectStore, PreconditionFailed


@contextlib.contextmanager
def held(path: ObjectPath, seconds: float, wait_seconds: float = 0.0) -> Iterator[bool]:
    """Hold a lease object while the block runs: created only if absent (``If-None-Match``), renewed
    every third of ``seconds`` while held, taken over (``If-Match``) only once expired (its holder
    was killed), deleted at the end if still this holder's. Yields False when another holder keeps it
    longer than ``wait_seconds``. A lease only avoids duplicate work: what must happen once rests on
    a create-once write, never on the lease (a paused holder may outlive it)."""
    store, token = path.store, uuid.uuid4().hex
    deadline = time.monotonic() + wait_seconds
    while not _take(store, path, _lease_body(token, seconds)):
        if time.monotonic() >= deadline:
            yield False
            return
        time.sleep(0.5)
    stop = threading.Event()
    renewer = threading.Thread(target=_renew, args=(store, path, token, seconds, stop), daemon=True)
    renewer.start()
    try:
        yield True
    finally:
        stop.set()
        renewer.join()
        seen = store.read_versioned(path)
        if seen is not None and token.encode() in seen[0]:
            with contextlib.suppress(PreconditionFailed, FileNotFoundError):
                store.delete_if(path, seen[1])


def _lease_body(token: str, seconds: float) -> bytes:
    return json.dumps(
        {"owner": token, "host": socket.gethostname(), "pid": os.getpid(), "expires": time.time() + seconds}
    ).encode()


def _renew(store: ObjectStore, path: ObjectPath, token: str, seconds: float, stop: threading.Event) -> None:
    """Push the lease's expiry forward until ``stop``; give up quietly once another holder took it."""
    while not stop.wait(seconds / 3):
        try:
            seen = store.read_versioned(path)
            if seen is None or token.encode() not in seen[0]:
                return
            store.replace(path, _lease_body(token, seconds), seen[1])
        except PreconditionFailed:
            return
        except OSError:
            continue  # a network blip: the next renewal may get through before expiry


def _take(store: ObjectStore, path: ObjectPath, body: bytes) -> bool:
    try:
        store.create(path, body)
        return True
    except PreconditionFailed:
        seen = store.read_versioned(path)
    if seen is None:
        return False  # released meanwhile: the next try creates it
    try:
        expired = json.loads(seen[0])["expires"] < time.time()
    except (ValueError, KeyError, TypeError):
        expired = True  # not a lease this module wrote: taken over
    if not expired:
        return False
    try:
        store.replace(path, body, seen[1])
        return True
    except PreconditionFailed:
        return False
