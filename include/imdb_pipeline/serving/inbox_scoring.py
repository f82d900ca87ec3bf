"""A scoring run over the reviews inbox: which batches, each scored once, and what the run says.

A run takes the champion as it is when the run starts (a promotion meanwhile changes nothing for
it), looks at every inbox entry without following it, fingerprints the regular files, chooses the
batches (``plan``) and scores each (``batch_scoring.score_file``). Each entry's outcome is its own:
links, FIFOs, folders and bad files are quarantined with their reason while the others are scored.

    python -m imdb_pipeline.serving.inbox_scoring [--rescore latest|all|none]    # score the inbox now
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
from pathlib import Path
from typing import Any

from imdb_pipeline.core.errors import PipelineInputError, run_cli
from imdb_pipeline.serving import batch_scoring, bucket_inbox, drift, inbox, inbox_file
from imdb_pipeline.serving.batch_scoring import DUPLICATE_IDS, Champion, Policy, score_file, set_aside
from imdb_pipeline.store import artifacts, local_cache, scored_batches
from imdb_pipeline.store.object_store import ObjectPath

log = logging.getLogger(__name__)

# Which batches a champion scores besides those no champion has scored yet (always scored).
RESCORE = ("latest", "all", "none")

# A scoring run's params, one schema: the imdb_score DAG's trigger form (``params_from_specs``), the
# run (``score_for_run``) and the command line's defaults read it.
SCORE_PARAM_SPECS: dict[str, dict[str, Any]] = {
    "rescore": {
        "default": "latest",
        "enum": list(RESCORE),
        "title": "Rescore with a new champion",
        "description": "Besides files no champion has scored: the newest file, every file, or nothing more.",
    },
    **drift.PARAM_SPECS,
    "duplicate_ids": {
        "default": "count",
        "enum": list(DUPLICATE_IDS),
        "title": "Repeated ids in a .jsonl file",
        "description": "Count them in the batch's stats.json, or quarantine the file.",
    },
}


def plan(
    keys: dict[Path, str], version: str, rescore: str, done: dict[str, set[str]]
) -> list[tuple[Path, str]]:
    """The (file, key) pairs to score with ``version``, oldest first: batches no champion has scored,
    plus, for ``rescore``: ``all`` every batch, ``latest`` the newest, ``none`` nothing more. A batch
    this version has scored is never chosen again."""
    if rescore not in RESCORE:
        raise PipelineInputError(f"rescore={rescore!r}: choose one of {', '.join(RESCORE)}.")
    files = list(keys)
    chosen = {path for path in files if keys[path] not in done}
    if rescore == "all":
        chosen.update(files)
    elif rescore == "latest" and files:
        chosen.add(files[-1])
    return [
        (path, keys[path]) for path in files if path in chosen and version not in done.get(keys[path], ())
    ]


def score_inbox(
    rescore: str = SCORE_PARAM_SPECS["rescore"]["default"],
    policy: Policy | None = None,
    root: artifacts.Location | None = None,
    inbox_folder: artifacts.Location | None = None,
) -> dict[str, Any]:
    """Score what the inbox holds with the current champion; returns the run's summary. Each entry's
    outcome is its own; the run fails only when no file could be scored (no readable champion, an
    artifact root it cannot write). A bucket inbox's objects are received into a private folder
    first, then scored like local files."""
    root = root or artifacts.artifact_root()
    folder = inbox_folder or inbox.inbox_dir(root)
    bucket = isinstance(folder, ObjectPath)
    found = bucket_inbox.entries(folder) if bucket else inbox.entries(folder)
    model = Champion.load(root)
    if model is None:
        log.info("no champion yet: %d file(s) wait in %s", len(found), folder)
        return {"inbox": str(folder), "model_version": None, "waiting": len(found), "batches": []}
    if not isinstance(root, ObjectPath):
        _check_writable(scored_batches.scored_dir(root) / model.version)
    summary = {
        "inbox": str(folder),
        "model_version": model.version,
        "rescore": rescore,
        "waiting": len(found),
    }
    if not bucket:
        batches, already = _score_local(found, rescore, policy, model, root)
    else:
        with tempfile.TemporaryDirectory(prefix="inbox.", dir=local_cache.work_dir()) as received:
            batches, already = _score_bucket(found, Path(received), rescore, policy, model, root)
    return {**summary, "already_scored": already, "batches": batches}


def _score_local(
    found: list[inbox.Entry], rescore: str, policy: Policy | None, model: Champion, root: Path
) -> tuple[list[dict[str, Any]], int]:
    results, files = [], []
    for entry in found:
        if entry.kind == inbox.REGULAR:
            files.append(entry.path)
            continue
        never = "links are never followed" if entry.kind == inbox.LINK else "it is never opened"
        reason = f"{entry.name} is a {entry.kind}, not a regular file: only files are scored, {never}."
        key = scored_batches.entry_key(entry.path.name, entry.kind)
        results.append(set_aside(entry.path, key, reason, model.version, root))
    scored, already = _plan_and_score(files, {}, rescore, policy, model, root)
    return results + scored, already


def _score_bucket(
    found: list[bucket_inbox.BucketEntry],
    received: Path,
    rescore: str,
    policy: Policy | None,
    model: Champion,
    root: artifacts.Location,
) -> tuple[list[dict[str, Any]], int]:
    results, files, sources = [], [], {}
    for entry in found:
        if entry.kind != inbox.REGULAR:
            key = scored_batches.entry_key(entry.source.name, entry.kind)
            reason = f"{entry.name} is a {entry.kind} (a prefix), not an object: remove or rename it."
            log.warning("refused %s: %s", entry.name, reason)
            results.append({"file": entry.name, "key": key, "status": "refused", "reason": reason})
            continue
        try:
            local = bucket_inbox.receive(entry, received)
        except inbox.QuarantineError as err:
            key = scored_batches.entry_key(entry.source.name, "unreadable")
            results.append(
                set_aside(Path(entry.source.name), key, str(err), model.version, root, source=entry)
            )
            continue
        files.append(local)
        sources[local] = entry
    scored, already = _plan_and_score(files, sources, rescore, policy, model, root)
    return results + scored, already


def _plan_and_score(
    files: list[Path],
    sources: dict[Path, bucket_inbox.BucketEntry],
    rescore: str,
    policy: Policy | None,
    model: Champion,
    root: artifacts.Location,
) -> tuple[list[dict[str, Any]], int]:
    """Fingerprint each file, choose the batches (``plan``), score each chosen one; returns the
    outcomes and how many files this champion had scored already (left alone, not outcomes)."""
    results, planned = [], {}
    for path in files:
        try:
            with inbox_file.BatchFile(path) as batch:
                planned[path] = batch.fingerprint
        except FileNotFoundError:
            results.append(batch_scoring.gone(path))
        except inbox.QuarantineError as err:
            key = scored_batches.entry_key(path.name, "unreadable")
            results.append(set_aside(path, key, str(err), model.version, root, source=sources.get(path)))
    keys = {path: scored_batches.batch_key(path.name, print_.sha256) for path, print_ in planned.items()}
    done = scored_batches.finished_keys(root)
    chosen = plan(keys, model.version, rescore, done)
    already = sum(model.version in done.get(key, ()) for key in keys.values())
    log.info(
        "champion %s: %d inbox file(s) to score, %d already scored by it (rescore=%s)",
        model.version,
        len(chosen),
        already,
        rescore,
    )
    try:
        for path, _ in chosen:
            results.append(score_file(path, planned[path], model, policy, root, source=sources.get(path)))
    except OSError as err:
        raise _unwritable(scored_batches.scored_dir(root), err) from None
    return results, already


def _check_writable(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as err:
        raise _unwritable(folder, err) from None


def _unwritable(folder: artifacts.Location, err: OSError) -> PipelineInputError:
    return PipelineInputError(
        f"scores cannot be written under {folder} ({err.strerror or err}): give the workers write access "
        "to the artifact root (IMDB_ARTIFACT_ROOT) and free space on it."
    )


def score_for_run(
    params: dict[str, Any], run_path: artifacts.Location
) -> tuple[dict[str, str], dict[str, Any]]:
    """A DAG run's scoring: the inbox scored with the run's params, ``<run>/score/summary.json`` written."""
    duplicate_ids = params.get("duplicate_ids") or SCORE_PARAM_SPECS["duplicate_ids"]["default"]
    policy = Policy(drift.DriftThresholds.from_mapping(params), duplicate_ids)
    summary = score_inbox(params["rescore"], policy)
    with artifacts.stage_writer(run_path, "score") as out:
        artifacts.write_json(out.path("summary", "summary.json"), summary)
    return out.final_paths(), summary


def run_summary(outputs: dict[str, str] | None, run_path: artifacts.Location, dag_id: str) -> dict[str, Any]:
    """The summary a run's scoring wrote (``outputs`` from XCom, else found in the run's folder)."""
    outputs = outputs or artifacts.read_stage(run_path, "score", dag_id)
    return artifacts.read_json(outputs["summary"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rescore", choices=RESCORE, default=SCORE_PARAM_SPECS["rescore"]["default"])
    parser.add_argument(
        "--duplicate-ids",
        choices=DUPLICATE_IDS,
        default=SCORE_PARAM_SPECS["duplicate_ids"]["default"],
        help="repeated ids in a .jsonl file: count them in stats.json (default) or quarantine the file",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    return run_cli(_print_scoring, args.rescore, Policy(duplicate_ids=args.duplicate_ids))


def _print_scoring(rescore: str, policy: Policy) -> None:
    artifacts.checked_root()
    print(json.dumps(score_inbox(rescore, policy), indent=2))


if __name__ == "__main__":
    raise SystemExit(main())
