"""What the scoring tests share: a tiny trained model as the champion, files dropped in the inbox."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import shutil
import types
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from sample_data import make_review

from imdb_pipeline.features import review_stats
from imdb_pipeline.features.tokenized import load_split
from imdb_pipeline.store import artifacts, model_store, quarantine, scored_batches


def install_champion(outputs: dict, root: Path, num_words: int, run: str = "r1") -> str:
    """A finished run's model as the champion of ``root``, with its training statistics."""
    stats = review_stats.training_statistics(load_split(outputs["ingest"]["train_tokens"]), num_words)
    stats_path = root / f".stats-{run}" / model_store.MODEL_FILES["data_stats"]
    artifacts.write_json(stats_path, stats)
    files = {name: outputs["train"][name] for name in ("model", "word_index")}
    with model_store.promotion_lock(root):
        version = model_store.install(
            {**files, "data_stats": str(stats_path)}, {"dag_id": "t", "run": run}, root
        )
        model_store.switch_to(version, root)
    shutil.rmtree(stats_path.parent)
    return version


def reviews(count: int, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    return [make_review(rng, bool(i % 2)) for i in range(count)]


def drop(folder: Path, name: str, data: bytes, age: int = 0) -> Path:
    """Write a file into the inbox the way producers should: a hidden name, then a rename."""
    folder.mkdir(parents=True, exist_ok=True)
    hidden = folder / ".writing"  # short: the name itself may be as long as the file system allows
    hidden.write_bytes(data)
    os.utime(hidden, (1_000_000 + age, 1_000_000 + age))
    return hidden.rename(folder / name)


def promote(
    root: Path, run: str, accuracy: float, previous: str | None = None, promoted_at: str | None = None
) -> str:
    """A stand-in model promoted to champion (files of the store, not a real model)."""
    model = root / "src" / run / "model.keras"
    model.parent.mkdir(parents=True)
    model.write_bytes(run.encode())
    info = {"dag_id": "imdb_sentiment", "run": run, "test_accuracy": accuracy, "previous": previous}
    info["promoted_at"] = promoted_at or f"2026-01-{len(model_store.versions(root)) + 1:02d}T00:00:00+00:00"
    version = model_store.install({"model": str(model)}, info, root)
    model_store.switch_to(version, root)
    return version


def evaluated(root: Path, run: str, accuracy: float) -> None:
    """A finished evaluate stage of an imdb_sentiment run."""
    with artifacts.stage_writer(root / "imdb_sentiment" / run, "evaluate") as out:
        artifacts.write_json(out.path("evaluation", "evaluation.json"), {"test_accuracy": accuracy})


def scored(root: Path, version: str, key: str, drift: dict, **more) -> None:
    """A finished scoring batch with its statistics (``more`` added to or replacing them)."""
    with artifacts.stage_writer(scored_batches.scored_dir(root) / version, key) as out:
        stats = {"file": key, "key": key, "model_version": version, "rows": 10, "positive_rate": 0.4}
        artifacts.write_json(out.path("stats", scored_batches.STATS), {**stats, "drift": drift, **more})


@contextlib.contextmanager
def store_clock_at(when: dt.datetime) -> Iterator[None]:
    """The store's clock stopped at ``when`` (version names, manifests' finish times): a history seeded
    with its own dates, as if written over weeks."""

    class Stopped(dt.datetime):
        @classmethod
        def now(cls, tz=None):
            return when.astimezone(tz) if tz else when

    shim = types.SimpleNamespace(**{name: getattr(dt, name) for name in dir(dt) if not name.startswith("_")})
    shim.datetime = Stopped
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(model_store, "dt", shim)
        patch.setattr(artifacts, "dt", shim)
        yield


def quarantined(root: Path) -> list[dict]:
    """What the scored store set aside under ``root``: each entry's reason record, with its folder."""
    reasons = sorted(quarantine.quarantine_dir(root).glob(f"*/{quarantine.REASON}"))
    return [{**artifacts.read_json(path), "folder": str(path.parent)} for path in reasons]
