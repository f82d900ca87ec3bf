"""The report viewer plugin: discovered by Airflow, serves a run's report to logged-in readers only,
and nothing outside the report's manifest. FastAPI's TestClient, no browser, no api-server.

These use the test configuration's simple auth manager; the FAB auth manager production runs, with
per-DAG roles, is checked against a real api-server in tests/test_production_topology.py."""

from __future__ import annotations

import struct
import zlib

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from stage_runs import airflow_plugins

from imdb_airflow.report_tab import URL_PREFIX, app
from imdb_pipeline.store import artifacts

# The throw-away AIRFLOW_HOME of conftest gets a short generated JWT secret: fine for tests.
pytestmark = pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")

DAG, RUN = "imdb_sentiment", "manual__2026-01-01T00:00:00+00:00"
SECRET = b"outside the artifact root"


def png_bytes() -> bytes:
    """A valid 1x1 PNG."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00"))
        + chunk(b"IEND", b"")
    )


def write_report(root, dag_id: str = DAG, run_id: str = RUN):
    """A finished report stage, written the way the pipeline writes it (manifest with checksums)."""
    with artifacts.stage_writer(artifacts.run_dir(dag_id, run_id, root=root), "report") as out:
        out.path("report", "report.html").write_text('<h1>Report of the run</h1><img src="loss.png">')
        out.path("loss_plot", "loss.png").write_bytes(png_bytes())
    return artifacts.run_dir(dag_id, run_id, root=root) / "report"


@pytest.fixture
def report(artifact_root, tmp_path):
    (tmp_path / "secret.txt").write_bytes(SECRET)
    return write_report(artifact_root)


@pytest.fixture
def client() -> TestClient:
    """The plugin app mounted under its prefix, as the api-server mounts it."""
    root = FastAPI()
    root.mount(URL_PREFIX, app)
    return TestClient(root)


def page_url(dag_id: str = DAG, run_id: str = RUN) -> str:
    return f"{URL_PREFIX}/{dag_id}/{run_id}/"


def test_airflow_discovers_the_plugin():
    plugin = next(p for p in airflow_plugins() if p["name"] == "imdb_report_viewer")
    assert plugin["source"] == "$PLUGINS_FOLDER/imdb_plugins.py"  # the entry file, not the package
    assert [a["url_prefix"] for a in plugin["fastapi_apps"]] == [URL_PREFIX]
    assert plugin["external_views"] == [
        {
            "name": "Report",
            "href": "/imdb-reports/{DAG_ID}/{RUN_ID}/",
            "destination": "dag_run",
            "url_route": "imdb-report",
        }
    ]


@pytest.mark.parametrize(
    ("credentials", "status"),
    [
        ({}, 401),
        ({"headers": {"Authorization": "Bearer not-a-jwt"}}, 403),
        ({"cookies": {"_token": "x.y.z"}}, 403),
    ],
)
def test_no_valid_token_no_report(client, report, tokens, credentials, status):
    client.cookies.update(credentials.get("cookies", {}))
    for url in (page_url(), page_url() + "loss.png"):
        response = client.get(url, headers=credentials.get("headers"))
        assert response.status_code == status, url
        assert b"Report of the run" not in response.content and b"PNG" not in response.content
        # A page the Report tab's frame can show, saying what to do; not Airflow's JSON error.
        assert response.headers["content-type"] == "text/html; charset=utf-8"
        expected = "log in to Airflow" if status == 401 else "Ask an Airflow admin for read access"
        assert expected in response.text and "Traceback" not in response.text


def test_a_user_without_a_role_may_not_read_runs(client, report, tokens):
    response = client.get(page_url(), headers={"Authorization": f"Bearer {tokens['none']}"})
    assert response.status_code == 403 and b"Report of the run" not in response.content
    assert f"may not read the runs of DAG {DAG}," in response.text
    assert "frame-ancestors 'self'" in response.headers["content-security-policy"]


def test_bearer_token_or_ui_cookie_gets_the_report(client, report, tokens):
    page = client.get(page_url(), headers={"Authorization": f"Bearer {tokens['viewer']}"})
    assert page.status_code == 200, page.text
    assert page.headers["content-type"] == "text/html; charset=utf-8" and "Report of the run" in page.text
    assert page.headers["cache-control"] == "no-store" and page.headers["x-content-type-options"] == "nosniff"
    assert "frame-ancestors 'self'" in page.headers["content-security-policy"]

    client.cookies.set("_token", tokens["admin"])  # what the Airflow UI's login leaves in the browser
    image = client.get(page_url() + "loss.png")  # where the page's relative <img src> resolves
    assert image.status_code == 200 and image.headers["content-type"] == "image/png"
    assert image.content == png_bytes()


@pytest.mark.parametrize(
    "path",
    [
        f"/{DAG}/%2e%2e/",  # run id ".."
        f"/{DAG}/%2e%2e%2f%2e%2e%2fetc/",
        f"/%2e%2e/{RUN}/",
        f"/.{DAG}/{RUN}/",  # another DAG id that would sanitize to this one's folder
        f"/{DAG}/{RUN}/%2e%2e",
        f"/{DAG}/{RUN}/%2Fetc%2Fpasswd",
        f"/{DAG}/{RUN}/manifest.json",  # in the folder, not a listed file
        f"/{DAG}/{RUN}/extra.txt",  # in the folder, written after the manifest
        f"/{DAG}/{RUN}/..%5csecret.txt",
        f"/{DAG}/%2e%2e%2f%2e%2e%2f%2e%2e/secret.txt",
    ],
)
def test_nothing_outside_the_manifest(client, report, tokens, path):
    (report / "extra.txt").write_text("not in the manifest")
    response = client.get(URL_PREFIX + path, headers={"Authorization": f"Bearer {tokens['admin']}"})
    assert response.status_code in (400, 404), response.text
    assert SECRET not in response.content and b"not in the manifest" not in response.content


def test_a_listed_file_swapped_for_a_symlink_or_changed_is_refused(client, report, tokens, tmp_path):
    outside = tmp_path / "outside.png"
    outside.write_bytes(png_bytes())  # same bytes: only the link itself gives it away
    (report / "loss.png").unlink()
    (report / "loss.png").symlink_to(outside)
    auth = {"Authorization": f"Bearer {tokens['admin']}"}
    assert client.get(page_url() + "loss.png", headers=auth).status_code == 404

    (report / "report.html").write_text("<h1>edited after the run</h1>")
    response = client.get(page_url(), headers=auth)
    assert response.status_code == 404 and "changed since" in response.text


def test_runs_without_a_report_get_a_clear_404(client, artifact_root, tokens):
    auth = {"Authorization": f"Bearer {tokens['admin']}"}
    with artifacts.stage_writer(artifacts.run_dir(DAG, "unfinished", root=artifact_root), "ingest") as out:
        out.path("tokens", "tokens.txt").write_text("x")
    for url in (page_url(run_id="unfinished"), page_url(run_id="never_ran"), page_url("some_other_dag", RUN)):
        response = client.get(url, headers=auth)
        assert response.status_code == 404 and response.headers["content-type"].startswith("text/html")
        assert "No report for run" in response.text and "only finished runs" in response.text.lower()
