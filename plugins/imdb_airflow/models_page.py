"""Airflow UI plugin: the Models page, a nav entry that shows the model lifecycle in one place.

- ``GET /imdb-models/``: the champion history (version, when, from which run, test accuracy, what it
  replaced, the rollback command), every training run's test accuracy over time as a plot, and the
  recent scoring batches (rows, positive rate, drift flags), each linking to its statistics.
- ``GET /imdb-models/batches/{version}/{key}``: one batch's ``stats.json`` (its data checks and drift).

Authenticated and authorized as the Report tab, by ``web``: the caller's Bearer token or UI cookie,
then read access to the runs of both DAGs the page shows (``imdb_sentiment`` and ``imdb_score``); a
refusal is a short HTML page. The pipeline is imported inside the handlers. On a bucket root, each
request first opens the store as the Report tab does (the connection of ``IMDB_ARTIFACT_CONN_ID``), and
a bucket that cannot be read is a 503 page saying so, not an empty history.
"""

from __future__ import annotations

import contextlib
import html
import json
from collections.abc import Iterator
from typing import Annotated, Any, ClassVar

from airflow.plugins_manager import AirflowPlugin
from fastapi import Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, Response
from starlette.exceptions import HTTPException

from imdb_airflow import web
from imdb_airflow.report_tab import StorageUnavailable, open_artifact_store, unavailable, unavailable_page

URL_PREFIX = "/imdb-models"
DAGS_SHOWN = ("imdb_sentiment", "imdb_score")
STYLE = (
    web.PAGE_STYLE
    + "table{border-collapse:collapse;margin:.5rem 0 1.5rem}td,th{border-bottom:1px solid #e2e8f0;"
    "padding:.25rem .6rem;text-align:left;font-size:13px}.drift{color:#c53030;font-weight:600}"
    "code{background:#edf2f7;padding:0 .3rem}"
)


def authorize(request: Request, user: Annotated[Any, Depends(web.current_user)]) -> None:
    """403 unless the user may read the runs of every DAG the page shows."""
    for dag_id in DAGS_SHOWN:
        request.path_params["dag_id"] = dag_id  # names the DAG in a refusal page
        web.authorize_run_read(dag_id, request, user)


app = FastAPI(title="IMDB models", docs_url=None, redoc_url=None, openapi_url=None)
app.exception_handler(HTTPException)(web.refused)


def _cell(value: Any) -> str:
    if value is None:
        return "<td>–</td>"
    if isinstance(value, float):
        return f"<td>{value:.4f}</td>"
    return f"<td>{html.escape(str(value))}</td>"


def _table(headers: list[str], rows: list[str], empty: str) -> str:
    if not rows:
        return f'<p class="empty">{empty}</p>'
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _champion_row(c: dict[str, Any]) -> str:
    name = c["version"] + (" (current)" if c["current"] else "")
    rollback = f"<code>{html.escape(c['rollback'])}</code>" if c["rollback"] else ""
    cells = [name, c["promoted_at"], c["dag_id"], c["run"], c["test_accuracy"], c["previous"]]
    return f'<tr class="champion">{"".join(map(_cell, cells))}<td>{rollback}</td></tr>'


def _batch_row(b: dict[str, Any]) -> str:
    link = html.escape(f"{web.base_path()}{URL_PREFIX}/batches/{b['model_version']}/{b['key']}")
    flags = ", ".join(b["drift_flags"]) if b["drifted"] else ("none" if b["drift_tested"] else "not tested")
    drift_class = "drift" if b["drifted"] else ""
    return (
        f'<tr class="batch">{_cell(b["finished_at"])}'
        f'<td><a href="{link}">{html.escape(str(b["file"]))}</a></td>'
        f"{_cell(b['model_version'])}{_cell(b['rows'])}{_cell(b['positive_rate'])}"
        f'<td class="{drift_class}">{html.escape(flags)}</td></tr>'
    )


def render_page() -> str:
    from imdb_airflow import models_overview as overview

    return (
        f'<!doctype html><meta charset="utf-8"><title>IMDB models</title><style>{STYLE}</style>'
        "<h1>Champion history</h1>"
        + _table(
            ["version", "promoted", "DAG", "run", "test accuracy", "replaced", "rollback"],
            [_champion_row(c) for c in overview.champions()],
            "No champion yet: a blessed imdb_sentiment run promotes one.",
        )
        + "<h1>Test accuracy of training runs</h1>"
        + overview.accuracy_svg(overview.training_runs())
        + "<h1>Recent scoring batches</h1>"
        + _table(
            ["finished", "file (statistics)", "model", "rows", "positive rate", "drift"],
            [_batch_row(b) for b in overview.batches()],
            "No batch scored yet: drop reviews into the inbox (docs/scoring.md).",
        )
    )


@app.exception_handler(StorageUnavailable)
async def storage_unavailable(request: Request, error: StorageUnavailable) -> HTMLResponse:
    return unavailable_page(error, "The Models page")


@contextlib.contextmanager
def artifact_store() -> Iterator[None]:
    """Open the store for a request; on a bucket root, any failure to read it while the block runs
    (what is merely unfinished or damaged is left out before it gets here) is ``StorageUnavailable``."""
    from imdb_pipeline.store import artifacts
    from imdb_pipeline.store.object_store import ObjectPath

    open_artifact_store()
    root = artifacts.artifact_root()
    try:
        yield
    except Exception as error:  # on a bucket: its credentials, its endpoint, the network
        if not isinstance(root, ObjectPath) or isinstance(error, StorageUnavailable):
            raise
        raise unavailable(error, root) from error


@app.get("/", dependencies=[Depends(authorize)])
def models_page() -> HTMLResponse:
    with artifact_store():
        return HTMLResponse(render_page(), headers=web.HEADERS)


@app.get("/batches/{model_version}/{key}", dependencies=[Depends(authorize)])
def batch_statistics(model_version: str, key: str) -> Response:
    from imdb_airflow import models_overview
    from imdb_pipeline.store import artifacts

    with artifact_store():
        path = models_overview.batch_stats_path(model_version, key)
        if path is None:
            return web.message_page(
                "No such batch", f"No finished batch {key!r} of model {model_version!r}.", 404
            )
        body = json.dumps(artifacts.read_json(path), indent=2)
    return Response(body, media_type="application/json; charset=utf-8", headers=web.HEADERS)


class ImdbModelsPagePlugin(AirflowPlugin):
    name = "imdb_models_page"
    fastapi_apps: ClassVar[list[dict]] = [{"app": app, "url_prefix": URL_PREFIX, "name": "IMDB models"}]
    external_views: ClassVar[list[dict]] = [
        {
            "name": "Models",
            "href": f"{web.base_path()}{URL_PREFIX}/",
            "destination": "nav",
            "url_route": "imdb-models",
        }
    ]
