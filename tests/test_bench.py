"""The benchmark command keeps working: a smoke run on tiny generated data (not a timing test)."""

import json
import subprocess
import sys

import pytest
from stage_runs import PROJECT

pytestmark = pytest.mark.slow


def test_bench_smoke_run_prints_ratios_and_writes_json(tmp_path):
    out = tmp_path / "results.json"
    result = subprocess.run(
        [
            sys.executable,
            str(PROJECT / "bench" / "run_bench.py"),
            "--smoke",
            "--rounds",
            "1",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "book/pipeline" in result.stdout
    summary = json.loads(out.read_text())["summary"]
    assert set(summary["ratios_book_over_pipeline"]) == {
        "wall_seconds",
        "peak_rss_mb",
        "seconds_per_epoch",
        "predict_reviews_per_second",
    }
    assert summary["pipeline"]["predict_max_abs_diff_vs_model_predict"] <= 1e-5
    assert all(
        summary["pipeline"][f"{task}_peak_rss_mb"] > 0
        for task in ("ingest", "vectorize", "train", "evaluate", "report")
    )
