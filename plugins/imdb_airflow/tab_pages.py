"""The Report tab's own HTML (Jinja2, autoescaped: every value from a file or the DB is escaped): the
page of a run without a report or summary, the scoring summary of an ``imdb_score`` run, and the banner
over a report of a run that did not succeed. Inline CSS, no script (the tab's CSP forbids scripts);
links that leave the tab's frame open in the whole window (``target="_top"``).
"""

from __future__ import annotations

import html
import re
from typing import Any

import jinja2
import markupsafe

from imdb_airflow.run_status import Described
from imdb_airflow.web import PAGE_STYLE

STYLE = (
    PAGE_STYLE + "table{border-collapse:collapse;margin:.5rem 0 1.5rem}td,th{border-bottom:1px solid #e2e8f0;"
    "padding:.25rem .6rem;text-align:left;font-size:13px;vertical-align:top}"
    ".drift,.warn{color:#c53030;font-weight:600}.status{border-left:4px solid #3182ce;background:#ebf8ff;"
    "padding:.4rem .8rem;margin:0 0 1rem}.status.failed{border-color:#c53030;background:#fff5f5}"
    ".status p,.status ul{margin:.2rem 0}"
)

_TEMPLATES = {
    "status": """\
<div class="status {{ run.state }}"{% if inline %} style="{{ inline }}"{% endif %}>
{%- if run.lines|length == 1 %}
<p><strong>{{ run.headline }}:</strong> {{ run.lines[0].text }} —
<a href="{{ run.lines[0].log_url }}" target="_top">open its log</a></p>
{%- else %}
<p><strong>{{ run.headline }}{{ ":" if run.lines else "." }}</strong></p>
{%- if run.lines %}<ul>
{%- for line in run.lines %}
<li>{{ line.text }} — <a href="{{ line.log_url }}" target="_top">open its log</a></li>
{%- endfor %}</ul>{% endif %}
{%- endif %}
{%- if run.note %}<p>{{ run.note }}</p>{% endif %}
</div>""",
    "page": """\
<!doctype html><html lang="en"><meta charset="utf-8"><title>{{ title }}</title><style>{{ style|safe }}</style>
<body><h1>{{ title }}</h1>
{%- if run %}{% with inline="" %}{% include "status" %}{% endwith %}{% endif %}
{%- block content %}{% endblock %}
</body></html>""",
    "missing": """{% extends "page" %}{% block content %}<p>{{ message }}</p>{% endblock %}""",
    "scoring": """\
{% extends "page" %}{% block content %}
<p class="headline">{{ headline }}</p>
<p>Champion version: {% if version %}<code>{{ version }}</code>{% else %}none yet{% endif %}</p>
{%- if batches %}
<table><thead><tr><th>file</th><th>status</th><th>rows</th><th>positive rate</th><th>drift</th>
<th>statistics or reason</th></tr></thead><tbody>
{%- for b in batches %}
<tr class="batch {{ b.status }}"><td>{{ b.file }}</td><td>{{ b.status }}</td><td>{{ b.rows }}</td>
<td>{{ b.positive_rate }}</td><td{% if b.drifted %} class="drift"{% endif %}>{{ b.drift }}</td>
<td>{% if b.stats_url %}<a href="{{ b.stats_url }}" target="_top">stats.json</a>{% endif %}
{%- if b.reason %}{{ " " if b.stats_url }}{{ b.reason }}{% endif %}</td></tr>
{%- endfor %}</tbody></table>
{%- else %}
<p>No batch in this run.</p>
{%- endif %}
{% endblock %}""",
}

_ENV = jinja2.Environment(
    loader=jinja2.DictLoader(_TEMPLATES), autoescape=True, undefined=jinja2.StrictUndefined
)
# The banner goes into a report whose own CSS it must not depend on: its style inline.
_BANNER_STYLE = (
    "font:15px/1.5 system-ui,sans-serif;border-left:4px solid {color};background:{background};"
    "padding:.4rem .8rem;margin:0 0 1rem;color:#1a202c"
)
_BODY = re.compile(rb"<body[^>]*>", re.IGNORECASE)


def render(template: str, **values: Any) -> str:
    return _ENV.get_template(template).render(style=STYLE, **values)


def missing_page(title: str, message: str, run: Described | None) -> str:
    """A run without the report (or summary) the tab shows: where the run is, then ``message``."""
    # Escaped as web.message_page escapes its message (``&#x27;``), so both kinds of "No report" read alike.
    return render("missing", title=title, message=markupsafe.Markup(html.escape(message)), run=run)


def scoring_page(
    title: str, headline: str, version: str | None, batches: list[dict], run: Described | None
) -> str:
    return render("scoring", title=title, headline=headline, version=version, batches=batches, run=run)


def with_banner(report: bytes, run: Described) -> bytes:
    """The report's HTML with the run's state above its content (right after ``<body>``)."""
    colors = ("#c53030", "#fff5f5") if run.state == "failed" else ("#3182ce", "#ebf8ff")
    inline = _BANNER_STYLE.format(color=colors[0], background=colors[1])
    banner = _ENV.get_template("status").render(run=run, inline=inline).encode()
    found = _BODY.search(report)
    at = found.end() if found else 0
    return report[:at] + banner + report[at:]
