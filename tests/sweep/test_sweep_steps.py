"""The further-experiments sweep DAG: one training per trial, a fair winner, a report."""

import pendulum
import pytest
from stage_runs import PROJECT, TINY_PARAMS

from imdb_pipeline.store import artifacts


@pytest.mark.slow
def test_sweep_dag_trains_every_trial_and_reports_the_winner(airflow_db, tiny_aclimdb_tarball, artifact_root):
    from airflow.dag_processing.dagbag import DagBag

    dag = DagBag(dag_folder=str(PROJECT / "dags" / "imdb_experiments.py")).dags["imdb_experiments"]
    grid = [
        {"name": "book"},
        {"name": "8 units, mse, 2 final epochs", "units": 8, "loss": "mse", "final_epochs": 2},
        {"name": "bigrams + dropout", "ngrams": 2, "num_words": 80, "dropout": 0.5},
    ]
    conf = {**TINY_PARAMS, "data_path": str(tiny_aclimdb_tarball), "grid": grid}
    dag_run = dag.test(run_conf=conf, logical_date=pendulum.datetime(2026, 2, 1, tz="UTC"))
    assert dag_run.state == "success"

    run_path = artifact_root / "imdb_experiments" / dag_run.run_id
    assert sorted(path.name for path in run_path.iterdir()) == [
        "evaluate",
        "ingest",
        "report",
        "train-00",
        "train-01",
        "train-02",
        "vectorize-w40-n1",
        "vectorize-w80-n2",
    ]
    summary = artifacts.read_json(run_path / "report" / "sweep.json")
    assert [row["name"] for row in summary["trials"]] == [entry["name"] for entry in grid]
    assert summary["trials"][1]["params"]["loss"] == "mse" and summary["trials"][2]["params"]["ngrams"] == 2
    assert (
        artifacts.read_json(run_path / "train-01" / "history.json")["final_epochs"] == 2
    )  # a number in the grid
    assert all(row["peak_rss_mb"] > 0 and row["train_seconds"] > 0 for row in summary["trials"])
    winner = summary["winner"]
    assert winner["best_val_accuracy"] == max(row["best_val_accuracy"] for row in summary["trials"])
    assert (
        winner["test_accuracy"]
        == artifacts.read_json(run_path / "evaluate" / "evaluation.json")["test_accuracy"]
        > 0.7
    )
    assert artifacts.read_manifest(run_path / "evaluate")["config"] == winner["params"]
    html = (run_path / "report" / "report.html").read_text()
    assert all(entry["name"] in html for entry in grid) and 'src="validation_curves.png"' in html
    assert (run_path / "report" / "validation_curves.png").read_bytes()[:4] == b"\x89PNG"
    # In the grid view each mapped training is labelled with its trial's name.
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session

    with create_session() as session:
        labels = (
            session.query(TaskInstance.map_index, TaskInstance.rendered_map_index)
            .filter_by(dag_id="imdb_experiments", run_id=dag_run.run_id, task_id="train")
            .order_by(TaskInstance.map_index)
            .all()
        )
    assert [label for _, label in labels] == [entry["name"] for entry in grid]
