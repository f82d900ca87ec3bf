"""A stage folder committed to object storage: the files first, the manifest last, conditionally.

There is no rename on a bucket. A stage's files are uploaded under ``<stage>/attempts/<id>/``, where
no reader looks, and become visible only when ``<stage>/manifest.json`` names them. The manifest is
written with ``If-None-Match: *`` (the first commit) or ``If-Match`` on the version read (a rerun
replacing it), so the writer knows exactly which attempt it replaced and removes only that one.
A create-once folder (a scored batch) refuses to replace: the loser of a race learns it lost.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from pathlib import Path

from imdb_pipeline.store import local_cache
from imdb_pipeline.store.object_store import ObjectPath, PreconditionFailed

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
ATTEMPTS = "attempts"
_STALE_ATTEMPT = dt.timedelta(hours=6)  # an unfinished attempt older than this lost its writer


class AlreadyCommitted(Exception):
    """A create-once folder was committed by another writer first."""


def commit(folder: Path, final: ObjectPath, replace: bool = True) -> bytes:
    """Upload ``folder`` (its manifest already written, naming ``attempts/<id>``) as ``final``.
    Returns the manifest's bytes; the local folder becomes the worker's mirror of it."""
    manifest_bytes = (folder / MANIFEST).read_bytes()
    manifest = json.loads(manifest_bytes)
    store = final.store
    attempt = final / manifest["folder"]
    for filename in manifest["files"]:
        store.upload(folder / filename, attempt / filename)
    replaced = _switch_manifest(final, manifest_bytes, replace)
    if replaced is None and not replace:
        store.delete(attempt, recursive=True)
        local_cache.forget(folder)
        raise AlreadyCommitted(str(final))
    if replaced and replaced != manifest["folder"]:
        store.delete(final / replaced, recursive=True)
    remove_abandoned_attempts(final, keep=manifest["folder"])
    local_cache.adopt(folder, manifest_bytes)
    return manifest_bytes


def _switch_manifest(final: ObjectPath, manifest_bytes: bytes, replace: bool) -> str | None:
    """Write the manifest; returns the attempt folder it replaced ('' when it was the first), or None
    when ``replace`` is off and one exists."""
    store = final.store
    for _ in range(10):
        seen = store.read_versioned(final / MANIFEST)
        try:
            if seen is None:
                store.create(final / MANIFEST, manifest_bytes)
                return ""
            if not replace:
                return None
            store.replace(final / MANIFEST, manifest_bytes, seen[1])
        except PreconditionFailed:
            continue  # another writer committed in between: decide again on what is there now
        try:
            return json.loads(seen[0]).get("folder") or ""
        except ValueError:
            return ""
    raise RuntimeError(f"could not commit {final}: its manifest kept changing under 10 tries")


def remove_abandoned_attempts(final: ObjectPath, keep: str) -> None:
    """Attempts no manifest names, from writers killed before their commit (old enough to be dead)."""
    store = final.store
    now = dt.datetime.now(dt.UTC)
    for name in store.children(final / ATTEMPTS):
        folder = f"{ATTEMPTS}/{name}"
        if folder == keep:
            continue
        try:
            found = store.fs.find((final / folder).key, detail=True)
        except FileNotFoundError:
            continue
        modified = [info.get("LastModified") for info in found.values()]
        if modified and all(isinstance(m, dt.datetime) and now - m > _STALE_ATTEMPT for m in modified):
            log.info("removing abandoned attempt %s", final / folder)
            store.delete(final / folder, recursive=True)
