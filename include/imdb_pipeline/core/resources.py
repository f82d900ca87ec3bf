"""Wall time and peak resident memory of one stage, measured inside the process that runs it.

Linux keeps a per-process RSS high-water mark (``VmHWM``); writing ``5`` to
``/proc/self/clear_refs`` resets it, so a stage's peak is measured even when several stages run
in one process (``dag.test()``). Elsewhere the process-wide ``ru_maxrss`` is reported instead.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import gc
import resource
import time
from pathlib import Path

_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")


def _reset_peak() -> bool:
    try:
        _CLEAR_REFS.write_text("5")
        return True
    except OSError:
        return False


def peak_rss_mb() -> float:
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class StageMeter:
    """``with StageMeter() as meter: ...; meter.snapshot()`` -> wall seconds and peak RSS in MB."""

    def __enter__(self) -> StageMeter:
        self.peak_is_per_stage = _reset_peak()
        self.started = time.perf_counter()
        return self

    def __exit__(self, *exc_info) -> None:
        return None

    def snapshot(self) -> dict[str, float | bool]:
        return {
            "wall_seconds": round(time.perf_counter() - self.started, 3),
            "peak_rss_mb": round(peak_rss_mb(), 1),
            "peak_is_per_stage": self.peak_is_per_stage,
        }


def release_free_memory() -> None:
    """Give freed heap back to the OS (glibc keeps it otherwise), so that when several stages run
    in one process (``airflow dags test``) a stage does not carry the previous one's garbage."""
    gc.collect()
    library = ctypes.util.find_library("c")
    if library:
        with contextlib.suppress(OSError, AttributeError):  # not glibc
            ctypes.CDLL(library).malloc_trim(0)
