"""DAG imdb_score: scheduled on the champion and inbox assets (and a time schedule), thin, and a run
scores the inbox, flags drift and passes paths through XCom."""

import pendulum
import pytest
from scoring_support import drop, install_champion, quarantined, reviews
from stage_runs import PROJECT

from imdb_pipeline.serving import inbox_scoring
from imdb_pipeline.store import artifacts


@pytest.fixture(scope="module")
def dag():
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(PROJECT / "dags" / "imdb_score.py"))
    assert bag.import_errors == {}
    return bag.dags["imdb_score"]


def test_scheduled_on_the_champion_the_inbox_and_a_modest_time_schedule(dag):
    from airflow.sdk import AssetOrTimeSchedule

    assert isinstance(dag.schedule, AssetOrTimeSchedule)
    assert dag.schedule.timetable.summary == "*/30 * * * *"
    assets = {asset.name: asset for asset in dag.schedule.asset_condition.objects}
    assert set(assets) == {"imdb_champion", "imdb_reviews_inbox"}  # either one starts a run
    [watcher] = assets["imdb_reviews_inbox"].watchers
    assert type(watcher.trigger).__name__ == "InboxFlagTrigger" and watcher.trigger.filename == "READY"


def test_tasks_params_and_lineage(dag):
    assert dag.task_ids == ["score", "flag_drift"]
    assert dag.params["rescore"] == "latest" and dag.params["oov_max_increase"] == 0.05
    specs = inbox_scoring.SCORE_PARAM_SPECS  # one schema: the form's params are the run's
    assert {name: dag.params[name] for name in dag.params} == {
        name: spec["default"] for name, spec in specs.items()
    }
    score = dag.get_task("score")
    assert {a.name for a in score.inlets} == {"imdb_champion", "imdb_reviews_inbox"}
    assert {a.name for a in score.outlets} == {"imdb_scored_reviews"}
    assert {a.name for a in dag.get_task("flag_drift").outlets} == {"imdb_review_drift"}


def test_invalid_rescore_is_refused_by_the_params(dag):
    from airflow.sdk.definitions.param import ParamsDict
    from airflow.sdk.exceptions import ParamValidationError

    params = ParamsDict(dag.params)
    with pytest.raises(ParamValidationError, match="'sometimes' is not one of"):
        params["rescore"] = "sometimes"


def task_states(dag_run):
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = session.query(TaskInstance).filter_by(dag_id=dag_run.dag_id, run_id=dag_run.run_id).all()
        return {ti.task_id: ti.state for ti in rows}


@pytest.mark.slow
def test_a_run_scores_the_inbox_and_flags_drift(dag, airflow_db, tiny_run, artifact_root):
    install_champion(tiny_run["outputs"], artifact_root, tiny_run["params"]["num_words"])
    inbox = artifact_root / "inbox"
    drop(inbox, "reviews.txt", ("\n".join(reviews(150)) + "\n").encode(), age=1)
    drop(inbox, "junk.txt", bytes(range(256)) * 8, age=2)
    drop(inbox, "news.txt", b"quarterly revenue guidance\n" * 200, age=3)

    run = dag.test(logical_date=pendulum.datetime(2026, 2, 1, tz="UTC"))
    assert run.state == "success" and task_states(run) == {"score": "success", "flag_drift": "success"}
    summary = artifacts.read_json(artifact_root / "imdb_score" / run.run_id / "score" / "summary.json")
    statuses = {batch["file"]: (batch["status"], batch.get("drifted")) for batch in summary["batches"]}
    assert statuses == {
        "reviews.txt": ("scored", False),
        "junk.txt": ("quarantined", None),
        "news.txt": ("scored", True),
    }
    assert [row["file"] for row in quarantined(artifact_root)] == ["junk.txt"]

    again = dag.test(logical_date=pendulum.datetime(2026, 2, 2, tz="UTC"))
    assert again.state == "success" and task_states(again)["flag_drift"] == "skipped"
    summary = artifacts.read_json(artifact_root / "imdb_score" / again.run_id / "score" / "summary.json")
    assert summary["batches"] == []  # nothing twice for the same champion


@pytest.mark.slow
def test_under_dags_test_a_poison_file_among_good_ones_fails_nothing(airflow_db, tiny_run, artifact_root):
    """`airflow dags test imdb_score` as a developer runs it: the poison is set aside, the good files
    scored, and the score task succeeds on its first try (no retry, no failure)."""
    import json
    import os
    import subprocess
    import sys

    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session

    install_champion(tiny_run["outputs"], artifact_root, tiny_run["params"]["num_words"])
    inbox = artifact_root / "inbox"
    drop(inbox, "first.txt", ("\n".join(reviews(120)) + "\n").encode(), age=1)
    drop(
        inbox,
        "poison.jsonl",
        b'{"id": 1, "text": "\\ud800"}\n{"id": 2, "text": ' + b"[" * 1200 + b"]" * 1200 + b"}\n",
        age=2,
    )
    (inbox / "passwd.txt").symlink_to("/etc/passwd")
    drop(inbox, "last.txt", ("\n".join(reviews(120, seed=1)) + "\n").encode(), age=3)
    result = subprocess.run(
        [sys.executable, "-m", "airflow", "dags", "test", "imdb_score", "2026-03-01"],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "IMDB_ARTIFACT_ROOT": str(artifact_root)},
    )
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    with create_session() as session:
        rows = session.query(TaskInstance).filter_by(dag_id="imdb_score", task_id="score").all()
        [score] = [ti for ti in rows if ti.dag_run.logical_date == pendulum.datetime(2026, 3, 1, tz="UTC")]
        assert (score.state, score.try_number) == ("success", 1)
        run_id = score.run_id
    summary = json.loads((artifact_root / "imdb_score" / run_id / "score" / "summary.json").read_text())
    status = {batch["file"]: batch["status"] for batch in summary["batches"]}
    assert status == {
        "first.txt": "scored",
        "poison.jsonl": "quarantined",
        "passwd.txt": "quarantined",
        "last.txt": "scored",
    }
