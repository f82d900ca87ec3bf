"""4x the data: a synthetic corpus of 100,000 training reviews (and 25,000 test reviews) goes
through every stage, each in its own process as under a real executor, within the memory goal
of 1 GB per task (the book's float64 matrices alone would be 8 GB for the training split).
About a minute and a half."""

import json
import os
import subprocess
import sys

import pytest

from imdb_pipeline import artifacts
from imdb_pipeline.sample_data import write_synthetic_corpus

pytestmark = [pytest.mark.slow, pytest.mark.scale]
STAGES = ["ingest", "vectorize", "train", "evaluate", "report"]
MEMORY_GOAL_MB = 1000


def test_four_times_the_data_stays_within_the_per_task_memory_goal(tmp_path, capsys):
    corpus = write_synthetic_corpus(tmp_path / "aclImdb_4x.tar.gz", train_reviews=100_000, test_reviews=25_000)
    run_path = tmp_path / "run"
    env = {**os.environ, "IMDB_ARTIFACT_ROOT": str(tmp_path / "artifacts"), "TF_CPP_MIN_LOG_LEVEL": "2"}
    for stage in STAGES:
        result = subprocess.run(
            [sys.executable, "-m", "imdb_pipeline.pipeline", "--run-dir", str(run_path), "--stage", stage,
             "--param", f"data_path={corpus}"],
            capture_output=True, text=True, env=env, timeout=900,
        )
        assert result.returncode == 0, f"{stage}:\n{result.stderr[-3000:]}"
    metrics = artifacts.read_json(run_path / "report" / "metrics.json")
    peaks = {stage: metrics["timings"][stage]["peak_rss_mb"] for stage in STAGES}
    with capsys.disabled():  # into the CI log
        print("\n4x data (100,000 training reviews):", json.dumps({s: metrics["timings"][s] for s in STAGES}),
              f"test accuracy {metrics['test_accuracy']:.4f}")
    assert metrics["data"]["reviews"] == {"train": 100_000, "test": 25_000}
    assert all(peak <= MEMORY_GOAL_MB for peak in peaks.values()), peaks
