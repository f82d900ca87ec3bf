"""One inbox file scored by the champion into ``scored/<version>/<batch key>/``, exactly once.

``score_file`` opens the file once (``inbox_file``), claims its (key, version) (``scored_batches.claim``)
and writes ``scores.jsonl`` (``id``, ``probability``, ``label``, ``model_version``, ``scored_at``)
and ``stats.json`` (the batch's statistics and drift verdict) beside a manifest, in a private folder
swapped in whole. Whatever goes wrong with the file is its own outcome (``status`` and ``reason``):
quarantined (``set_aside``: the entry itself, never what a link points to), left for the next run
(changed meanwhile, an unexpected failure) or skipped (gone, another run's). Only a failure to
write under the artifact root concerns every file, and raises.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
from pathlib import Path
from typing import Any

from imdb_model.spec import DECISION_THRESHOLD
from imdb_pipeline.core.errors import PipelineInputError
from imdb_pipeline.serving import drift, inbox, inbox_file, inbox_rows
from imdb_pipeline.serving.batch_statistics import BatchStats, training_reference
from imdb_pipeline.serving.bucket_inbox import BucketEntry
from imdb_pipeline.store import artifacts, model_store, quarantine, scored_batches
from imdb_pipeline.store.bucket_staging import AlreadyCommitted

log = logging.getLogger(__name__)

# What repeated ids in a .jsonl batch do: counted in stats.json, or the file is quarantined.
DUPLICATE_IDS = ("count", "quarantine")


@dataclasses.dataclass
class Champion:
    """The model a run scores with, resolved once, and what its checks need."""

    version: str
    scorer: Any
    reference: dict[str, Any] | None  # training statistics; None for a model saved without them

    @classmethod
    def load(cls, root: artifacts.Location | None = None) -> Champion | None:
        from imdb_pipeline.serving.scorer import Scorer

        info = model_store.current(root)  # the link is read once: its folder is the version scored with
        if info is None:
            return None
        folder = Path(info["folder"])
        scorer = Scorer(folder / model_store.MODEL_FILES["model"])
        return cls(info["version"], scorer, training_reference(folder, info, scorer.num_words))


@dataclasses.dataclass(frozen=True)
class Policy:
    """What a run checks besides the scores: drift thresholds, and whether repeated ids quarantine."""

    thresholds: drift.DriftThresholds = dataclasses.field(default_factory=drift.DriftThresholds)
    duplicate_ids: str = "count"

    def __post_init__(self) -> None:
        if self.duplicate_ids not in DUPLICATE_IDS:
            raise PipelineInputError(
                f"duplicate_ids={self.duplicate_ids!r}: choose one of {', '.join(DUPLICATE_IDS)}."
            )


def score_file(
    path: Path,
    planned: inbox_file.Fingerprint | None,
    model: Champion,
    policy: Policy | None = None,
    root: artifacts.Location | None = None,
    source: BucketEntry | None = None,
) -> dict[str, Any]:
    """Score one inbox file if this run can claim it; whatever goes wrong with it is its own outcome
    (``status`` and ``reason``), never the run's. Only a failure to write under the root raises.
    ``source``: the bucket object ``path`` was received from (set aside there, not here)."""
    try:
        batch = inbox_file.BatchFile(path, planned)
    except FileNotFoundError:
        return gone(path)
    except inbox.QuarantineError as err:
        key = scored_batches.entry_key(path.name, "unreadable")
        return set_aside(path, key, str(err), model.version, root, source=source)
    with batch:
        key = scored_batches.batch_key(path.name, batch.fingerprint.sha256)
        if planned is not None and batch.fingerprint is not planned:
            log.info("%s changed since this run listed it: scored as it is now", batch.name)
        return _score_claimed(batch, key, model, policy or Policy(), root, source)


def _score_claimed(
    batch: inbox_file.BatchFile,
    key: str,
    model: Champion,
    policy: Policy,
    root: artifacts.Location | None,
    source: BucketEntry | None,
) -> dict[str, Any]:
    version_dir = scored_batches.scored_dir(root) / model.version
    about = {"file": batch.name, "key": key}
    with scored_batches.claim(version_dir, key) as claimed:
        if not claimed:
            return {**about, "status": "busy", "reason": "another run is scoring it"}
        if scored_batches.is_finished(version_dir / key):
            return {**about, "status": "done", "reason": "scored already"}
        try:
            with artifacts.stage_writer(version_dir, key, replace=False) as out:
                stats = _write_scores(batch, key, model, policy, out)
        except AlreadyCommitted:  # on a bucket: another run committed it first (claims are leases)
            return {**about, "status": "done", "reason": "scored already (by another run, just now)"}
        except inbox.BatchChanged as err:
            log.warning("changed %s: %s", batch.name, err)
            return {**about, "status": "changed", "reason": str(err)}
        except inbox.QuarantineError as err:
            inode = batch.fingerprint.inode
            return set_aside(batch.path, key, str(err), model.version, root, inode, source)
        except OSError:
            raise  # writing under the artifact root failed: every file would fail the same way
        except Exception as err:  # one file's surprise never stops the others; it waits in the inbox
            log.warning(
                "failed %s: %s: %s (left in the inbox)", batch.name, type(err).__name__, err, exc_info=True
            )
            return {**about, "status": "failed", "reason": f"{type(err).__name__}: {err}"[:500]}
    log.log(
        logging.WARNING if stats["drift"]["drifted"] else logging.INFO,
        "scored %s: %d rows, positive rate %.3f%s",
        batch.name,
        stats["rows"],
        stats["positive_rate"],
        f", DRIFTED ({', '.join(stats['drift']['flags'])})" if stats["drift"]["drifted"] else "",
    )
    return {
        **about,
        "status": "scored",
        "rows": stats["rows"],
        "positive_rate": stats["positive_rate"],
        "duplicate_ids": stats["duplicate_ids"],
        "drifted": stats["drift"]["drifted"],
        "drift_flags": stats["drift"].get("flags", []),
        "folder": str(version_dir / key),
    }


def set_aside(
    path: Path,
    key: str,
    reason: str,
    version: str | None,
    root: artifacts.Location | None,
    inode: int | None = None,
    source: BucketEntry | None = None,
) -> dict[str, Any]:
    """Quarantine an inbox entry (the entry itself, never a link's target; a bucket object ``source``
    only while it is the object judged) and say what happened."""
    about = {"file": artifacts.printable(path.name), "key": key}
    try:
        if source is not None:
            root = root or artifacts.artifact_root()
            where = quarantine.quarantine_object(
                source.source, source.etag, key, reason, version, root, received=path
            )
        else:
            where = quarantine.quarantine(path, key, reason, version, root, inode)
    except quarantine.FileChanged:
        return {
            **about,
            "status": "changed",
            "reason": "replaced while it was set aside: left for the next run",
        }
    except (quarantine.CannotMove, OSError) as err:
        why = err.strerror if isinstance(err, OSError) else str(err)
        log.warning("refused %s: %s; %s: it stays in the inbox", about["file"], reason, why)
        return {**about, "status": "refused", "reason": f"{reason} ({why}: it stays in the inbox)"}
    if where is None:
        return gone(path)
    log.warning("quarantined %s: %s", about["file"], reason)
    return {**about, "status": "quarantined", "reason": reason, "folder": str(where)}


def gone(path: Path) -> dict[str, Any]:
    name = artifacts.printable(path.name)
    log.info("gone %s: moved away or taken by another run meanwhile", name)
    return {"file": name, "status": "gone", "reason": "moved away or taken by another run meanwhile"}


def _write_scores(
    batch: inbox_file.BatchFile, key: str, model: Champion, policy: Policy, out: artifacts.StageOutput
) -> dict[str, Any]:
    counts = inbox_rows.ReadCounts()
    stats = BatchStats()
    started = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    with open(out.path("scores", "scores.jsonl"), "w", encoding="utf-8") as scores:
        for chunk in batch.chunks(counts):
            probabilities, lengths, oov_words = model.scorer.score_counting(chunk.texts)
            stats.add_counts(lengths, oov_words)
            stats.add_probabilities(probabilities)
            scored_at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
            scores.write(
                "".join(
                    json.dumps(
                        {
                            "id": review_id,
                            "probability": round(float(p), 6),
                            "label": "positive" if p >= DECISION_THRESHOLD else "negative",
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
            f"{batch.name} holds no text ({counts.lines} lines, {counts.blank_rows} blank): nothing to score."
        )
    if counts.duplicate_ids and policy.duplicate_ids == "quarantine":
        raise inbox.QuarantineError(
            f"{batch.name} repeats {counts.duplicate_ids:,} id(s): each review needs its own id "
            "(duplicate_ids=quarantine)."
        )
    summary = stats.summary()
    record = {
        "file": batch.name,
        "key": key,
        "input_sha256": batch.fingerprint.sha256,
        "input_sha256_prefix": key.rsplit("__", 1)[-1],
        "model_version": model.version,
        "started_at": started,
        "finished_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        **dataclasses.asdict(counts),
        **summary,
        "drift": drift.check(summary, stats.lengths.values(), model.reference, policy.thresholds),
    }
    artifacts.write_json(out.path("stats", scored_batches.STATS), record)
    out.extra = {"model_version": model.version, "rows": stats.rows}
    return record
