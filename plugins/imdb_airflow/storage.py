"""The artifact bucket reached through an Airflow connection, for DAG tasks and the plugin's pages.

With ``IMDB_ARTIFACT_ROOT`` a bucket URL and ``IMDB_ARTIFACT_CONN_ID`` naming a connection (for S3
an ``aws`` one, e.g. ``aws_default``), the library gets the file system Airflow's
``ObjectStoragePath`` makes from that connection; without a connection id it uses the storage SDK's
own environment, like the command-line tools. The library never reads Airflow: this is the one
place that turns a connection into its file system.
"""

from __future__ import annotations

import os
import threading

ROOT_ENV = "IMDB_ARTIFACT_ROOT"
CONN_ENV = "IMDB_ARTIFACT_CONN_ID"

_done: set[tuple[str, str]] = set()
_lock = threading.Lock()


def use_artifact_connection() -> None:
    """Hand the connection's file system to the library, once per process and (root, connection)."""
    from imdb_pipeline.store import object_store

    root, conn_id = os.environ.get(ROOT_ENV, ""), os.environ.get(CONN_ENV, "")
    if not conn_id or not object_store.is_url(root):
        return
    with _lock:
        if (root, conn_id) in _done:
            return
        object_store.use(object_store.parse(root).protocol, _filesystem(root, conn_id))
        _done.add((root, conn_id))


def _filesystem(root: str, conn_id: str):
    from airflow.sdk import ObjectStoragePath

    from imdb_pipeline.core.errors import PipelineInputError

    try:
        # The providers fall back to the SDK environment, or anonymous access, for a connection that
        # does not exist: a typo would then read as "access denied". Look it up first.
        from airflow.providers.common.compat.sdk import BaseHook

        BaseHook.get_connection(conn_id)
        return ObjectStoragePath(root, conn_id=conn_id).fs
    except ImportError as err:
        raise PipelineInputError(
            f"{root} needs the storage package for its scheme ({err}): install it on every worker and "
            "the api-server (for s3://, apache-airflow-providers-amazon[s3fs])."
        ) from None
    except Exception as err:  # the connection is missing or unusable: say which, no traceback
        if type(err).__name__ not in ("AirflowNotFoundException", "ValueError", "KeyError"):
            raise
        raise PipelineInputError(
            f"the artifact connection {conn_id!r} ({CONN_ENV}) cannot be used for {root}: {err}. Define it "
            "(Admin > Connections, or AIRFLOW_CONN_" + conn_id.upper() + ") or unset " + CONN_ENV + "."
        ) from None
