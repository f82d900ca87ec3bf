"""The champion: the model in use, which ``predict`` scores with unless told otherwise.

Layout under the artifact root::

    champion -> champions/<version>      a symlink, switched atomically (rename over it)
    champions/<version>/                 model.keras, word_index.json, [features.npz],
                                         evaluation.json, champion.json, manifest.json

A promotion writes the new version's folder completely (with a checksummed manifest) before the
link moves, so a reader sees the old champion or the new one, never a mix. Earlier versions stay
(the last ``KEEP_VERSIONS``) for rollback: ``python -m imdb_pipeline.champion --rollback``.
Promotions take a file lock and re-check the gate against the champion of that moment, so two runs
finishing together cannot both replace it blindly.

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
from imdb_pipeline.config import PipelineConfig
from imdb_pipeline.errors import PipelineInputError

log = logging.getLogger(__name__)

LINK = "champion"
VERSIONS = "champions"
INFO = "champion.json"
KEEP_VERSIONS = 5
# What a champion carries: the model and what scoring it needs, plus its test scores.
MODEL_FILES = ("model", "word_index", "features")


def champion_dir(root: Path | None = None) -> Path:
    """``<root>/champion``: the link that names the current champion's folder."""
    return (root or artifacts.artifact_root()) / LINK


def current(root: Path | None = None) -> dict[str, Any] | None:
    """The champion's ``champion.json`` (with its ``version``), or None when there is none yet."""
    link = champion_dir(root)
    if not link.is_symlink() and not link.exists():
        return None
    folder = link.resolve()
    info_path = folder / INFO
    if not info_path.is_file():
        raise PipelineInputError(
            f"{link} points at {folder}, which holds no {INFO}: restore it with "
            "`python -m imdb_pipeline.champion --rollback`, or remove the link to start without a champion."
        )
    return {**artifacts.read_json(info_path), "version": folder.name}


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
    """Copy a model's files into a new version folder (atomically, with a manifest); returns its name."""
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


def promote(inputs: dict[str, str], config: PipelineConfig, out: artifacts.StageOutput) -> dict[str, str]:
    """Make a blessed model the champion; the gate is re-checked under the promotion lock."""
    from imdb_pipeline import gate

    decision = artifacts.read_json(inputs["decision"])
    if not decision["blessed"]:
        raise PipelineInputError(f"the model was not blessed ({decision['reason']}): it cannot be promoted.")
    root = artifacts.artifact_root()
    evaluation = artifacts.read_json(inputs["evaluation"])
    model_sha256 = artifacts.sha256_file(Path(inputs["model"]))
    with promotion_lock(root):
        for stale in (root / VERSIONS).glob(".*.partial-*"):  # a promotion killed while copying
            shutil.rmtree(stale, ignore_errors=True)
        champion = current(root)
        if champion is not None and champion.get("model_sha256") == model_sha256:
            record = {
                "promoted": True,
                "version": champion["version"],
                "reason": "already the champion (the same model)",
            }
        else:
            now = gate.judge(evaluation, champion, config)
            if not now["blessed"]:  # the champion changed since the gate ran, and beats this model
                record = {
                    "promoted": False,
                    "reason": f"the champion changed since the gate: {now['reason']}",
                }
            else:
                files = {name: inputs[name] for name in MODEL_FILES if name in inputs}
                files["evaluation"] = inputs["evaluation"]
                version = install(
                    files,
                    {
                        **decision["candidate"],
                        "model_sha256": model_sha256,
                        "test_accuracy": evaluation["test_accuracy"],
                        "test_loss": evaluation["test_loss"],
                        "roc_auc": evaluation["roc_auc"],
                        "config": config.to_dict(),
                        "promoted_at": dt.datetime.now(dt.UTC).isoformat(),
                        "previous": champion["version"] if champion else None,
                        "decision": now,
                    },
                    root,
                )
                switch_to(version, root)
                prune(root)
                record = {
                    "promoted": True,
                    "version": version,
                    "previous": champion["version"] if champion else None,
                    "reason": now["reason"],
                }
    if not record["promoted"]:
        log.warning("not promoted: %s", record["reason"])
    log.info("promotion: %s", record)
    artifacts.write_json(out.path("promotion", "promotion.json"), record)
    return out.final_paths()


def was_promoted(outputs: dict[str, str]) -> tuple[bool, str]:
    """(promoted, reason) from the promote stage's outputs."""
    record = artifacts.read_json(outputs["promotion"])
    return bool(record["promoted"]), record["reason"]


def rollback(root: Path | None = None) -> str:
    """Switch back to the previous champion; returns its version."""
    root = root or artifacts.artifact_root()
    with promotion_lock(root):
        champion = current(root)
        previous = champion.get("previous") if champion else None
        if not previous or previous not in versions(root):
            raise PipelineInputError("there is no previous champion to roll back to.")
        switch_to(previous, root)
        return previous


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
