"""Time the ingest stage on a dataset: wall and CPU seconds, peak RSS, and checksums of its arrays.

    python bench/ingest_timing.py DATA [--runs 3] [--code OLD/include] [--serial]

Each run is a fresh process, as under an executor. ``--code`` runs another version of the library
(e.g. ``git archive 2a45d95 include | tar -x -C /tmp/old`` then ``--code /tmp/old/include``), and
``--serial`` turns off that version's parallel reader (``PARALLEL_MIN_BYTES``) if it has one: so
the same command compares before and after. Load average is printed with each run: on a shared
machine, compare runs interleaved and look at min and median.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RUN_ONE = """
import sys
from pathlib import Path
try:
    from imdb_pipeline.stages import ingest
    from imdb_pipeline.stages.runner import run_stage
except ImportError:  # an older version of the library (--code), from before the subpackages
    from imdb_pipeline import ingest
    from imdb_pipeline.pipeline import run_stage
if sys.argv[3] == "serial" and hasattr(ingest, "PARALLEL_MIN_BYTES"):
    ingest.PARALLEL_MIN_BYTES = 1 << 62
run_stage("ingest", {"data_path": sys.argv[1]}, Path(sys.argv[2]))
"""


def checksums(stage_dir: Path) -> dict[str, str]:
    return {
        name: hashlib.sha256((stage_dir / name).read_bytes()).hexdigest()[:16]
        for name in ("train.npz", "test.npz", "word_index.json")
    }


def run_once(data: str, code: str | None, serial: bool) -> dict:
    env = dict(os.environ)
    if code:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [code, env.get("PYTHONPATH")]))
    with tempfile.TemporaryDirectory(prefix="ingest-timing-") as tmp:
        env["IMDB_ARTIFACT_ROOT"] = str(Path(tmp) / "artifacts")
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, "-c", RUN_ONE, data, str(Path(tmp) / "run"), "serial" if serial else "default"],
            check=True,
            env=env,
            capture_output=True,
        )
        wall = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        manifest = json.loads((Path(tmp) / "run" / "ingest" / "manifest.json").read_text())
        return {
            "process_wall_s": round(wall, 2),
            "stage_wall_s": manifest["wall_seconds"],
            "cpu_s": round(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime, 2),
            "peak_rss_mb": manifest["peak_rss_mb"],
            "load_1min": os.getloadavg()[0],
            "reviews": manifest["summary"]["reviews"],
            "checksums": checksums(Path(tmp) / "run" / "ingest"),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--code", help="a library folder to put first on PYTHONPATH (an older version)")
    parser.add_argument("--serial", action="store_true", help="turn off an older version's parallel reader")
    args = parser.parse_args()
    runs = []
    for _ in range(args.runs):
        runs.append(run_once(args.data, args.code, args.serial))
        print(json.dumps(runs[-1]), flush=True)
    walls = [run["stage_wall_s"] for run in runs]
    print(json.dumps({"stage_wall_s": {"min": min(walls), "median": statistics.median(walls)}}))


if __name__ == "__main__":
    main()
