"""What the plugin's pages share: who is calling (Airflow's own authentication), whether they may read
a DAG's runs, Airflow's base path, the security headers, and short HTML pages for refusals.

Airflow does not authenticate plugin apps: every request is checked here, the way the REST API does it
(``Authorization: Bearer`` JWT, else the UI's ``_token`` cookie), then authorized by the auth manager to
read that DAG's runs. A refusal (401, 403) is a short HTML page saying what to do: the pages show it in
their frame, where Airflow's JSON error would read as a broken page. Airflow's API internals are
imported inside the functions (every Airflow component imports the plugin).
"""

from __future__ import annotations

import html
from typing import Annotated, Any
from urllib.parse import urlsplit

from airflow.configuration import conf
from fastapi import Depends, Request, Response
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import HTMLResponse
from starlette.exceptions import HTTPException

# The page is same-origin with the Airflow UI that frames it; it has inline CSS, no script.
HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "SAMEORIGIN",
    "Referrer-Policy": "same-origin",
    "Content-Security-Policy": (
        "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; "
        "frame-ancestors 'self'; base-uri 'none'; form-action 'none'"
    ),
}

PAGE_STYLE = "body{font:15px/1.5 system-ui,sans-serif;margin:1.5rem;color:#1a202c}h1{font-size:1.25rem}"


def message_page(title: str, message: str, status_code: int, headers: dict | None = None) -> HTMLResponse:
    page = (
        f'<!doctype html><meta charset="utf-8"><title>{title}</title><style>{PAGE_STYLE}</style>'
        f"<h1>{title}</h1><p>{html.escape(message)}</p>"
    )
    return HTMLResponse(page, status_code=status_code, headers={**HEADERS, **(headers or {})})


async def current_user(request: Request):
    """The caller, by Airflow's own rule (``core_api.security.get_user``): a Bearer token wins, else
    the ``_token`` cookie of the UI session. No or a bad token: 401/403."""
    from airflow.api_fastapi.core_api.security import bearer_scheme, get_user

    return await get_user(request, None, await bearer_scheme(request))


def authorize_run_read(dag_id: str, request: Request, user: Annotated[Any, Depends(current_user)]) -> None:
    """403 unless the auth manager lets the user read this DAG's runs (sync: it may query the DB)."""
    from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity
    from airflow.api_fastapi.core_api.security import requires_access_dag

    requires_access_dag("GET", DagAccessEntity.RUN, param_dag_id=dag_id)(request, user)


async def refused(request: Request, error: HTTPException) -> Response:
    """401/403 from the login and access checks, as a page a person can act on."""
    if error.status_code == 401:
        message = (
            "Not logged in: log in to Airflow and open the run's Report tab again, or send "
            "'Authorization: Bearer <token>' with a token from POST /auth/token."
        )
        return message_page("Not logged in", message, 401, error.headers)
    if error.status_code == 403:
        dag_id = request.path_params.get("dag_id", "")
        message = (
            f"Your Airflow login may not read the runs of DAG {dag_id}, so not their reports either. "
            f"Ask an Airflow admin for read access to that DAG. (Airflow: {error.detail})"
        )
        return message_page("Not allowed", message, 403, error.headers)
    return await http_exception_handler(request, error)


def base_path() -> str:
    """The path of ``[api] base_url`` (empty unless Airflow is served under a sub-path)."""
    return urlsplit(conf.get("api", "base_url", fallback="") or "").path.rstrip("/")
