"""The whole DAG on the real Large Movie Review Dataset, with the book's settings.

Skipped (with the reason) when ../shared/data/aclImdb_v1_labeled.tar.gz is absent; IMDB_REAL_DATA
points elsewhere. About a minute on 2 cores.
"""

import pendulum
import pytest
from stage_runs import MEMORY_GOAL_MB, PROJECT, STAGES, run_stages_in_processes

from imdb_pipeline.store import artifacts
from imdb_pipeline.sweep.plan import BOOK_GRID

pytestmark = [pytest.mark.slow, pytest.mark.real_data]


def test_book_settings_reach_the_books_accuracy(real_data, airflow_db, artifact_root, capsys):
    from airflow.dag_processing.dagbag import DagBag

    dag = DagBag(dag_folder=str(PROJECT / "dags" / "imdb_sentiment.py")).dags["imdb_sentiment"]
    dag_run = dag.test(
        run_conf={"data_path": str(real_data)}, logical_date=pendulum.datetime(2026, 2, 1, tz="UTC")
    )
    assert dag_run.state == "success"
    metrics = artifacts.read_json(
        artifact_root / "imdb_sentiment" / dag_run.run_id / "report" / "metrics.json"
    )
    with capsys.disabled():  # into the CI log
        print(
            "\nreal data:",
            {
                key: metrics[key]
                for key in (
                    "test_accuracy",
                    "test_loss",
                    "best_epoch",
                    "final_epochs",
                    "seconds_per_epoch",
                    "timings",
                )
            },
        )
    assert metrics["data"]["reviews"] == {"train": 25000, "test": 25000}
    assert metrics["parameters"] == 160_305
    assert metrics["test_accuracy"] >= 0.87
    assert 2 <= metrics["best_epoch"] <= 6
    assert metrics["roc_auc"] >= 0.93
    # The book's float64 matrices alone are 2 GB per split; no stage comes near that here.
    assert all(timing["peak_rss_mb"] < 2000 for timing in metrics["timings"].values())


def test_every_task_stays_under_the_memory_goal_on_a_disk_and_in_a_bucket(
    real_data, tmp_path, capsys, s3_root
):
    """Each stage in its own process, as under a real executor (dag.test() shares one process), with
    a local artifact root and with the root in a bucket on the S3 server: the same model either way."""
    import time

    results = {}
    for where, root in (("disk", tmp_path / "artifacts"), ("bucket", s3_root)):
        started = time.monotonic()
        metrics = run_stages_in_processes(real_data, f"{root}/imdb_sentiment/real", root)
        results[where] = (metrics, time.monotonic() - started)
    with capsys.disabled():  # into the CI log
        for where, (metrics, wall) in results.items():
            timings = {s: metrics["timings"][s] for s in STAGES}
            print(
                f"\nreal data, one process per task, {where}: {wall:.0f} s, "
                f"accuracy {metrics['test_accuracy']:.4f}",
                timings,
            )
    (disk, _), (bucket, _) = results.values()
    assert disk["test_accuracy"] >= 0.87
    assert bucket["test_accuracy"] == disk["test_accuracy"]  # the bucket changes where, not what
    for metrics, _ in results.values():
        peaks = {stage: metrics["timings"][stage]["peak_rss_mb"] for stage in STAGES}
        assert all(peak <= MEMORY_GOAL_MB for peak in peaks.values()), peaks


def test_bigrams_with_dropout_pass_090_within_the_memory_goal(real_data, tmp_path, capsys):
    """The sweep's default bigram trial, each task in its own process: beyond the book's accuracy."""
    bigram_trial = next(entry for entry in BOOK_GRID if entry.get("ngrams") == 2)
    params = {key: value for key, value in bigram_trial.items() if key != "name"}
    metrics = run_stages_in_processes(real_data, tmp_path / "run", tmp_path / "artifacts", params)
    peaks = {stage: metrics["timings"][stage]["peak_rss_mb"] for stage in STAGES}
    with capsys.disabled():  # into the CI log
        accuracy = metrics["test_accuracy"]
        print(f"\nreal data, {bigram_trial['name']}: test accuracy {accuracy:.4f}, peaks MB {peaks}")
    assert metrics["config"]["ngrams"] == 2 and metrics["config"]["dropout"] > 0
    assert metrics["test_accuracy"] >= 0.90
    assert all(peak <= MEMORY_GOAL_MB for peak in peaks.values()), peaks
