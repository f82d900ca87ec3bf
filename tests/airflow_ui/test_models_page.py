"""The Models page plugin: discovered by Airflow as a nav entry, shown to logged-in readers only,
with the champion history, the accuracy plot and the scoring batches. FastAPI's TestClient."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from scoring_support import evaluated, promote, scored
from stage_runs import airflow_plugins

from imdb_airflow.models_page import URL_PREFIX, app

pytestmark = pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")


@pytest.fixture
def client() -> TestClient:
    root = FastAPI()
    root.mount(URL_PREFIX, app)
    return TestClient(root)


def test_airflow_lists_the_page_as_a_nav_entry():
    names = [p["name"] for p in airflow_plugins()]
    assert names.count("imdb_models_page") == 1 and names.count("imdb_report_viewer") == 1
    plugin = next(p for p in airflow_plugins() if p["name"] == "imdb_models_page")
    assert plugin["external_views"] == [
        {"name": "Models", "href": "/imdb-models/", "destination": "nav", "url_route": "imdb-models"}
    ]


def test_not_logged_in_or_no_role_is_refused_with_a_page(client, tokens):
    response = client.get(URL_PREFIX + "/")
    assert response.status_code == 401 and "log in to Airflow" in response.text
    response = client.get(URL_PREFIX + "/", headers={"Authorization": f"Bearer {tokens['none']}"})
    assert response.status_code == 403 and "may not read the runs of DAG imdb_sentiment" in response.text


def test_the_page_shows_champions_plot_and_batches(client, tokens, artifact_root):
    first = promote(artifact_root, "run1", 0.86)
    promote(artifact_root, "run2", 0.88, previous=first)
    evaluated(artifact_root, "run1", 0.86)
    evaluated(artifact_root, "run2", 0.88)
    scored(artifact_root, "v1", "odd.txt__2", {"drifted": True, "tested": True, "flags": ["length"]})
    auth = {"Authorization": f"Bearer {tokens['viewer']}"}
    page = client.get(URL_PREFIX + "/", headers=auth)
    assert page.status_code == 200 and page.headers["content-type"] == "text/html; charset=utf-8"
    assert page.text.count('<tr class="champion">') == 2 and "(current)" in page.text
    assert "python -m imdb_pipeline.store.model_store --rollback" in page.text
    assert '<svg id="accuracy-plot"' in page.text and page.text.count("<circle") == 2
    assert page.text.count('<tr class="batch">') == 1 and '<td class="drift">length</td>' in page.text

    stats = client.get(URL_PREFIX + "/batches/v1/odd.txt__2", headers=auth)
    assert stats.status_code == 200 and stats.json()["drift"]["flags"] == ["length"]
    missing = client.get(URL_PREFIX + "/batches/v1/%2e%2e", headers=auth)
    assert missing.status_code == 404 and "No finished batch" in missing.text
