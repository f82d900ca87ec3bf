"""What the scoring tests share: a tiny trained model as the champion, files dropped in the inbox."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np

from imdb_pipeline import artifacts, batch_stats, champion
from imdb_pipeline.sample_data import make_review
from imdb_pipeline.tokenized import load_split


def install_champion(outputs: dict, root: Path, num_words: int, run: str = "r1") -> str:
    """A finished run's model as the champion of ``root``, with its training statistics."""
    stats = batch_stats.training_statistics(load_split(outputs["ingest"]["train_tokens"]), num_words)
    stats_path = root / f".stats-{run}" / batch_stats.DATA_STATS
    artifacts.write_json(stats_path, stats)
    files = {name: outputs["train"][name] for name in ("model", "word_index")}
    with champion.promotion_lock(root):
        version = champion.install(
            {**files, "data_stats": str(stats_path)}, {"dag_id": "t", "run": run}, root
        )
        champion.switch_to(version, root)
    shutil.rmtree(stats_path.parent)
    return version


def reviews(count: int, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    return [make_review(rng, bool(i % 2)) for i in range(count)]


def drop(folder: Path, name: str, data: bytes, age: int = 0) -> Path:
    """Write a file into the inbox the way producers should: a hidden name, then a rename."""
    folder.mkdir(parents=True, exist_ok=True)
    hidden = folder / f".{name}.writing"
    hidden.write_bytes(data)
    os.utime(hidden, (1_000_000 + age, 1_000_000 + age))
    return hidden.rename(folder / name)
