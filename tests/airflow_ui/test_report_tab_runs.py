"""The Report tab says something true for every run: an imdb_score run's scoring summary; a failed or
unfinished run, which task failed or is under way, linking to its log (from Airflow's metadata DB); a
report of a run that did not succeed, under a banner saying so.

The runs are real DAG runs of this project's DAGs, serialized into the test DB as the dag-processor
does, with their task instances' states set as the scheduler would leave them. FastAPI's TestClient.
"""

from __future__ import annotations

import html
import json
import re
import uuid
from urllib.parse import quote, unquote

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from markupsafe import escape
from scoring_support import scored
from stage_runs import PROJECT

from imdb_airflow import models_page, report_tab, run_status
from imdb_pipeline.serving import inbox_scoring, scoring_summary
from imdb_pipeline.store import artifacts

pytestmark = pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")

HOSTILE = "<img src=x onerror=alert(1)>&\"'.txt"
VERSION = "20260101T000000__imdb_sentiment__manual__2026-01-01T00:00:00+00:00"


@pytest.fixture(scope="module")
def project_dags(airflow_db) -> None:
    """This project's DAGs serialized into the test DB (what the dag-processor does), once."""
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.dagbag import DagBag, sync_bag_to_db
    from airflow.utils.session import create_session

    with create_session() as session:
        DagBundlesManager().sync_bundles_to_db(session=session)
    bag = DagBag(dag_folder=str(PROJECT / "dags"))
    assert bag.import_errors == {}
    sync_bag_to_db(bag, "dags-folder", None)


def make_run(dag_id: str, state: str, tasks: dict[str, tuple]) -> str:
    """A run of ``dag_id`` in ``state``; ``tasks``: task id -> (state, try number[, map index]).
    Its other task instances stay as created (no state)."""
    import pendulum
    from airflow.models.dagrun import DagRun
    from airflow.models.serialized_dag import SerializedDagModel
    from airflow.models.taskinstance import TaskInstance as TI
    from airflow.utils.session import create_session
    from airflow.utils.types import DagRunTriggeredByType, DagRunType
    from sqlalchemy import update

    run_id = f"manual__2026-01-01T00:00:00+00:00_{uuid.uuid4().hex[:8]}"
    with create_session() as session:
        dag = SerializedDagModel.get_dag(dag_id, session=session)
        dag.create_dagrun(
            run_id=run_id,
            run_after=pendulum.datetime(2026, 1, 1, tz="UTC"),
            run_type=DagRunType.MANUAL,
            triggered_by=DagRunTriggeredByType.TEST,
            state="running",
            session=session,
        )
        session.flush()
        session.execute(update(DagRun).where(DagRun.run_id == run_id).values(state=state))
        for task_id, (ti_state, try_number, *mapped) in tasks.items():
            values = {"state": ti_state, "try_number": try_number}
            if mapped:
                values["map_index"] = mapped[0]
            session.execute(update(TI).where(TI.run_id == run_id, TI.task_id == task_id).values(**values))
    return run_id


@pytest.fixture
def client(tokens) -> TestClient:
    """The Report tab and the Models page mounted as the api-server mounts them, as an admin."""
    app = FastAPI()
    app.mount(report_tab.URL_PREFIX, report_tab.app)
    app.mount(models_page.URL_PREFIX, models_page.app)
    return TestClient(app, headers={"Authorization": f"Bearer {tokens['admin']}"})


def write_report(root, run_id: str, page: str = "<h1>Report of the run</h1>") -> None:
    """A finished report stage of an imdb_sentiment run (manifest with checksums)."""
    with artifacts.stage_writer(artifacts.run_dir("imdb_sentiment", run_id, root=root), "report") as out:
        out.path("report", "report.html").write_text(page)


def rows(page: str) -> list[list[str]]:
    """The cells of the batch table's rows, as the page writes them (escaped)."""
    found = re.findall(r'<tr class="batch [a-z]+">(.*?)</tr>', page, re.S)
    return [re.findall(r"<td[^>]*>(.*?)</td>", row, re.S) for row in found]


def said(page) -> str:
    """What a reader reads: the page's text without its tags, unescaped."""
    text = page if isinstance(page, str) else page.text
    return html.unescape(re.sub(r"<style>.*?</style>|<[^>]+>", "", text, flags=re.S)).replace("\n", " ")


def tab(dag_id: str, run_id: str) -> str:
    return f"{report_tab.URL_PREFIX}/{dag_id}/{run_id}/"


def log_link(dag_id: str, run_id: str, task: str) -> str:
    """The href of a task's log, as the page escapes it (the run id %-encoded)."""
    return html.escape(f"/dags/{dag_id}/runs/{quote(run_id, safe='')}/tasks/{task}")


def test_a_failed_training_run_names_the_failed_task_and_links_its_log(client, project_dags, artifact_root):
    after = dict.fromkeys(("evaluate", "gate", "report", "promote"), ("upstream_failed", 0))
    ok = {"ingest": ("success", 1), "vectorize": ("success", 1)}
    run_id = make_run("imdb_sentiment", "failed", {**ok, "train": ("failed", 2), **after})
    page = client.get(tab("imdb_sentiment", run_id))
    assert page.status_code == 404 and page.headers["content-type"] == "text/html; charset=utf-8"
    assert "Run failed: task 'Train model' (train) failed on try 2 — open its log" in said(page)
    link = log_link("imdb_sentiment", run_id, "train") + "?try_number=2"
    assert f'<a href="{link}" target="_top">open its log</a>' in page.text
    assert "4 task(s) after it did not run (upstream failed)." in page.text
    assert f"No report for run '{run_id}' of DAG 'imdb_sentiment'." in said(page)
    assert "wait for the run to finish" not in page.text  # it has finished: failed
    assert "Ingest reviews" not in page.text  # what succeeded is not listed
    assert "frame-ancestors 'self'" in page.headers["content-security-policy"] and "<script" not in page.text


def test_a_running_run_names_the_running_task_and_its_map_index(client, project_dags, artifact_root):
    done = dict.fromkeys(("plan", "ingest", "vectorize"), ("success", 1))
    run_id = make_run("imdb_experiments", "running", {**done, "train": ("running", 1, 3)})
    page = client.get(tab("imdb_experiments", run_id))
    assert page.status_code == 404
    assert "Run running: task 'Train trial' (train, map index 3) is running (try 1)" in said(page)
    assert log_link("imdb_experiments", run_id, "train") + "/mapped/3?try_number=1" in page.text
    assert "wait for the run to finish" in page.text

    queued = make_run("imdb_sentiment", "queued", {})
    page = client.get(tab("imdb_sentiment", queued)).text
    assert "<strong>Run queued.</strong>" in page
    assert "No task is under way at this moment (0 of 7 done)." in page


def test_a_scoring_run_without_a_summary_yet_says_where_it_is(client, project_dags, artifact_root):
    run_id = make_run("imdb_score", "running", {"score": ("running", 1)})
    page = client.get(tab("imdb_score", run_id))
    assert page.status_code == 404 and "<h1>No scoring summary</h1>" in page.text
    assert "Run running: task 'Score the inbox' (score) is running (try 1) — open its log" in said(page)
    assert log_link("imdb_score", run_id, "score") + "?try_number=1" in page.text
    assert f"No scoring summary for run '{run_id}' of DAG 'imdb_score'." in said(page)
    assert "wait for the run to finish" in said(page)
    # A run the DB does not hold (a folder the CLI wrote, a deleted run) says only what the files say.
    page = client.get(tab("imdb_score", "never_ran"))
    assert page.status_code == 404 and "No scoring summary for run 'never_ran'" in said(page)
    assert "Run " not in page.text


def scoring_summary_of_a_run(root, run_id: str, monkeypatch, stats: bool = True) -> dict:
    """A scoring run's summary, written by the score task's own function: a scored batch, a drifted
    one with a hostile name, a quarantined and a refused file."""
    summary = {
        "inbox": str(root / "inbox"),
        "model_version": VERSION,
        "rescore": "latest",
        "waiting": 4,
        "already_scored": 0,
        "batches": [
            {"file": "reviews.txt", "key": "reviews.txt__0123456789abcdef", "status": "scored", "rows": 150,
             "positive_rate": 0.52, "duplicate_ids": 0, "drifted": False, "drift_flags": [], "folder": "f"},
            {"file": HOSTILE, "key": artifacts.safe_name(HOSTILE) + "__fedcba9876543210", "status": "scored",
             "rows": 200, "positive_rate": 0.1, "duplicate_ids": 0, "drifted": True,
             "drift_flags": ["length", "oov_share"], "folder": "f"},
            {"file": "junk.txt", "key": "junk.txt__unreadable", "status": "quarantined",
             "reason": "junk.txt is not UTF-8 text <b>", "folder": "q"},
            {"file": "fifo", "key": "fifo__fifo", "status": "refused",
             "reason": "fifo is a FIFO, not a regular file (permission denied: it stays in the inbox)"},
        ],
    }  # fmt: skip
    monkeypatch.setattr(inbox_scoring, "score_inbox", lambda *args, **kwargs: summary)
    inbox_scoring.score_for_run({"rescore": "latest"}, artifacts.run_dir("imdb_score", run_id, root=root))
    for batch in summary["batches"][:2] if stats else ():  # where the Models page serves them
        scored(root, VERSION, batch["key"], {"drifted": batch["drifted"], "flags": batch["drift_flags"]})
    return summary


def test_a_scoring_run_shows_its_batches(client, project_dags, artifact_root, monkeypatch):
    run_id = make_run("imdb_score", "success", {"score": ("success", 1), "flag_drift": ("success", 1)})
    summary = scoring_summary_of_a_run(artifact_root, run_id, monkeypatch)
    page = client.get(tab("imdb_score", run_id))
    assert page.status_code == 200, page.text
    text = page.text
    assert escape(scoring_summary.describe(summary)[0][1]) in text  # the task log's headline
    assert "2 scored, 1 quarantined, 1 drifted, 1 refused and left in the inbox" in text
    assert f"Champion version: <code>{html.escape(VERSION)}</code>" in text
    assert "Run " not in text  # a run that succeeded: only its summary
    cells = rows(text)
    assert [row[:5] for row in cells] == [
        ["reviews.txt", "scored", "150", "0.520", "none"],
        [str(escape(HOSTILE)), "scored", "200", "0.100", "DRIFTED: length, oov_share"],
        ["junk.txt", "quarantined", "–", "–", "–"],
        ["fifo", "refused", "–", "–", "–"],
    ]
    assert '<td class="drift">DRIFTED: length, oov_share</td>' in text
    assert cells[2][5] == "junk.txt is not UTF-8 text &lt;b&gt;"
    assert cells[3][5].startswith("fifo is a FIFO") and "it stays in the inbox" in cells[3][5]
    assert "<img" not in text and "<b>" not in text
    # Each scored batch links its statistics on the Models page, out of the tab's frame.
    links = [part.split('"')[0] for part in text.split('<a href="')[1:]]
    assert len(links) == 2 and text.count('target="_top">stats.json</a>') == 2
    for link, batch in zip(links, summary["batches"], strict=False):
        *_, version, key = html.unescape(link).split("/")
        assert (unquote(version), unquote(key)) == (VERSION, batch["key"])  # a server decodes once
        # Starlette's TestClient decodes a path twice (httpx's decoded path, unquoted again): one more.
        stats = client.get(html.unescape(link).replace("%", "%25"))
        assert stats.status_code == 200, link
        assert stats.json()["key"] == batch["key"] and stats.json()["model_version"] == VERSION


def test_a_scoring_run_that_did_not_succeed_says_so_above_its_summary(
    client, project_dags, artifact_root, monkeypatch
):
    run_id = make_run("imdb_score", "failed", {"score": ("success", 1), "flag_drift": ("failed", 3)})
    scoring_summary_of_a_run(artifact_root, run_id, monkeypatch)
    text = client.get(tab("imdb_score", run_id)).text
    assert "Run failed: task 'Flag drift' (flag_drift) failed on try 3 — open its log" in said(text)
    assert text.index("Run failed") < text.index("Champion version") and "stats.json" in text


def test_the_summary_is_read_through_its_manifest(client, project_dags, artifact_root, monkeypatch):
    run_id = make_run("imdb_score", "success", {"score": ("success", 1)})
    scoring_summary_of_a_run(artifact_root, run_id, monkeypatch)
    summary = artifacts.run_dir("imdb_score", run_id, root=artifact_root) / "score" / "summary.json"
    summary.write_text(json.dumps({"model_version": "forged", "batches": []}))
    page = client.get(tab("imdb_score", run_id))
    assert page.status_code == 404 and "changed since the scoring summary" in page.text
    assert "forged" not in page.text


def test_a_report_of_a_run_that_did_not_succeed_gets_a_banner(client, project_dags, artifact_root):
    done = dict.fromkeys(("ingest", "vectorize", "train", "evaluate", "gate", "report"), ("success", 1))
    failed = make_run("imdb_sentiment", "failed", {**done, "promote": ("failed", 2)})
    write_report(artifact_root, failed, "<!doctype html><body class=r><h1>Report of the run</h1></body>")
    page = client.get(tab("imdb_sentiment", failed))
    assert page.status_code == 200
    banner = "Run failed: task 'Promote to champion' (promote) failed on try 2 — open its log"
    assert banner in said(page) and said(page).index(banner) < said(page).index("Report of the run")
    assert page.text.index("<body class=r>") < page.text.index('<div class="status failed"')
    assert log_link("imdb_sentiment", failed, "promote") + "?try_number=2" in page.text

    succeeded = make_run("imdb_sentiment", "success", {**done, "promote": ("skipped", 1)})
    write_report(artifact_root, succeeded)
    page = client.get(tab("imdb_sentiment", succeeded))
    assert page.status_code == 200 and page.content.startswith(b"<h1>Report of the run</h1>")  # as written


def test_a_metadata_db_that_cannot_be_read_leaves_what_the_files_say(client, artifact_root, monkeypatch):
    from airflow import settings
    from sqlalchemy.exc import OperationalError

    def broken(*args, **kwargs):
        raise OperationalError("SELECT", {}, Exception("database is locked"))

    monkeypatch.setattr(settings, "NonScopedSession", broken)  # what the page's lookup opens
    assert run_status.lookup("imdb_sentiment", "any") is None
    write_report(artifact_root, "any")
    assert client.get(tab("imdb_sentiment", "any")).text.startswith("<h1>Report of the run</h1>")
    page = client.get(tab("imdb_sentiment", "other"))
    assert page.status_code == 404 and "only finished runs" in page.text.lower()


def test_a_scoring_run_without_a_champion_says_so(client, project_dags, artifact_root, monkeypatch):
    run_id = make_run("imdb_score", "success", {"score": ("success", 1)})
    summary = {"inbox": "inbox", "model_version": None, "waiting": 2, "batches": []}
    monkeypatch.setattr(inbox_scoring, "score_inbox", lambda *args, **kwargs: summary)
    inbox_scoring.score_for_run({"rescore": "latest"}, artifacts.run_dir("imdb_score", run_id))
    page = client.get(tab("imdb_score", run_id))
    assert page.status_code == 200 and escape(scoring_summary.describe(summary)[0][1]) in page.text
    assert "Champion version: none yet" in page.text and "No batch in this run." in page.text


def test_a_scoring_summary_in_a_bucket_is_read_through_its_manifest(
    client, project_dags, s3_root, monkeypatch
):
    from imdb_airflow import storage

    monkeypatch.delenv(storage.CONN_ENV, raising=False)
    root = artifacts.artifact_root()  # s3_root's bucket
    run_id = make_run("imdb_score", "success", {"score": ("success", 1)})
    summary = scoring_summary_of_a_run(root, run_id, monkeypatch, stats=False)
    page = client.get(tab("imdb_score", run_id))
    assert page.status_code == 200, page.text
    assert escape(scoring_summary.describe(summary)[0][1]) in page.text and len(rows(page.text)) == 4

    folder = artifacts.run_dir("imdb_score", run_id, root=root) / "score"
    written = folder / artifacts.read_manifest(folder)["folder"] / "summary.json"
    root.store.put(written, json.dumps({**summary, "model_version": "forged"}).encode())
    page = client.get(tab("imdb_score", run_id))
    assert page.status_code == 404 and "changed since the scoring summary" in page.text
    assert "forged" not in page.text
