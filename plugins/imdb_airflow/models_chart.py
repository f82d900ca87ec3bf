"""The Models page's plot: every training run's test accuracy over time, as an inline SVG (no script).

A time axis with date ticks (UTC), a "test accuracy" axis with ticks from a coin flip's accuracy (at
least) to 1, one line per DAG, one ``<circle>`` per run (its ``<title>``: the DAG, the run id, the
accuracy, when it finished), the current champion's run starred and earlier champions' runs ringed.
Points are labelled with their accuracy, most important first (the current champion, earlier
champions, the newest run, the best, the worst, then the newer before the older); a label that would
overlap one already placed is left out, so 30 runs close together stay readable (hover shows each).
A run without a readable time or a finite accuracy is left out.
The SVG scales to the page's width (``viewBox``, ``width="100%"``). Every value is escaped.
"""

from __future__ import annotations

import datetime as dt
import html
import math
from typing import Any

# The plot's axis reaches down to a coin flip's accuracy on balanced reviews, at least (not the
# decision threshold: another fact that happens to be 0.5 too).
CHANCE_ACCURACY = 0.5
WIDTH, HEIGHT = 1060, 330
LEFT, RIGHT, TOP, BOTTOM = 64, 28, 44, 64  # the plot area's margins: ticks, axis names, the legend
COLORS = {"imdb_sentiment": "#2b6cb0", "imdb_experiments": "#805ad5"}
OTHER_COLOR = "#4a5568"
LABEL_WIDTH, LABEL_HEIGHT = 36, 13  # room one "0.881" label takes (11 px digits)
MAX_TICKS = 7
_HOUR, _DAY = 3600, 86400
TICK_STEPS = (60, 300, 900, 1800, _HOUR, 3 * _HOUR, 6 * _HOUR, 12 * _HOUR, _DAY, 2 * _DAY, 7 * _DAY)
TICK_STEPS += (14 * _DAY, 30 * _DAY, 91 * _DAY, 182 * _DAY, 365 * _DAY)


def _when(value: Any) -> dt.datetime | None:
    try:
        when = dt.datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return None
    if not 1971 <= when.year <= 9998:  # room for the axis's margins on both sides
        return None
    return when.astimezone(dt.UTC) if when.tzinfo else when.replace(tzinfo=dt.UTC)


def _time_ticks(start: float, end: float) -> list[tuple[float, list[str]]]:
    """Ticks (epoch seconds, label lines) at round UTC times: the smallest step giving at most
    ``MAX_TICKS``; a time-of-day step shows the date under the first tick and where the day changes."""
    if end - start < 1:
        return [(start, [f"{dt.datetime.fromtimestamp(start, dt.UTC):%Y-%m-%d %H:%M}"])]
    years = math.ceil((end - start) / MAX_TICKS / TICK_STEPS[-1]) * TICK_STEPS[-1]
    step = next((s for s in TICK_STEPS if (end - start) / s <= MAX_TICKS), years)
    first = math.ceil(start / step) * step
    ticks, last_day = [], None
    for seconds in range(int(first), int(end) + 1, step):
        when = dt.datetime.fromtimestamp(seconds, dt.UTC)
        if step >= _DAY:
            ticks.append((seconds, [f"{when:%Y-%m-%d}"]))
        else:
            day = f"{when:%Y-%m-%d}"
            ticks.append((seconds, [f"{when:%H:%M}", day] if day != last_day else [f"{when:%H:%M}"]))
            last_day = day
    return ticks


def _star(cx: float, cy: float, outer: float = 10, inner: float = 4.2, mark: str = "current-champion") -> str:
    corners = []
    for i in range(10):
        radius, angle = (outer, inner)[i % 2], math.pi / 5 * i - math.pi / 2
        corners.append(f"{cx + radius * math.cos(angle):.1f},{cy + radius * math.sin(angle):.1f}")
    return f'<polygon class="{mark}" points="{" ".join(corners)}" fill="#ecc94b" stroke="#744210"/>'


def _ring(cx: float, cy: float, r: float = 7.5, mark: str = "former-champion") -> str:
    return (
        f'<path class="{mark}" d="M{cx - r:.1f},{cy:.1f}a{r},{r} 0 1,0 {2 * r},0'
        f'a{r},{r} 0 1,0 {-2 * r},0" fill="none" stroke="#2f855a" stroke-width="2"/>'
    )


def _dot(cx: float, cy: float, color: str, r: float = 4) -> str:
    """A legend's dot: a path, so that the plot's ``<circle>`` elements are its runs alone."""
    return f'<path d="M{cx - r},{cy}a{r},{r} 0 1,0 {2 * r},0a{r},{r} 0 1,0 {-2 * r},0" fill="{color}"/>'


def _label_order(runs: list[dict[str, Any]], marks: dict[int, str]) -> list[int]:
    """Which points to label first: the current champion, earlier champions, the newest, the best,
    the worst, then the newer before the older."""
    newest = len(runs) - 1
    values = [run["test_accuracy"] for run in runs]
    first = [i for i, mark in marks.items() if mark == "current"]
    first += [i for i, mark in marks.items() if mark == "former"]
    first += [newest, values.index(max(values)), values.index(min(values))]
    return list(dict.fromkeys([*first, *range(newest, -1, -1)]))


def _champion_marks(runs: list[dict[str, Any]], champions: list[dict[str, Any]]) -> dict[int, str]:
    """Run index -> "current" or "former", for the runs a kept champion version came from."""
    index = {(run["dag_id"], run["run"]): i for i, run in enumerate(runs)}
    marks: dict[int, str] = {}
    for champion in champions:
        i = index.get((str(champion.get("dag_id")), str(champion.get("run"))))
        if i is not None and marks.get(i) != "current":
            marks[i] = "current" if champion.get("current") else "former"
    return marks


def accuracy_svg(runs: list[dict[str, Any]], champions: list[dict[str, Any]] | None = None) -> str:
    """Test accuracy over time (``runs`` oldest first, as ``models_overview.training_runs`` gives them);
    the runs ``champions`` (``models_overview.champions``) came from are marked."""
    runs = [run for run in runs if _when(run["finished_at"]) and math.isfinite(run["test_accuracy"])]
    if not runs:
        return '<p class="empty">No finished training run yet.</p>'
    times = [_when(run["finished_at"]).timestamp() for run in runs]
    values = [run["test_accuracy"] for run in runs]
    low = math.floor(min(*values, CHANCE_ACCURACY) * 10) / 10
    high = 1.0 if max(values) <= 1 else math.ceil(max(values) * 10) / 10
    pad = max((max(times) - min(times)) * 0.04, 60.0)
    start, end = min(times) - pad, max(times) + pad
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(t: float) -> float:
        return LEFT + (t - start) / (end - start) * plot_w

    def y(v: float) -> float:
        return TOP + (high - v) / (high - low) * plot_h

    parts = [f'<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" fill="#fff" stroke="#cbd5e0"/>']
    for step in range(round((high - low) * 10) + 1):
        v, ty = low + step / 10, y(low + step / 10)
        parts.append(f'<line x1="{LEFT}" x2="{LEFT + plot_w}" y1="{ty:.1f}" y2="{ty:.1f}" stroke="#edf2f7"/>')
        parts.append(f'<text x="{LEFT - 6}" y="{ty + 4:.1f}" text-anchor="end">{v:.1f}</text>')
    single = max(times) - min(times) < 1
    for seconds, lines in _time_ticks(min(times) if single else start, max(times) if single else end):
        tx = x(seconds)
        bottom = TOP + plot_h
        parts.append(f'<line x1="{tx:.1f}" x2="{tx:.1f}" y1="{bottom}" y2="{bottom + 5}" stroke="#4a5568"/>')
        parts += [
            f'<text class="time-tick" x="{tx:.1f}" y="{TOP + plot_h + 18 + 13 * i}" text-anchor="middle">'
            f"{html.escape(line)}</text>"
            for i, line in enumerate(lines)
        ]
    parts.append(
        f'<text class="axis-label" x="16" y="{TOP + plot_h / 2:.0f}" text-anchor="middle" '
        f'transform="rotate(-90 16 {TOP + plot_h / 2:.0f})">test accuracy</text>'
        f'<text class="axis-label" x="{LEFT + plot_w / 2:.0f}" y="{HEIGHT - 6}" text-anchor="middle">'
        "evaluation finished (UTC)</text>"
    )
    dags = list(dict.fromkeys(run["dag_id"] for run in runs))
    for dag_id in dags:
        points = " ".join(
            f"{x(t):.1f},{y(v):.1f}"
            for t, v, run in zip(times, values, runs, strict=True)
            if run["dag_id"] == dag_id
        )
        color = COLORS.get(dag_id, OTHER_COLOR)
        line = f'fill="none" stroke="{color}" stroke-opacity=".45" stroke-width="1.5"'
        parts.append(f'<polyline {line} points="{points}"/>')
    marks = _champion_marks(runs, champions or [])
    placed: list[tuple[float, float]] = []
    labels: dict[int, tuple[float, float]] = {}
    for i in _label_order(runs, marks):
        lx, ly = x(times[i]), y(values[i]) - (14 if i in marks else 9)
        if ly - LABEL_HEIGHT < TOP:
            ly = y(values[i]) + (24 if i in marks else 17)
        lx = min(max(lx, LEFT + LABEL_WIDTH / 2), LEFT + plot_w - LABEL_WIDTH / 2)
        if all(abs(lx - px) >= LABEL_WIDTH or abs(ly - py) >= LABEL_HEIGHT for px, py in placed):
            placed.append((lx, ly))
            labels[i] = (lx, ly)
    for i, (t, v, run) in enumerate(zip(times, values, runs, strict=True)):
        cx, cy = x(t), y(v)
        about = f"{run['dag_id']} {run['run']}: {v:.4f}\nfinished {run['finished_at']}"
        about += {"current": "\ncurrent champion", "former": "\nan earlier champion"}.get(
            marks.get(i, ""), ""
        )
        mark = {"current": _star(cx, cy), "former": _ring(cx, cy)}.get(marks.get(i, ""), "")
        lx, ly = labels.get(i, (0, 0))
        label = f'<text class="point-label" x="{lx:.1f}" y="{ly:.1f}" text-anchor="middle">{v:.3f}</text>'
        label = label if i in labels else ""
        color = COLORS.get(run["dag_id"], OTHER_COLOR)
        parts.append(
            f'<g class="run"><title>{html.escape(about)}</title>{mark}'
            f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="4" fill="{color}"/>{label}</g>'
        )
    parts.append(_legend(dags, set(marks.values())))
    return (
        f'<svg id="accuracy-plot" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'width="100%" role="img" aria-label="test accuracy of each training run over time" '
        f'font-family="system-ui,sans-serif" font-size="11" fill="#2d3748">{"".join(parts)}</svg>'
    )


def _legend(dags: list[str], marks: set[str]) -> str:
    """One row above the plot: each DAG's colour, then the champion marks shown."""
    entries = [(_dot(0, 0, COLORS.get(dag_id, OTHER_COLOR)), f"{dag_id} run") for dag_id in dags]
    if "former" in marks:
        entries.append((_ring(0, 0, mark="legend-mark"), "earlier champion"))
    if "current" in marks:
        entries.append((_star(0, 0, 8, 3.4, "legend-mark"), "current champion"))
    parts, at = [], LEFT
    for symbol, text in entries:
        parts.append(
            f'<g class="legend" transform="translate({at + 8},{TOP - 18})">{symbol}'
            f'<text x="14" y="4">{html.escape(text)}</text></g>'
        )
        at += 30 + 7 * len(text)
    return "".join(parts)
