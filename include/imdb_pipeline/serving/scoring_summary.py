"""What a scoring run says: a headline and one line per batch, each with its log level (the task
log and the scored asset event read them)."""

from __future__ import annotations

import logging
from typing import Any

# What each outcome means for the inbox, in the headline (scored and quarantined come first).
_LEFT = {
    "refused": "refused and left in the inbox",
    "failed": "failed (left in the inbox)",
    "changed": "changed meanwhile (next run)",
    "busy": "busy in another run",
    "done": "done already",
    "gone": "gone meanwhile",
}


def describe(summary: dict[str, Any]) -> list[tuple[int, str]]:
    """A headline and one line per batch, each with its log level: what the task log (and the scored
    asset event) says. Warnings: a drifted, quarantined, refused, failed or changed batch."""
    batches = summary["batches"]
    waiting, already = summary["waiting"], summary.get("already_scored", 0)
    if summary["model_version"] is None:
        return [
            (
                logging.INFO,
                f"nothing to score yet: no champion ({_files(waiting)} in the inbox wait for the first "
                "blessed imdb_sentiment run to promote one)",
            )
        ]
    if not batches:  # a run with nothing to do, in words that read as normal
        what = (
            "the inbox is empty"
            if not waiting
            else f"all {_files(already)} already scored by this champion"
            if already == waiting
            else f"{_files(waiting)} in the inbox, none to score with rescore={summary['rescore']}"
        )
        return [(logging.INFO, f"champion {summary['model_version']}: nothing new: {what}")]
    count = {
        status: sum(b["status"] == status for b in batches) for status in ("scored", "quarantined", *_LEFT)
    }
    drifted = sum(bool(b.get("drifted")) for b in batches)
    others = "".join(f", {count[status]} {text}" for status, text in _LEFT.items() if count[status])
    lines = [
        (
            logging.INFO,
            f"champion {summary['model_version']}: {count['scored']} scored, "
            f"{count['quarantined']} quarantined, {drifted} drifted{others} "
            f"({waiting} in the inbox, {already} already scored by it, rescore={summary['rescore']})",
        )
    ]
    for b in batches:
        if b["status"] == "scored":
            flags = f" DRIFTED: {', '.join(b['drift_flags'])}" if b["drifted"] else ""
            level = logging.WARNING if b["drifted"] else logging.INFO
            line = f"scored {b['file']}: {b['rows']} rows, positive rate {b['positive_rate']:.3f}{flags}"
            lines.append((level, line))
        else:
            level = logging.INFO if b["status"] in ("busy", "done", "gone") else logging.WARNING
            lines.append((level, f"{b['status']} {b['file']}: {b['reason']}"))
    return lines


def _files(count: int) -> str:
    return f"{count} file" if count == 1 else f"{count} files"
