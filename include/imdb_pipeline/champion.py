"""The model store: the champion (the model ``predict`` scores with unless told otherwise) and its versions.

Layout under the artifact root::

    champion -> champions/<version>      a symlink, switched atomically (rename over it)
    champions/<version>/                 model.keras, word_index.json, [features.npz],
                                         evaluation.json, champion.json, manifest.json

A promotion writes the new version's folder completely (with a checksummed manifest) before the
link moves, so a reader sees the old champion or the new one, never a mix. Earlier versions stay
(the last ``KEEP_VERSIONS``) for rollback: ``python -m imdb_pipeline.champion --rollback``.
Whoever changes the store holds ``promotion_lock`` (the ``promote`` stage, rollback). This module
decides nothing about which model deserves it: that is the gate's and the promote stage's job.

    python -m imdb_pipeline.champion            # show the champion and the versions kept
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
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from imdb_pipeline import artifacts
from imdb_pipeline.errors import PipelineInputError

log = logging.getLogger(__name__)

LINK = "champion"
VERSIONS = "champions"
INFO = "champion.json"
KEEP_VERSIONS = 5
# What a champion carries: the model and what scoring it needs, plus its test scores.
MODEL_FILES = ("model", "word_index", "features", "data_stats")


def champion_dir(root: Path | None = None) -> Path:
    """``<root>/champion``: the link that names the current champion's folder."""
    return (root or artifacts.artifact_root()) / LINK


def current(root: Path | None = None) -> dict[str, Any] | None:
    """The champion's ``champion.json`` (with its ``version``), or None when there is none yet. Its
    folder is checked against its manifest: a missing, edited or damaged champion is an error."""
    link = champion_dir(root)
    if not link.is_symlink() and not link.exists():
        return None
    folder = link.resolve()
    try:
        info = artifacts.read_json(artifacts.read_stage(folder.parent, folder.name)["info"])
    except (PipelineInputError, OSError, KeyError, ValueError) as err:
        raise PipelineInputError(
            f"the champion link {link} points at {folder}, which is missing or damaged ({err}): "
            "`python -m imdb_pipeline.champion --rollback` switches to the newest intact version, or remove "
            "the link to start without a champion."
        ) from None
    return {**info, "version": folder.name}


def intact(version: str, root: Path | None = None) -> bool:
    """Whether a version's folder still matches its manifest."""
    try:
        artifacts.read_stage((root or artifacts.artifact_root()) / VERSIONS, version)
    except (PipelineInputError, OSError, ValueError):
        return False
    return True


def versions(root: Path | None = None) -> list[str]:
    """Finished champion versions, oldest first (names start with their promotion time)."""
    folder = (root or artifacts.artifact_root()) / VERSIONS
    if not folder.is_dir():
        return []
    return sorted(
        path.name
        for path in folder.iterdir()
        if not path.name.startswith(".") and (path / artifacts.MANIFEST).is_file()
    )


@contextlib.contextmanager
def promotion_lock(root: Path | None = None) -> Iterator[None]:
    """One promotion at a time per artifact root (across processes and workers sharing it)."""
    folder = (root or artifacts.artifact_root()) / VERSIONS
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


def switch_to(version: str, root: Path | None = None) -> None:
    """Point the champion link at ``champions/<version>`` in one rename."""
    root = root or artifacts.artifact_root()
    if not (root / VERSIONS / version / artifacts.MANIFEST).is_file():
        raise PipelineInputError(
            f"champion version {version!r} is not a finished folder under {root / VERSIONS}."
        )
    link = champion_dir(root)
    if link.exists() and not link.is_symlink():
        raise PipelineInputError(
            f"{link} is a real folder, not the champion link: move it away, then promote again."
        )
    staged = root / f".{LINK}.link-{os.getpid()}"
    with contextlib.suppress(FileNotFoundError):
        staged.unlink()
    staged.symlink_to(Path(VERSIONS) / version)  # relative: the root may be mounted elsewhere
    os.replace(staged, link)


def install(files: dict[str, str], info: dict[str, Any], root: Path | None = None) -> str:
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


def prune(root: Path | None = None, keep: int = KEEP_VERSIONS) -> None:
    """Delete the oldest versions beyond ``keep``, never the current or previous champion."""
    root = root or artifacts.artifact_root()
    champion = current(root)
    protected = {champion["version"], champion.get("previous")} if champion else set()
    finished = versions(root)
    for version in finished[: max(len(finished) - keep, 0)]:
        if version not in protected:
            shutil.rmtree(root / VERSIONS / version, ignore_errors=True)


def rollback(root: Path | None = None) -> str:
    """Switch back to the previous champion, or, when the champion is missing or damaged, to the newest
    intact version; returns the version now in use."""
    root = root or artifacts.artifact_root()
    with promotion_lock(root):
        try:
            champion = current(root)
            candidates = [champion.get("previous")] if champion else []
        except PipelineInputError:  # broken: any intact version beats none
            broken = champion_dir(root).resolve().name
            candidates = [version for version in reversed(versions(root)) if version != broken]
        for version in candidates:
            if version and intact(version, root):
                switch_to(version, root)
                return version
        raise PipelineInputError("there is no previous champion to roll back to.")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Show the champion model, or roll back to the previous one.")
    parser.add_argument(
        "--rollback", action="store_true", help="make the previous champion the champion again"
    )
    args = parser.parse_args(argv)
    try:
        if args.rollback:
            print(f"champion is now {rollback()}")
        champion = current()
        print(
            json.dumps(
                {
                    "champion": champion
                    and {
                        k: champion.get(k)
                        for k in ("version", "dag_id", "run", "test_accuracy", "promoted_at", "previous")
                    },
                    "versions": versions(),
                },
                indent=2,
            )
        )
    except PipelineInputError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
