"""4x the data: a synthetic corpus of 100,000 training reviews (and 25,000 test reviews) goes
through every stage, each in its own process as under a real executor, within the memory goal
of 1 GB per task (the book's float64 matrices alone would be 8 GB for the training split).
About a minute and a half."""

import json

import pytest
from sample_data import write_synthetic_corpus
from stage_runs import MEMORY_GOAL_MB, STAGES, run_stages_in_processes

pytestmark = [pytest.mark.slow, pytest.mark.scale]


def test_four_times_the_data_stays_within_the_per_task_memory_goal(tmp_path, capsys):
    corpus = write_synthetic_corpus(
        tmp_path / "aclImdb_4x.tar.gz", train_reviews=100_000, test_reviews=25_000
    )
    metrics = run_stages_in_processes(corpus, tmp_path / "run", tmp_path / "artifacts")
    peaks = {stage: metrics["timings"][stage]["peak_rss_mb"] for stage in STAGES}
    with capsys.disabled():  # into the CI log
        print(
            "\n4x data (100,000 training reviews):",
            json.dumps({s: metrics["timings"][s] for s in STAGES}),
            f"test accuracy {metrics['test_accuracy']:.4f}",
        )
    assert metrics["data"]["reviews"] == {"train": 100_000, "test": 25_000}
    assert all(peak <= MEMORY_GOAL_MB for peak in peaks.values()), peaks
