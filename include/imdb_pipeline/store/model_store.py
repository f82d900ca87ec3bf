"""The model store: the champion (the model ``predict`` scores with unless told otherwise) and its versions.

Layout under the artifact root::

    champion -> champions/<version>      a symlink, switched atomically (rename over it)
    champions/<version>/                 model.keras, word_index.json, [features.npz],
                                         evaluation.json, champion.json, manifest.json

A promotion writes the new version's folder completely (with a checksummed manifest) before the
link moves, so a reader sees the old champion or the new one, never a mix. On a bucket, ``champion``
is a small JSON object naming the version, replaced only with ``If-Match`` on the ETag read before
the decision (``ChampionChanged`` otherwise); the lock is a lease object created with
``If-None-Match``, which only keeps two promotions from doing the same work at once. Earlier versions stay
(the last ``KEEP_VERSIONS``) for rollback: ``python -m imdb_pipeline.store.model_store --rollback``.
Whoever changes the store holds ``promotion_lock`` (the ``promote`` stage, rollback). This module
decides nothing about which model deserves it: that is the gate's and the promote stage's job.
Long because the link's one reader (``resolve``, which refuses what no promotion made) and its
writers (``switch_to``, ``rollback``) belong in one place.

    python -m imdb_pipeline.store.model_store            # show the champion and the versions kept
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import fcntl
import json
import logging
import os
import shutil
import stat
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from imdb_pipeline.core.errors import PipelineInputError, run_cli
from imdb_pipeline.core.files import file_kind
from imdb_pipeline.store import artifacts, leases
from imdb_pipeline.store.object_store import ObjectPath, PreconditionFailed

log = logging.getLogger(__name__)

LINK = "champion"
VERSIONS = "champions"
INFO = "champion.json"
KEEP_VERSIONS = 5
LEASE = ".lock"  # on a bucket: the promotion lease under champions/
LEASE_SECONDS = 60  # renewed while held: a lease this late lost its holder (killed)
LEASE_WAIT_SECONDS = 15 * 60  # a promotion takes seconds: waiting longer means something is stuck
# A model's files, by the name the stages give each (artifact name -> file name): the model, what
# scoring it needs (the word index; an n-gram model's feature table) and the training statistics drift
# compares with. train writes them under these names, a champion carries them, scoring reads them.
MODEL_FILES = {
    "model": "model.keras",
    "word_index": "word_index.json",
    "features": "features.npz",
    "data_stats": "data_stats.json",
}


class ChampionChanged(PipelineInputError):
    """Another promotion or rollback switched the champion between this one's read and its write."""


def champion_dir(root: artifacts.Location | None = None) -> artifacts.Location:
    """``<root>/champion``: the link that names the current champion's folder."""
    return (root or artifacts.artifact_root()) / LINK


ROLLBACK = "`python -m imdb_pipeline.store.model_store --rollback` links the newest intact version"


def resolve(root: artifacts.Location | None = None) -> Path | None:
    """The champion's version folder, from one read of the link; None when there is no champion.
    Only what ``switch_to`` writes is accepted: a link ``champions/<version>`` to a real folder. A
    real folder named ``champion``, a link elsewhere or a link loop is refused."""
    root = root or artifacts.artifact_root()
    if isinstance(root, ObjectPath):
        found = _bucket_champion(root)
        return found[1] if found else None
    link = champion_dir(root)
    try:
        mode = os.lstat(link).st_mode
    except FileNotFoundError:
        return None
    if not stat.S_ISLNK(mode):
        raise PipelineInputError(
            f"{link} is a {file_kind(mode)}, not the champion link: move it away; {ROLLBACK}."
        )
    target = Path(os.readlink(link))
    folder = root / VERSIONS / target.name
    if target != Path(VERSIONS) / target.name or target.name in ("", ".", ".."):
        where = f"{str(target)[:200]!r}, not at a version under {VERSIONS}/: no promotion made it"
    elif not stat.S_ISDIR(_mode(folder)):
        where = f"{folder}, which is missing or not a folder"
    else:
        return folder
    raise PipelineInputError(f"the champion link {link} points at {where}; {ROLLBACK}.")


def _mode(path: Path) -> int:
    try:
        return os.lstat(path).st_mode
    except FileNotFoundError:
        return 0


def _pointer(root: ObjectPath) -> tuple[str, str] | None:
    """(version, ETag) of a bucket's champion pointer, or None when there is no champion yet."""
    seen = root.store.read_versioned(root / LINK)
    if seen is None:
        return None
    try:
        version = json.loads(seen[0])["version"]
    except (ValueError, KeyError, TypeError):
        version = None
    if not isinstance(version, str) or version in ("", ".", "..") or "/" in version:
        raise PipelineInputError(
            f"the champion pointer {root / LINK} does not name a version: no promotion wrote it; {ROLLBACK}."
        )
    return version, seen[1]


def current_version(root: artifacts.Location | None = None) -> str | None:
    """The champion's version name alone, read from the link or pointer (nothing fetched or checked:
    for pages that list versions; ``current`` is what scores with it)."""
    root = root or artifacts.artifact_root()
    if isinstance(root, ObjectPath):
        pointer = _pointer(root)
        return pointer[0] if pointer else None
    folder = resolve(root)
    return folder.name if folder else None


def _bucket_champion(root: ObjectPath) -> tuple[str, Path, str] | None:
    """(version, the worker's verified copy of its folder, the pointer's ETag), or None."""
    pointer = _pointer(root)
    if pointer is None:
        return None
    version, etag = pointer
    try:
        outputs = artifacts.read_stage(root / VERSIONS, version)
    except (PipelineInputError, OSError, ValueError) as err:
        raise PipelineInputError(
            f"the champion {root / VERSIONS / version} is missing or damaged ({str(err)[:300]}): "
            f"{ROLLBACK}, or delete {root / LINK} to start without a champion."
        ) from None
    return version, Path(next(iter(outputs.values()))).parent, etag


def current(root: artifacts.Location | None = None) -> dict[str, Any] | None:
    """The champion's ``champion.json`` with its ``version`` and ``folder``, or None when there is none
    yet. Its folder is checked against its manifest: a missing, edited or damaged champion is an error.
    On a bucket, ``folder`` is the worker's verified copy and ``pointer_etag`` what ``switch_to`` needs."""
    root = root or artifacts.artifact_root()
    if isinstance(root, ObjectPath):
        found = _bucket_champion(root)
        if found is None:
            return None
        version, folder, etag = found
        info = artifacts.read_json(folder / INFO)
        return {**info, "version": version, "folder": str(folder), "pointer_etag": etag}
    folder = resolve(root)
    if folder is None:
        return None
    problem = _problem(folder)
    if problem is not None:
        raise PipelineInputError(
            f"the champion {folder} is missing or damaged ({problem}): {ROLLBACK}, or remove the link "
            "to start without a champion."
        )
    info = artifacts.read_json(folder / INFO)
    return {**info, "version": folder.name, "folder": str(folder)}


def _problem(folder: Path) -> str | None:
    """What is wrong with a version folder (gone, a file missing or edited), or None if it is intact."""
    if not folder.is_dir() or folder.is_symlink():
        return "its folder is missing"
    try:
        manifest = artifacts.read_manifest(folder)
        for filename, entry in manifest["files"].items():
            path = folder / filename
            if path.is_symlink() or not path.is_file():
                return f"{filename} is missing"
            if not isinstance(entry, dict) or artifacts.sha256_file(path) != entry.get("sha256"):
                return f"{filename} does not match its manifest"
        if not isinstance(artifacts.read_json(folder / INFO), dict):
            return f"{INFO} is not an object"
    except (PipelineInputError, OSError, ValueError):
        return f"its {artifacts.MANIFEST} or {INFO} is missing or damaged"
    return None


def _version_problem(root: artifacts.Location, version: str) -> str | None:
    if not isinstance(root, ObjectPath):
        return _problem(root / VERSIONS / version)
    try:
        artifacts.read_stage(root / VERSIONS, version)
    except (PipelineInputError, OSError, ValueError) as err:
        return str(err)[:300]
    return None


def intact(version: str, root: artifacts.Location | None = None) -> bool:
    """Whether a version's folder still matches its manifest."""
    return _version_problem(root or artifacts.artifact_root(), version) is None


def versions(root: artifacts.Location | None = None) -> list[str]:
    """Finished champion versions, oldest first (names start with their promotion time)."""
    folder = (root or artifacts.artifact_root()) / VERSIONS
    if isinstance(folder, ObjectPath):
        store = folder.store
        return [
            name
            for name in store.children(folder)
            if not name.startswith(".") and store.exists(folder / name / artifacts.MANIFEST)
        ]
    if not folder.is_dir():
        return []
    return sorted(
        path.name
        for path in folder.iterdir()
        if not path.name.startswith(".") and (path / artifacts.MANIFEST).is_file()
    )


@contextlib.contextmanager
def promotion_lock(root: artifacts.Location | None = None) -> Iterator[None]:
    """One promotion at a time per artifact root (across processes and workers sharing it)."""
    folder = (root or artifacts.artifact_root()) / VERSIONS
    if isinstance(folder, ObjectPath):
        with leases.held(folder / LEASE, LEASE_SECONDS, wait_seconds=LEASE_WAIT_SECONDS) as held:
            if not held:
                raise TimeoutError(
                    f"{folder / LEASE} stayed held for {LEASE_WAIT_SECONDS} s by another promotion"
                )
            yield
        return
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            for stale in folder.glob(
                ".*.partial-*"
            ):  # an install killed while copying: only the holder writes
                shutil.rmtree(stale, ignore_errors=True)
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def switch_to(version: str, root: artifacts.Location | None = None, replacing: str | None = None) -> None:
    """Point the champion at ``champions/<version>``: locally in one rename; on a bucket by writing the
    pointer only if it is still the one read (``replacing``: its ETag, None when there was none)."""
    root = root or artifacts.artifact_root()
    if version in ("", ".", "..") or "/" in version:
        raise PipelineInputError(f"{version!r} is not a champion version name.")
    if isinstance(root, ObjectPath):
        _switch_pointer(root, version, replacing)
        return
    if not (root / VERSIONS / version / artifacts.MANIFEST).is_file():
        raise PipelineInputError(
            f"champion version {version!r} is not a finished folder under {root / VERSIONS}."
        )
    link = champion_dir(root)
    if link.exists() and not link.is_symlink():
        raise PipelineInputError(
            f"{link} is a real folder, not the champion link: move it away, then promote again."
        )
    staged = root / f".{LINK}.link-{os.getpid()}"  # version checked above: a plain name
    with contextlib.suppress(FileNotFoundError):
        staged.unlink()
    staged.symlink_to(Path(VERSIONS) / version)  # relative: the root may be mounted elsewhere
    os.replace(staged, link)


def _switch_pointer(root: ObjectPath, version: str, replacing: str | None) -> None:
    store = root.store
    if not store.exists(root / VERSIONS / version / artifacts.MANIFEST):
        raise PipelineInputError(
            f"champion version {version!r} is not a finished folder under {root / VERSIONS}."
        )
    body = json.dumps(
        {"version": version, "switched_at": dt.datetime.now(dt.UTC).isoformat(), "token": uuid.uuid4().hex}
    ).encode()
    try:
        if replacing is None:
            store.create(root / LINK, body)
        else:
            store.replace(root / LINK, body, replacing)
    except PreconditionFailed:
        raise ChampionChanged(
            f"the champion {root / LINK} was switched by another promotion or rollback meanwhile"
        ) from None


def discard(version: str, root: artifacts.Location | None = None) -> None:
    """Remove a version that never became the champion (its promotion lost a race)."""
    root = root or artifacts.artifact_root()
    if isinstance(root, ObjectPath):
        root.store.delete(root / VERSIONS / version, recursive=True)
    else:
        shutil.rmtree(root / VERSIONS / version, ignore_errors=True)


def install(files: dict[str, str], info: dict[str, Any], root: artifacts.Location | None = None) -> str:
    """Copy a model's files into a new version folder (atomically, with a manifest); returns its name.
    Call it holding ``promotion_lock``."""
    root = root or artifacts.artifact_root()
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    version = artifacts.safe_name(f"{stamp}__{info['dag_id']}__{info['run']}")
    with artifacts.stage_writer(root / VERSIONS, version) as out:
        for name, source in files.items():
            shutil.copyfile(source, out.path(name, Path(source).name))
        artifacts.write_json(out.path("info", INFO), info)
    return version


def prune(root: artifacts.Location | None = None, keep: int = KEEP_VERSIONS) -> None:
    """Delete the oldest versions beyond ``keep``, never the current or previous champion."""
    root = root or artifacts.artifact_root()
    champion = current(root)
    protected = {champion["version"], champion.get("previous")} if champion else set()
    finished = versions(root)
    for version in finished[: max(len(finished) - keep, 0)]:
        if version not in protected:
            discard(version, root)


def rollback(root: artifacts.Location | None = None) -> str:
    """Switch back to the previous champion or, when it is damaged or gone, to the newest intact older
    version; when the champion itself is damaged, to the newest intact version. Returns the version
    now in use; says which versions were tried and why each was refused when none is left."""
    root = root or artifacts.artifact_root()
    with promotion_lock(root):
        pointer = _pointer(root) if isinstance(root, ObjectPath) else None
        kept = list(reversed(versions(root)))  # newest first
        try:
            champion = current(root)
        except PipelineInputError:  # broken: any intact version beats none
            linked = _linked_name(root)
            candidates = [version for version in kept if version != linked]
        else:
            now = champion["version"] if champion else None
            previous = champion.get("previous") if champion else None
            older = [version for version in kept if now is not None and version < now]
            candidates = list(dict.fromkeys([previous, *older] if previous else older))
        refused = []
        for version in candidates:
            problem = _version_problem(root, version)
            if problem is None:
                switch_to(version, root, replacing=pointer[1] if pointer else None)
                return version
            refused.append(f"{version}: {problem}")
        if not refused:
            raise PipelineInputError(
                "there is no previous champion to roll back to (no earlier version is kept)."
            )
        raise PipelineInputError(
            "no intact earlier version to roll back to; tried " + "; ".join(refused)[:2000]
        )


def _linked_name(root: artifacts.Location) -> str | None:
    if isinstance(root, ObjectPath):
        with contextlib.suppress(PipelineInputError):
            pointer = _pointer(root)
            return pointer[0] if pointer else None
        return None
    with contextlib.suppress(OSError):
        return Path(os.readlink(champion_dir(root))).name
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Show the champion model, or roll back to the previous one.")
    parser.add_argument(
        "--rollback", action="store_true", help="make the previous champion the champion again"
    )
    args = parser.parse_args(argv)
    return run_cli(_show, args.rollback)


def _show(roll_back: bool) -> None:
    artifacts.checked_root()
    if roll_back:
        print(f"champion is now {rollback()}")
    champion = current()
    shown = ("version", "dag_id", "run", "test_accuracy", "promoted_at", "previous")
    about = champion and {key: champion.get(key) for key in shown}
    print(json.dumps({"champion": about, "versions": versions()}, indent=2))


if __name__ == "__main__":
    raise SystemExit(main())
