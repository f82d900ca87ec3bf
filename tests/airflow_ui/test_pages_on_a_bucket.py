"""The Report tab and the Models page with a bucket as the artifact root (issue #21), against the real
S3 API server of the tests: a real run of the pipeline, promoted, and one scored inbox object.

The run is made once per module in a bucket of its own (about ten seconds); each test gets a copy of it
in a fresh bucket (``s3_root``) and an empty local cache, as an api-server on another machine than the
workers that wrote it. FastAPI's TestClient, as in test_report_tab.py and test_models_page.py.
"""

from __future__ import annotations

import uuid

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sample_data import make_review
from stage_runs import tiny_params

from imdb_airflow import models_overview, models_page, report_tab, storage
from imdb_pipeline.store import artifacts, local_cache, model_store, object_store

# A real run trains a tiny model once per module (about ten seconds), hence "slow".
pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")]

DAG, RUN = "imdb_sentiment", "manual__2026-01-01T00:00:00+00:00"
REPORT_PLOTS = ("loss.png", "accuracy.png", "confusion_matrix.png", "roc.png")
CONNECTION = "imdb_artifacts_test"


def _fresh_clients() -> None:
    """s3fs keeps one client per set of arguments: a test's environment needs new ones."""
    import s3fs

    s3fs.S3FileSystem.clear_instance_cache()


@pytest.fixture(scope="module")
def template(s3_server, tiny_aclimdb_dir, tmp_path_factory) -> dict:
    """A finished imdb_sentiment run, promoted to champion, and one inbox object scored with it, in a
    bucket of its own: what the workers leave behind."""
    import numpy as np

    from imdb_pipeline.serving import inbox_scoring
    from imdb_pipeline.stages.runner import run_pipeline

    bucket = f"imdb-template-{uuid.uuid4().hex[:12]}"
    s3_server.create_bucket(bucket)
    with pytest.MonkeyPatch.context() as env:
        for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL_S3", "IMDB_INBOX"):
            env.delenv(name, raising=False)
        for name, value in s3_server.env.items():
            env.setenv(name, value)
        env.setenv("IMDB_ARTIFACT_ROOT", f"s3://{bucket}/artifacts")
        env.setenv("IMDB_LOCAL_CACHE", str(tmp_path_factory.mktemp("workers-cache")))
        _fresh_clients()
        root = artifacts.artifact_root()
        run_pipeline(tiny_params(tiny_aclimdb_dir), artifacts.run_dir(DAG, RUN, root=root), promote=True)
        rng = np.random.default_rng(3)
        reviews = "\n".join(make_review(rng, bool(i % 2)) for i in range(12)) + "\n"
        root.store.put(root / "inbox" / "x.txt", reviews.encode())
        summary = inbox_scoring.score_inbox()
        _fresh_clients()
    [batch] = summary["batches"]
    assert batch["status"] == "scored", summary
    return {"bucket": bucket, "version": summary["model_version"], "key": batch["key"]}


@pytest.fixture
def root(s3_root, template, monkeypatch) -> object_store.ObjectPath:
    """The template's objects copied into this test's fresh bucket, which is the artifact root; no
    connection handed over by an earlier test, no bucket checked yet in this process."""
    monkeypatch.setattr(object_store, "_handed_over", {})
    monkeypatch.setattr(storage, "_done", set())
    monkeypatch.delenv(storage.CONN_ENV, raising=False)
    monkeypatch.delenv("IMDB_INBOX", raising=False)
    root = artifacts.artifact_root()
    fs = root.store.fs
    source = f"{template['bucket']}/artifacts"
    for key in fs.find(source):
        fs.copy(key, root.key + key[len(source) :])
    fs.invalidate_cache()
    return root


@pytest.fixture
def client(tokens) -> TestClient:
    """Both plugin apps mounted under their prefixes, as the api-server mounts them; a viewer's token."""
    app = FastAPI()
    app.mount(report_tab.URL_PREFIX, report_tab.app)
    app.mount(models_page.URL_PREFIX, models_page.app)
    return TestClient(app, headers={"Authorization": f"Bearer {tokens['viewer']}"})


def report_url(run_id: str = RUN, filename: str = "") -> str:
    return f"{report_tab.URL_PREFIX}/{DAG}/{run_id}/{filename}"


def report_object(root: object_store.ObjectPath, filename: str) -> object_store.ObjectPath:
    """Where the report's file lies in the bucket: ``report/<the manifest's folder>/<file>``."""
    folder = artifacts.run_dir(DAG, RUN, root=root) / report_tab.REPORT_STAGE
    return folder / artifacts.read_manifest(folder)["folder"] / filename


class RequestCounter:
    """Counts the HTTP requests the library's S3 client sends (retries included)."""

    def __init__(self, root: object_store.ObjectPath):
        self.count = 0
        fs = root.store.fs
        fs.connect()
        fs.s3.meta.events.register("before-send.s3", self._sent)

    def _sent(self, **_) -> None:
        self.count += 1

    def during(self, action) -> int:
        before = self.count
        action()
        return self.count - before


def test_the_report_and_its_plots_are_served_from_the_bucket(client, root):
    page = client.get(report_url())
    assert page.status_code == 200, page.text
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert page.content == root.store.read(report_object(root, "report.html"))
    for plot in REPORT_PLOTS:
        assert f'src="{plot}"' in page.text
        image = client.get(report_url(filename=plot))  # where the page's relative <img src> resolves
        assert image.status_code == 200 and image.headers["content-type"] == "image/png"
        assert image.content.startswith(b"\x89PNG")
        assert image.content == root.store.read(report_object(root, plot))
        assert image.headers["cache-control"] == "no-store"


def test_a_report_file_replaced_in_the_bucket_after_the_run_is_refused(client, root):
    assert client.get(report_url(filename="loss.png")).status_code == 200  # read once: nothing kept
    root.store.put(report_object(root, "loss.png"), root.store.read(report_object(root, "roc.png")))
    root.store.put(report_object(root, "report.html"), b"<h1>edited after the run</h1>")
    for filename in ("loss.png", ""):
        response = client.get(report_url(filename=filename))
        assert response.status_code == 404 and "changed since the report of run" in response.text
        assert b"edited after the run" not in response.content and b"PNG" not in response.content
    assert client.get(report_url(filename="roc.png")).status_code == 200  # the others still are


def test_unknown_runs_and_files_outside_the_manifest_are_a_404(client, root):
    response = client.get(report_url(run_id="never_ran"))
    assert response.status_code == 404 and "No report for run &#x27;never_ran&#x27;" in response.text
    assert "only finished runs" in response.text.lower()
    for run_id in ("%2e%2e", "..%2f..%2fchampions", "%2e%2e%2f%2e%2e%2fchampions"):
        response = client.get(report_url(run_id=run_id))
        assert response.status_code in (400, 404) and b"<img" not in response.content
    other = client.get(f"{report_tab.URL_PREFIX}/some_other_dag/{RUN}/")
    assert other.status_code == 404 and "No report for run" in other.text
    # An object beside the listed ones (an attacker's, or a half-written attempt's) is not served.
    root.store.put(report_object(root, "extra.html"), b"not in the manifest")
    for filename in ("manifest.json", "extra.html", "%2e%2e", "..%5cmanifest.json"):
        response = client.get(report_url(filename=filename))
        assert response.status_code == 404 and b"not in the manifest" not in response.content


def test_a_damaged_or_forged_report_manifest_is_no_report(client, root):
    import json

    manifest = artifacts.run_dir(DAG, RUN, root=root) / report_tab.REPORT_STAGE / artifacts.MANIFEST
    original = json.loads(root.store.read(manifest))
    for body in (
        b'{"outputs": {}, "fi',  # truncated
        json.dumps({**original, "folder": "attempts/.."}).encode(),
        json.dumps({**original, "folder": "../../champions/x"}).encode(),
        json.dumps({key: value for key, value in original.items() if key != "folder"}).encode(),
    ):
        root.store.put(manifest, body)
        response = client.get(report_url())
        assert response.status_code == 404 and "No report for run" in response.text, body


def test_a_run_whose_report_has_not_finished_has_none(client, root):
    unfinished = artifacts.run_dir(DAG, "unfinished", root=root)
    with artifacts.stage_writer(unfinished, "ingest") as out:
        out.path("tokens", "tokens.txt").write_text("x")
    response = client.get(report_url(run_id="unfinished"))
    assert response.status_code == 404 and "No report for run &#x27;unfinished&#x27;" in response.text


def test_without_a_login_or_read_access_nothing_is_read_from_the_bucket(client, root, tokens):
    counter = RequestCounter(root)
    for url in (report_url(), models_page.URL_PREFIX + "/"):
        assert client.get(url, headers={"Authorization": ""}).status_code == 401
        refused = client.get(url, headers={"Authorization": f"Bearer {tokens['none']}"})
        assert refused.status_code == 403 and "may not read the runs of DAG" in refused.text
    assert counter.count == 0


def test_a_missing_bucket_is_a_503_page_not_no_report(client, s3_root, monkeypatch):
    monkeypatch.setenv("IMDB_ARTIFACT_ROOT", f"s3://imdb-test-missing-{uuid.uuid4().hex[:8]}/artifacts")
    for url in (report_url(), models_page.URL_PREFIX + "/"):
        response = client.get(url)
        assert response.status_code == 503, response.text
        assert "Artifact store unavailable" in response.text and "does not exist" in response.text
        assert response.headers["content-type"] == "text/html; charset=utf-8"


def test_the_models_page_lists_the_champion_the_run_and_the_batch_from_the_bucket(client, root, template):
    page = client.get(models_page.URL_PREFIX + "/")
    assert page.status_code == 200, page.text
    champion = model_store.current(root)
    assert champion["version"] == template["version"] and champion["dag_id"] == DAG
    assert page.text.count('<tr class="champion current">') == 1
    assert f'<summary title="{template["version"]}">' in page.text  # its short label, the full name on hover
    assert '<svg id="accuracy-plot"' in page.text and page.text.count("<circle") == 1
    assert f"{DAG} {RUN}: " in page.text
    assert page.text.count('<tr class="batch">') == 1 and ">x.txt</a>" in page.text

    link = f"{models_page.URL_PREFIX}/batches/{template['version']}/{template['key']}"
    assert f'href="{link}"' in page.text
    stats = client.get(link)
    assert stats.status_code == 200 and stats.json()["key"] == template["key"]
    assert stats.json()["rows"] == 12
    for version, key in [
        (template["version"], "%2e%2e"),
        ("%2e%2e", template["key"]),
        (template["version"], "missing"),
        (template["version"], "." + template["key"]),
    ]:
        response = client.get(f"{models_page.URL_PREFIX}/batches/{version}/{key}")
        assert response.status_code == 404 and "No finished batch" in response.text


def test_the_overview_reads_the_bucket_like_a_folder(root, template):
    [champion] = models_overview.champions(root)
    assert champion["current"] and (champion["dag_id"], champion["run"]) == (DAG, RUN)
    assert isinstance(champion["test_accuracy"], float) and champion["promoted_at"]
    [run] = models_overview.training_runs(root)
    assert (run["dag_id"], run["run"]) == (DAG, RUN)  # the run id is its folder's name as it is
    [batch] = models_overview.batches(root)
    assert (batch["model_version"], batch["key"], batch["rows"]) == (template["version"], template["key"], 12)
    stats = models_overview.batch_stats_path(template["version"], template["key"], root)
    assert artifacts.read_json(stats)["key"] == template["key"]
    assert stats.is_relative_to(local_cache.cache_root())  # the verified local copy
    # An evaluation that never finished (no manifest) is left out, not an error.
    root.store.put(
        root / DAG / "manual__2026-02-01T00:00:00+00:00" / "evaluate" / "attempts" / "a" / "x", b""
    )
    assert len(models_overview.training_runs(root)) == 1
    # A batch in progress (its claim, no manifest) is not a batch.
    assert models_overview.batch_stats_path(template["version"], "in-progress", root) is None


def evaluated_runs(root: object_store.ObjectPath, month: int, days: range) -> None:
    """Finished evaluate stages of scheduled runs, one a day (their run ids carry the date)."""
    for day in days:
        run = artifacts.run_dir(DAG, f"scheduled__2026-{month:02d}-{day:02d}T00:00:00+00:00", root=root)
        with artifacts.stage_writer(run, "evaluate") as out:
            artifacts.write_json(
                out.path("evaluation", "evaluation.json"), {"test_accuracy": 0.5 + day / 100}
            )


def test_a_page_load_reads_as_much_of_the_bucket_however_long_its_history(client, root, monkeypatch):
    """The Models page reads the newest ``BUCKET_RUNS`` runs: a longer history costs no more requests.
    The Report tab reads two objects per file (manifest, file), each a HEAD and a GET today."""
    monkeypatch.setattr(models_overview, "BUCKET_RUNS", 4)
    counter = RequestCounter(root)

    def page_load() -> int:
        client.get(models_page.URL_PREFIX + "/").raise_for_status()  # the newest runs' files fetched
        return counter.during(lambda: client.get(models_page.URL_PREFIX + "/").raise_for_status())

    evaluated_runs(root, 3, range(1, 7))
    short_history = page_load()
    evaluated_runs(root, 4, range(1, 25))
    long_history = page_load()
    page = client.get(models_page.URL_PREFIX + "/").text
    assert page.count("<circle") == 4 and "2026-04-24" in page and "2026-04-20" not in page
    report = counter.during(lambda: client.get(report_url()).raise_for_status())
    image = counter.during(lambda: client.get(report_url(filename="roc.png")).raise_for_status())
    print(f"bucket requests: models page {short_history} / {long_history}, report {report}, a plot {image}")
    assert long_history == short_history <= 40
    assert report <= 4 and image <= 4


def test_the_pages_read_the_bucket_through_the_airflow_connection(client, root, s3_server, monkeypatch):
    """With IMDB_ARTIFACT_CONN_ID, the connection alone says where the bucket is and who reads it."""
    import json

    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name)
    _fresh_clients()
    connection = {
        "conn_type": "aws",
        "login": s3_server.env["AWS_ACCESS_KEY_ID"],
        "password": s3_server.env["AWS_SECRET_ACCESS_KEY"],
        "extra": {"endpoint_url": s3_server.endpoint, "region_name": "us-east-1"},
    }
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONNECTION.upper()}", json.dumps(connection))
    monkeypatch.setenv(storage.CONN_ENV, CONNECTION)
    assert client.get(report_url(filename="loss.png")).content.startswith(b"\x89PNG")
    assert '<tr class="champion current">' in client.get(models_page.URL_PREFIX + "/").text
    assert object_store.filesystem("s3") is object_store._handed_over["s3"]  # the connection's


def test_a_connection_that_cannot_be_used_is_a_503_page_saying_why(client, root, monkeypatch):
    """What ``storage`` says of a connection it cannot use reaches the reader, in the page's frame."""
    from imdb_pipeline.core.errors import PipelineInputError

    def unusable() -> None:
        raise PipelineInputError(
            "the artifact connection 'imdb_artifacts' (IMDB_ARTIFACT_CONN_ID) cannot be used"
        )

    monkeypatch.setattr(storage, "use_artifact_connection", unusable)
    for url in (report_url(), models_page.URL_PREFIX + "/"):
        response = client.get(url)
        assert response.status_code == 503 and "Artifact store unavailable" in response.text
        assert "the artifact connection &#x27;imdb_artifacts&#x27;" in response.text
