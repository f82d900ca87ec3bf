"""Batch scoring of the reviews inbox with the champion: statistics, drift, quarantine, exactly once.

Each inbox file is one batch. A run takes the champion as it is when the run starts (a promotion
meanwhile changes nothing for it), chooses the batches (``plan``) and scores each one it can claim
(``scored_store.claim``) into ``scored/<version>/<batch key>/``: ``scores.jsonl`` (``id``,
``probability``, ``label``, ``model_version``, ``scored_at``) and ``stats.json`` (the batch's
statistics and drift verdict), beside a manifest. A file that cannot be scored is quarantined with
its reason; the other files go on.

    python -m imdb_pipeline.scoring [--rescore latest|all|none]    # score the inbox now
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import logging
import sys
from pathlib import Path
from typing import Any

from imdb_pipeline import artifacts, batch_stats, champion, chunk_scoring, drift, inbox, scored_store
from imdb_pipeline.errors import PipelineInputError

log = logging.getLogger(__name__)

# Which batches a champion scores besides those no champion has scored yet (always scored).
RESCORE = ("latest", "all", "none")


@dataclasses.dataclass
class Champion:
    """The model a run scores with, resolved once, and what its checks need."""

    version: str
    scorer: Any
    reference: dict[str, Any] | None  # training statistics; None for a model saved without them

    @classmethod
    def load(cls, root: Path | None = None) -> Champion | None:
        from imdb_pipeline.scorer import Scorer

        info = champion.current(root)
        if info is None:
            return None
        folder = champion.champion_dir(root).resolve()
        scorer = Scorer(folder / "model.keras")
        return cls(folder.name, scorer, batch_stats.training_reference(folder, info, scorer.num_words))


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


def score_file(
    path: Path, key: str, model: Champion, thresholds: drift.DriftThresholds, root: Path | None = None
) -> dict[str, Any]:
    """Score one batch if this run can claim it; returns what happened (``status`` and details)."""
    version_dir = scored_store.scored_dir(root) / model.version
    with scored_store.claim(version_dir, key) as claimed:
        if not claimed:
            return {"file": path.name, "key": key, "status": "busy", "reason": "another run is scoring it"}
        if scored_store.is_finished(version_dir / key):
            return {"file": path.name, "key": key, "status": "done", "reason": "scored already"}
        try:
            with artifacts.stage_writer(version_dir, key) as out:
                stats = _write_scores(path, key, model, thresholds, out)
        except inbox.QuarantineError as err:
            where = scored_store.quarantine(path, key, str(err), model.version, root)
            log.warning("quarantined %s: %s", path.name, err)
            return {
                "file": path.name,
                "key": key,
                "status": "quarantined",
                "reason": str(err),
                "folder": str(where),
            }
    log.info(
        "scored %s: %d rows, positive rate %.3f%s",
        path.name,
        stats["rows"],
        stats["positive_rate"],
        f", DRIFTED ({', '.join(stats['drift']['flags'])})" if stats["drift"]["drifted"] else "",
    )
    return {
        "file": path.name,
        "key": key,
        "status": "scored",
        "rows": stats["rows"],
        "positive_rate": stats["positive_rate"],
        "drifted": stats["drift"]["drifted"],
        "drift_flags": stats["drift"].get("flags", []),
        "folder": str(version_dir / key),
    }


def _write_scores(
    path: Path, key: str, model: Champion, thresholds: drift.DriftThresholds, out: artifacts.StageOutput
) -> dict[str, Any]:
    counts = inbox.ReadCounts()
    stats = batch_stats.BatchStats()
    started = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    with open(out.path("scores", "scores.jsonl"), "w", encoding="utf-8") as scores:
        for chunk in inbox.read_chunks(path, counts):
            probabilities = chunk_scoring.score_chunk(model.scorer, chunk.texts, stats)
            scored_at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
            scores.write(
                "".join(
                    json.dumps(
                        {
                            "id": review_id,
                            "probability": round(float(p), 6),
                            "label": "positive" if p >= 0.5 else "negative",
                            "model_version": model.version,
                            "scored_at": scored_at,
                        }
                    )
                    + "\n"
                    for review_id, p in zip(chunk.ids, probabilities.tolist(), strict=True)
                )
            )
    if stats.rows == 0:
        raise inbox.QuarantineError(
            f"{path.name} holds no text ({counts.lines} lines, {counts.blank_rows} blank): nothing to score."
        )
    summary = stats.summary()
    record = {
        "file": path.name,
        "key": key,
        "input_sha256_prefix": key.rsplit("__", 1)[-1],
        "model_version": model.version,
        "started_at": started,
        "finished_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        **dataclasses.asdict(counts),
        **summary,
        "drift": drift.check(summary, stats.lengths.values(), model.reference, thresholds),
    }
    artifacts.write_json(out.path("stats", scored_store.STATS), record)
    out.extra = {"model_version": model.version, "rows": stats.rows}
    return record


def score_inbox(
    rescore: str = "latest",
    thresholds: drift.DriftThresholds | None = None,
    root: Path | None = None,
    inbox_folder: Path | None = None,
) -> dict[str, Any]:
    """Score what the inbox holds with the current champion; returns the run's summary."""
    root = root or artifacts.artifact_root()
    folder = inbox_folder or inbox.inbox_dir(root)
    files = inbox.waiting_files(folder)
    model = Champion.load(root)
    if model is None:
        log.info("no champion yet: %d file(s) wait in %s", len(files), folder)
        return {"inbox": str(folder), "model_version": None, "waiting": len(files), "batches": []}
    keys = {path: scored_store.batch_key(path) for path in files}
    chosen = plan(keys, model.version, rescore, scored_store.finished_keys(root))
    log.info(
        "champion %s: %d of %d inbox file(s) to score (rescore=%s)",
        model.version,
        len(chosen),
        len(files),
        rescore,
    )
    results = [
        score_file(path, key, model, thresholds or drift.DriftThresholds(), root) for path, key in chosen
    ]
    return {
        "inbox": str(folder),
        "model_version": model.version,
        "rescore": rescore,
        "waiting": len(files),
        "batches": results,
    }


def score_for_run(params: dict[str, Any], run_path: Path) -> tuple[dict[str, str], dict[str, Any]]:
    """A DAG run's scoring: the inbox scored with the run's params, ``<run>/score/summary.json`` written."""
    summary = score_inbox(params["rescore"], drift.DriftThresholds.from_mapping(params))
    with artifacts.stage_writer(run_path, "score") as out:
        artifacts.write_json(out.path("summary", "summary.json"), summary)
    return out.final_paths(), summary


def run_summary(outputs: dict[str, str] | None, run_path: Path, dag_id: str) -> dict[str, Any]:
    """The summary a run's scoring wrote (``outputs`` from XCom, else found in the run's folder)."""
    outputs = outputs or artifacts.read_stage(run_path, "score", dag_id)
    return artifacts.read_json(outputs["summary"])


def describe(summary: dict[str, Any]) -> list[str]:
    """One line per batch and a headline: what the task log (and the scored asset event) says."""
    batches = summary["batches"]
    if summary["model_version"] is None:
        return [f"no champion yet: {summary['waiting']} inbox file(s) wait"]
    count = {status: sum(b["status"] == status for b in batches) for status in ("scored", "quarantined")}
    drifted = [b["file"] for b in batches if b.get("drifted")]
    lines = [
        f"champion {summary['model_version']}: {count['scored']} scored, {count['quarantined']} quarantined, "
        f"{len(drifted)} drifted, {len(batches) - sum(count.values())} left to other runs "
        f"({summary['waiting']} in the inbox, rescore={summary['rescore']})"
    ]
    for b in batches:
        if b["status"] == "scored":
            flags = f" DRIFTED: {', '.join(b['drift_flags'])}" if b["drifted"] else ""
            lines.append(
                f"scored {b['file']}: {b['rows']} rows, positive rate {b['positive_rate']:.3f}{flags}"
            )
        else:
            lines.append(f"{b['status']} {b['file']}: {b['reason']}")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rescore", choices=RESCORE, default="latest")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        print(json.dumps(score_inbox(args.rescore), indent=2))
    except PipelineInputError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
