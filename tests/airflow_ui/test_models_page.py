"""The Models page plugin: discovered by Airflow as a nav entry, shown to logged-in readers only,
with the champion history, the accuracy plot and the scoring batches. FastAPI's TestClient."""

from __future__ import annotations

import re

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from scoring_support import evaluated, promote, scored
from stage_runs import airflow_plugins

from imdb_airflow import models_overview
from imdb_airflow.models_page import URL_PREFIX, app
from imdb_pipeline.store import model_store

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
    assert (
        page.text.count('<tr class="champion">') == 1
        and page.text.count('<tr class="champion current">') == 1
    )
    assert "python -m imdb_pipeline.store.model_store --rollback" in page.text
    assert '<svg id="accuracy-plot"' in page.text and page.text.count("<circle") == 2
    assert page.text.count('class="current-champion"') == 1  # run2's point, starred
    assert page.text.count('<tr class="batch">') == 1 and '<td class="drift">length</td>' in page.text

    stats = client.get(URL_PREFIX + "/batches/v1/odd.txt__2", headers=auth)
    assert stats.status_code == 200 and stats.json()["drift"]["flags"] == ["length"]
    missing = client.get(URL_PREFIX + "/batches/v1/%2e%2e", headers=auth)
    assert missing.status_code == 404 and "No finished batch" in missing.text


def rows(page: str, kind: str) -> list[str]:
    return re.findall(rf'<tr class="{kind}[^"]*">.*?</tr>', page)


def test_long_names_show_short_with_the_full_name_on_hover(client, tokens, artifact_root):
    run = "manual__2026-12-03T15:01:02.123456+00:00"
    first = promote(artifact_root, "scheduled__2026-12-01T00:00:00+00:00", 0.86)
    second = promote(artifact_root, run, 0.88, previous=first)
    scored(artifact_root, second, "reviews.txt__3f9a1c2b", {"drifted": False, "tested": True, "flags": []})
    page = client.get(URL_PREFIX + "/", headers={"Authorization": f"Bearer {tokens['viewer']}"}).text
    labels = models_overview.version_labels([first, second])
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d(:\d\d(\.\d{6})?)?", labels[second])
    [current, older] = rows(page, "champion")
    # the version as its label, the full name on hover and, a click away, to select
    assert f'<summary title="{second}">{labels[second]}</summary><code>{second}</code>' in current
    assert f'<summary title="{run}">manual 2026-12-03 15:01</summary>' in current
    assert f'<summary title="{first}">{labels[first]}</summary>' in current  # what it replaced
    assert '<span title="2026-01-02T00:00:00+00:00">2026-01-02 00:00</span>' in current  # promoted
    assert (
        '<summary title="scheduled__2026-12-01T00:00:00+00:00">scheduled 2026-12-01 00:00</summary>' in older
    )
    [batch] = rows(page, "batch")
    assert f'<summary title="{second}">{labels[second]}</summary>' in batch  # its model
    for row in (current, older, batch):  # no full name outside a title or the <code> a click shows
        shown = re.sub(r'title="[^"]*"|<code>[^<]*</code>|href="[^"]*"', "", row)
        assert first not in shown and second not in shown and run not in shown


def test_the_current_champion_and_how_to_roll_it_back_come_first(client, tokens, artifact_root):
    auth = {"Authorization": f"Bearer {tokens['viewer']}"}
    first = promote(artifact_root, "run1", 0.86)
    page = client.get(URL_PREFIX + "/", headers=auth).text
    assert "No earlier champion to roll back to." in page and "--rollback" not in page
    second = promote(artifact_root, "run2", 0.88, previous=first)
    page = client.get(URL_PREFIX + "/", headers=auth).text
    labels = models_overview.version_labels([first, second])
    box = page[page.index('<div class="champion-now">') : page.index("<table>")]
    assert (
        f'Current champion <b><span title="{second}">{labels[second]}</span></b>: test accuracy 0.8800' in box
    )
    assert f"<code>{second}</code>" in box  # the whole name, to select
    assert f'Roll back to the previous champion, <span title="{first}">{labels[first]}</span>' in box
    assert f"<code>{models_overview.ROLLBACK}</code>" in box
    assert page.index("--rollback") < page.index('<tr class="champion')  # above the table, not a column


def test_values_from_the_files_are_escaped(client, tokens, artifact_root):
    hostile = {
        "dag_id": '"><img src=x onerror=alert(1)>',
        "run": "<script>alert(1)</script>",
        "test_accuracy": "<em>high</em>",
        "previous": "<i>none</i>",
        "promoted_at": "<u>now</u>",
    }
    (artifact_root / "src").mkdir(parents=True)
    (artifact_root / "src" / "model.keras").write_bytes(b"x")
    with model_store.promotion_lock(artifact_root):
        version = model_store.install(
            {"model": str(artifact_root / "src" / "model.keras")}, hostile, artifact_root
        )
        model_store.switch_to(version, artifact_root)
    evaluated(artifact_root, "<script>alert(2)", 0.87)
    drift = {"drifted": True, "tested": True, "flags": ["<script>alert(3)</script>"]}
    scored(artifact_root, "<em>v", "<script>alert(4)", drift)  # a folder name: no "/"
    page = client.get(URL_PREFIX + "/", headers={"Authorization": f"Bearer {tokens['viewer']}"}).text
    for tag in ("<script", "<img", "<em>", "<i>", "<u>"):
        assert tag not in page
    for n in (1, 2, 3, 4):
        assert f"&lt;script&gt;alert({n})" in page
    assert '<span title="&lt;u&gt;now&lt;/u&gt;">&lt;u&gt;now&lt;/u&gt;</span>' not in page  # short: as it is
    assert "&lt;u&gt;now&lt;/u&gt;" in page and "&lt;em&gt;high&lt;/em&gt;" in page


def test_a_batch_links_to_its_statistics_whatever_its_name(client, tokens, artifact_root):
    """A key with a space or a %-escape (``safe_name`` makes them) is quoted in the link."""
    auth = {"Authorization": f"Bearer {tokens['viewer']}"}
    for key in ("my reviews.txt__1", "caf%C3%A9.txt__2"):
        scored(artifact_root, "v1", key, {"drifted": False, "tested": False, "flags": []})
    page = client.get(URL_PREFIX + "/", headers=auth).text
    links = sorted(re.findall(r'<a href="([^"]+)">', page))
    assert links == [
        f"{URL_PREFIX}/batches/v1/caf%25C3%25A9.txt__2",
        f"{URL_PREFIX}/batches/v1/my%20reviews.txt__1",
    ]
    # (the TestClient decodes a path twice, a server once: only the link without "%" is followed here)
    assert client.get(links[1], headers=auth).json()["key"] == "my reviews.txt__1"
