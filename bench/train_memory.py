"""Peak memory and speed of the train stage, each configuration in its own process.

Needs a run folder where ingest and vectorize have run once (their folders are copied, never
re-run). Prints one JSON line per run: the parameters, wall seconds, peak RSS of the process (from
``wait4``), seconds per epoch, and the plugin's estimate at the trigger (``training_memory_mb``).
Runs get ``IMDB_WORKER_MEMORY_MB=100000`` unless it is set, so that the estimate does not refuse them.

    python -m imdb_pipeline.stages.runner --run-dir R --stage ingest --param data_path=DATA
    python -m imdb_pipeline.stages.runner --run-dir R --stage vectorize --param data_path=DATA
    python bench/train_memory.py --prepared R --data DATA --set units=16 --set units=1024,optimizer=adam
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def parse_set(text: str) -> dict:
    params = {}
    for item in filter(None, text.split(",")):
        name, value = item.split("=", 1)
        try:
            params[name] = json.loads(value)
        except json.JSONDecodeError:
            params[name] = value
    return params


def run_train(prepared: Path, data: str, params: dict, work: Path) -> dict:
    from imdb_model import ModelSpec, training_memory_mb
    from imdb_pipeline.core.parameters import PARAM_SPECS

    run = Path(tempfile.mkdtemp(prefix="run-", dir=work))
    for stage in ("ingest", "vectorize"):
        shutil.copytree(prepared / stage, run / stage)
    command = [sys.executable, "-m", "imdb_pipeline.stages.runner", "--run-dir", str(run), "--stage", "train"]
    command += ["--param", f"data_path={data}"]
    command += [f"--param={name}={json.dumps(value)}" for name, value in params.items()]
    env = {**os.environ, "IMDB_WORKER_MEMORY_MB": os.environ.get("IMDB_WORKER_MEMORY_MB", "100000")}
    started = time.perf_counter()
    with open(run / "train.log", "w") as log:
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(process.pid, 0)  # the child's own peak RSS
    wall = time.perf_counter() - started
    values = {**{name: spec["default"] for name, spec in PARAM_SPECS.items()}, **params}
    result = {
        "params": params,
        "exit": os.waitstatus_to_exitcode(status),
        "wall_seconds": round(wall, 1),
        "peak_rss_mb": round(usage.ru_maxrss / 1024),
        "estimate_mb": round(
            training_memory_mb(ModelSpec.from_mapping(values), values["batch_size"], ngrams=values["ngrams"])
        ),
    }
    history = run / "train" / "history.json"
    if history.exists():
        result["seconds_per_epoch"] = json.loads(history.read_text())["seconds_per_epoch"]
    else:
        result["log_tail"] = (run / "train.log").read_text()[-600:]
    shutil.rmtree(run, ignore_errors=True)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prepared", type=Path, required=True, help="run folder with ingest/ and vectorize/")
    parser.add_argument("--data", required=True, help="the data_path ingest ran with")
    parser.add_argument("--set", action="append", default=[], help="name=value,... (one run each)")
    parser.add_argument("--common", default="epochs=2,final_epochs=1", help="params added to every run")
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="imdb-train-memory-"))
    for _ in range(args.repeat):
        for entry in args.set or [""]:
            params = {**parse_set(args.common), **parse_set(entry)}
            print(json.dumps(run_train(args.prepared, args.data, params, work)), flush=True)
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
