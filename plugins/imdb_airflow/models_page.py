"""Airflow UI plugin: the Models page, a nav entry that shows the model lifecycle in one place.

- ``GET /imdb-models/``: the current champion and the command rolling it back, the champion history
  (version, when, from which run, test accuracy, what it replaced), every training run's test
  accuracy over time as a plot (``models_chart``), and the recent scoring batches (rows, positive
  rate, drift flags), each linking to its statistics. Long names show short, in full on hover (a click
  on a version or run id shows it to select); long values wrap: the page fits a 1,150 px frame.
- ``GET /imdb-models/batches/{version}/{key}``: one batch's ``stats.json`` (its data checks and drift).

Authenticated and authorized as the Report tab, by ``web``: the caller's Bearer token or UI cookie,
then read access to the runs of both DAGs the page shows (``imdb_sentiment`` and ``imdb_score``); a
refusal is a short HTML page. The pipeline is imported inside the handlers. On a bucket root, each
request first opens the store as the Report tab does (the connection of ``IMDB_ARTIFACT_CONN_ID``), and
a bucket that cannot be read is a 503 page saying so, not an empty history.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import html
import json
from collections.abc import Iterator
from typing import Annotated, Any, ClassVar
from urllib.parse import quote

from airflow.plugins_manager import AirflowPlugin
from fastapi import Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, Response
from starlette.exceptions import HTTPException

from imdb_airflow import web
from imdb_airflow.report_tab import StorageUnavailable, open_artifact_store, unavailable, unavailable_page

URL_PREFIX = "/imdb-models"
DAGS_SHOWN = ("imdb_sentiment", "imdb_score")
STYLE = (
    web.PAGE_STYLE + "body{max-width:1100px}table{border-collapse:collapse;width:100%;margin:.5rem 0 1.5rem}"
    "td,th{border-bottom:1px solid #e2e8f0;padding:.25rem .6rem;text-align:left;font-size:13px;"
    "vertical-align:top;overflow-wrap:anywhere}th{white-space:nowrap}td.num{white-space:nowrap}"
    ".drift{color:#c53030;font-weight:600}code{background:#edf2f7;padding:0 .3rem;overflow-wrap:anywhere}"
    "summary{cursor:pointer;list-style:none}summary::-webkit-details-marker{display:none}"
    "summary,span[title]{text-decoration:underline dotted #a0aec0;overflow-wrap:normal}details code{"
    "display:block;box-sizing:border-box;width:0;min-width:100%;font-size:12px;margin-top:.15rem;"
    "user-select:all}tr.current{background:#fffbea}"
    ".badge{background:#d69e2e;color:#fff;border-radius:3px;padding:0 .3rem;font-size:11px;margin-left:.3rem}"
    ".champion-now{border-left:4px solid #d69e2e;background:#f7fafc;padding:.4rem .9rem;margin:.5rem 0}"
    ".champion-now p{margin:.3rem 0}#accuracy-plot{display:block;max-width:1060px;height:auto}"
    "@media (min-width:900px){summary,span[title]{white-space:nowrap}}"
)
NO_VALUE = "–"
SHORT_NAME = 24  # a name the page cannot shorten by its shape is cut to this many characters


def authorize(request: Request, user: Annotated[Any, Depends(web.current_user)]) -> None:
    """403 unless the user may read the runs of every DAG the page shows."""
    for dag_id in DAGS_SHOWN:
        request.path_params["dag_id"] = dag_id  # names the DAG in a refusal page
        web.authorize_run_read(dag_id, request, user)


app = FastAPI(title="IMDB models", docs_url=None, redoc_url=None, openapi_url=None)
app.exception_handler(HTTPException)(web.refused)


def _cell(value: Any) -> str:
    if value is None:
        return f"<td>{NO_VALUE}</td>"
    if isinstance(value, float):
        return f'<td class="num">{value:.4f}</td>'
    return f"<td>{html.escape(str(value))}</td>"


def _table(headers: list[str], rows: list[str], empty: str) -> str:
    if not rows:
        return f'<p class="empty">{empty}</p>'
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _when(value: Any) -> dt.datetime | None:
    with contextlib.suppress(TypeError, ValueError):
        when = dt.datetime.fromisoformat(value)
        return when.astimezone(dt.UTC) if when.tzinfo else when
    return None


def shorten(text: Any) -> str:
    """``text``, or its first ``SHORT_NAME`` characters and an ellipsis."""
    return str(text) if len(str(text)) <= SHORT_NAME else str(text)[: SHORT_NAME - 1] + "…"


def run_label(run: Any) -> str:
    """``manual__2026-12-03T15:01:02.123456+00:00`` as ``manual 2026-12-03 15:01`` (UTC): the kind
    and the date of an id Airflow made; another id, cut short."""
    kind, _, date = str(run).rpartition("__")
    when = _when(date) if kind else None
    return f"{kind} {when:%Y-%m-%d %H:%M}" if when else shorten(run)


def _time(value: Any) -> str:
    """A time as ``2026-12-03 15:01`` (UTC), in full on hover."""
    when = _when(value)
    return _short(value, f"{when:%Y-%m-%d %H:%M}" if when else shorten(value), False)


def _short(full: Any, short: str, selectable: bool = True) -> str:
    """A long value as its short label, in full on hover; ``selectable``: and, on a click, shown in
    full to select (a ``<details>``: the page has no script)."""
    if full is None:
        return NO_VALUE
    if short == str(full):
        return html.escape(short)
    full, short = html.escape(str(full)), html.escape(short)
    if not selectable:
        return f'<span title="{full}">{short}</span>'
    return f'<details><summary title="{full}">{short}</summary><code>{full}</code></details>'


def _champion_row(c: dict[str, Any], labels: dict[str, str]) -> str:
    badge = '<span class="badge">current</span>' if c["current"] else ""
    return (
        f'<tr class="champion{" current" if c["current"] else ""}">'
        f"<td>{_short(c['version'], labels[c['version']])}{badge}</td>"
        f"<td>{_time(c['promoted_at'])}</td>{_cell(c['dag_id'])}"
        f"<td>{_short(c['run'], run_label(c['run']))}</td>{_cell(c['test_accuracy'])}"
        f"<td>{_short(c['previous'], labels.get(str(c['previous']), ''))}</td></tr>"
    )


def _current_champion(champions: list[dict[str, Any]], labels: dict[str, str]) -> str:
    """The champion in full (its whole version name, to select), and the command rolling it back."""
    c = next((c for c in champions if c["current"]), None)
    if c is None:
        return ""
    accuracy = c["test_accuracy"]
    accuracy = f"{accuracy:.4f}" if isinstance(accuracy, float) else html.escape(str(accuracy))
    rollback = "No earlier champion to roll back to."
    if c["rollback"]:
        rollback = (
            f"Roll back to the previous champion, {_short(c['previous'], labels[str(c['previous'])], False)}"
            f" (if it is damaged: the newest intact older one):<br><code>{html.escape(c['rollback'])}</code>"
        )
    version = _short(c["version"], labels[c["version"]], False)
    run = _short(c["run"], run_label(c["run"]), False)
    return (
        f'<div class="champion-now"><p>Current champion <b>{version}</b>: test accuracy {accuracy}, from '
        f"{html.escape(str(c['dag_id']))} run {run}, promoted {_time(c['promoted_at'])}. Version "
        f"<code>{html.escape(c['version'])}</code></p><p>{rollback}</p></div>"
    )


def _batch_row(b: dict[str, Any], labels: dict[str, str]) -> str:
    path = "/".join(quote(str(name), safe=":+") for name in (b["model_version"], b["key"]))
    link = html.escape(f"{web.base_path()}{URL_PREFIX}/batches/{path}")
    flags = ", ".join(b["drift_flags"]) if b["drifted"] else ("none" if b["drift_tested"] else "not tested")
    drift_class = "drift" if b["drifted"] else ""
    return (
        f'<tr class="batch"><td>{_time(b["finished_at"])}</td>'
        f'<td><a href="{link}">{html.escape(str(b["file"]))}</a></td>'
        f"<td>{_short(b['model_version'], labels.get(str(b['model_version']), ''))}</td>"
        f"{_cell(b['rows'])}{_cell(b['positive_rate'])}"
        f'<td class="{drift_class}">{html.escape(flags)}</td></tr>'
    )


def render_page() -> str:
    from imdb_airflow import models_chart
    from imdb_airflow import models_overview as data

    champions, batches = data.champions(), data.batches()
    names = [str(c[key]) for c in champions for key in ("version", "previous") if c[key] is not None]
    names += [str(b["model_version"]) for b in batches if b["model_version"] is not None]
    labels = {name: shorten(name) for name in names} | data.version_labels(names)
    return (
        f'<!doctype html><meta charset="utf-8"><title>IMDB models</title><style>{STYLE}</style>'
        "<h1>Champion history</h1>"
        + _current_champion(champions, labels)
        + _table(
            ["version", "promoted (UTC)", "DAG", "run", "test accuracy", "replaced"],
            [_champion_row(c, labels) for c in champions],
            "No champion yet: a blessed imdb_sentiment run promotes one.",
        )
        + "<h1>Test accuracy of training runs</h1>"
        + models_chart.accuracy_svg(data.training_runs(), champions)
        + "<h1>Recent scoring batches</h1>"
        + _table(
            ["finished (UTC)", "file (statistics)", "model", "rows", "positive rate", "drift"],
            [_batch_row(b, labels) for b in batches],
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
