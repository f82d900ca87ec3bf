"""Import TensorFlow without its start-up chatter on stderr (no TensorFlow import at module level).

While ``import tensorflow`` runs, its C++ side prints INFO records through absl before logging is
set up ("All log messages before absl::InitializeLog() ...", "oneDNN custom operations are on",
the CPU-feature notice), ignoring ``TF_CPP_MIN_LOG_LEVEL``. Airflow shows every stderr line of a
task as a red ERROR, so a user reads them as failures. Here stderr is captured during that one
import and written back without those records; warnings and errors pass through unchanged, and
``TF_CPP_MIN_LOG_LEVEL=1`` (unless set) drops TensorFlow's later INFO lines. oneDNN stays on.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile

# absl's C++ log prefix: severity letter, date, time, thread id, file:line]
_RECORD = re.compile(r"^([IWEF])\d{4} \d\d:\d\d:\d+\.\d+\s+\d+ \S+:\d+\] ")
_ABSL_PREINIT = "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR"
# Notices of GPU builds on a machine without GPU libraries: harmless for this CPU-only project.
_HARMLESS = re.compile(
    r"Unable to register cu(DNN|FFT|BLAS) factory|TF-TRT Warning: Could not find TensorRT"
    r"|could not find cuda drivers|computation placer already registered"
)
# Second lines of multi-line INFO records (other lines after a dropped record are kept).
_INFO_CONTINUATIONS = ("To enable the following instructions:",)


def startup_noise_removed(text: str) -> str:
    """``text`` without absl's pre-init notice, INFO records (and the CPU-feature notice's second
    line) and the GPU-library notices above; every other line is kept."""
    kept, after_dropped_record = [], False
    for line in text.splitlines(keepends=True):
        record = _RECORD.match(line)
        if record:
            after_dropped_record = record.group(1) == "I" or bool(_HARMLESS.search(line))
            if not after_dropped_record:
                kept.append(line)
        elif line.rstrip("\n") == _ABSL_PREINIT:
            continue
        elif not (after_dropped_record and line.startswith(_INFO_CONTINUATIONS)):
            kept.append(line)
            after_dropped_record = False
    return "".join(kept)


def import_tensorflow_quietly() -> None:
    """Import TensorFlow (once per process) with its start-up notices filtered out of stderr."""
    if "tensorflow" in sys.modules:
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")  # INFO off; warnings and errors stay
    if sys.stderr is not None:
        sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:  # no stderr to filter
        import tensorflow

        return
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            import tensorflow  # noqa: F401
        finally:
            if sys.stderr is not None:
                sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            rest = startup_noise_removed(captured.read().decode("utf-8", errors="replace"))
            if rest:
                os.write(2, rest.encode("utf-8"))
