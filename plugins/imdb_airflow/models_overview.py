"""What the Models page shows, read from the artifact root: champions, training runs, scoring batches.

Plain data and a small SVG plot, so the page (``plugins/imdb_airflow/models_page.py``) only
renders and authorizes. Every file read here was written atomically by a stage; one that cannot be
read (a run in progress, a damaged file) is left out rather than failing the page.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import html
from pathlib import Path
from typing import Any

from imdb_pipeline.store import artifacts, model_store, scored_batches

TRAINING_DAGS = ("imdb_sentiment", "imdb_experiments")
ROLLBACK = "python -m imdb_pipeline.store.model_store --rollback"
# The plot's axis reaches down to a coin flip's accuracy on balanced reviews, at least (not the
# decision threshold: another fact that happens to be 0.5 too).
CHANCE_ACCURACY = 0.5


def _read(path: Path) -> Any:
    with contextlib.suppress(OSError, ValueError):
        return artifacts.read_json(path)
    return None


def champions(root: Path | None = None) -> list[dict[str, Any]]:
    """Every champion version kept, newest first: when, from which run, accuracy, what it replaced."""
    root = root or artifacts.artifact_root()
    current = None
    with contextlib.suppress(Exception):
        current = (model_store.current(root) or {}).get("version")
    rows = []
    for version in reversed(model_store.versions(root)):
        info = _read(root / model_store.VERSIONS / version / model_store.INFO) or {}
        rows.append(
            {
                "version": version,
                "current": version == current,
                "promoted_at": info.get("promoted_at"),
                "dag_id": info.get("dag_id"),
                "run": info.get("run"),
                "test_accuracy": info.get("test_accuracy"),
                "previous": info.get("previous"),
                "rollback": ROLLBACK if version == current and info.get("previous") else None,
            }
        )
    return rows


def training_runs(root: Path | None = None) -> list[dict[str, Any]]:
    """Each finished evaluation of a training DAG's run (oldest first): when, which run, test accuracy."""
    root = root or artifacts.artifact_root()
    rows = []
    for dag_id in TRAINING_DAGS:
        for folder in (root / dag_id).glob("*/evaluate"):
            manifest = _read(folder / artifacts.MANIFEST) or {}
            evaluation = _read(folder / "evaluation.json") or {}
            if "finished_at" in manifest and isinstance(evaluation.get("test_accuracy"), int | float):
                rows.append(
                    {
                        "dag_id": dag_id,
                        "run": folder.parent.name,
                        "finished_at": manifest["finished_at"],
                        "test_accuracy": float(evaluation["test_accuracy"]),
                    }
                )
    return sorted(rows, key=lambda row: row["finished_at"])


def batches(root: Path | None = None, limit: int = 50) -> list[dict[str, Any]]:
    """The recent scoring batches, newest first: rows, positive rate, drift flags."""
    rows = []
    for stats in scored_batches.recent_batches(root, limit):
        drift = stats.get("drift") or {}
        rows.append(
            {
                "file": stats.get("file"),
                "model_version": stats.get("model_version"),
                "key": stats.get("key"),
                "finished_at": stats.get("finished_at"),
                "rows": stats.get("rows"),
                "positive_rate": stats.get("positive_rate"),
                "drifted": bool(drift.get("drifted")),
                "drift_flags": drift.get("flags", []),
                "drift_tested": bool(drift.get("tested")),
            }
        )
    return rows


def accuracy_svg(runs: list[dict[str, Any]], width: int = 640, height: int = 220) -> str:
    """Test accuracy over time as an inline SVG line plot (one circle per run, its title the run)."""
    if not runs:
        return '<p class="empty">No finished training run yet.</p>'
    times = [dt.datetime.fromisoformat(run["finished_at"]).timestamp() for run in runs]
    values = [run["test_accuracy"] for run in runs]
    low, high = min(*values, CHANCE_ACCURACY), max(*values, 1.0)
    start, span = min(times), max(max(times) - min(times), 1.0)
    pad = 40

    def x(t: float) -> float:
        return pad + (t - start) / span * (width - 2 * pad) if len(runs) > 1 else width / 2

    def y(v: float) -> float:
        return height - pad - (v - low) / max(high - low, 1e-9) * (height - 2 * pad)

    points = " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in zip(times, values, strict=True))
    circles = "".join(
        f'<circle cx="{x(t):.1f}" cy="{y(v):.1f}" r="4"><title>{html.escape(run["dag_id"])} '
        f"{html.escape(run['run'])}: {v:.4f}</title></circle>"
        for t, v, run in zip(times, values, runs, strict=True)
    )
    ticks = "".join(f'<text x="4" y="{y(v) + 4:.1f}">{v:.2f}</text>' for v in (low, (low + high) / 2, high))
    return (
        f'<svg id="accuracy-plot" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'role="img" aria-label="test accuracy of each training run over time">'
        f'<polyline fill="none" stroke="#2b6cb0" stroke-width="2" points="{points}"/>'
        f'<g fill="#2b6cb0">{circles}</g><g font-size="11" fill="#4a5568">{ticks}</g></svg>'
    )


def batch_stats_path(model_version: str, key: str, root: Path | None = None) -> Path | None:
    """A finished batch's ``stats.json``; None unless both names are folders right under the store."""
    base = scored_batches.scored_dir(root).resolve()
    folder = (base / model_version / key).resolve()
    names_ok = not any(name.startswith(".") or "/" in name for name in (model_version, key))
    if not names_ok or folder.parent.parent != base or not scored_batches.is_finished(folder):
        return None
    return folder / scored_batches.STATS
