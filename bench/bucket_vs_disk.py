"""The imdb_sentiment run and batch scoring with a local artifact root and with the root in a bucket
on an S3 API server on loopback, side by side in one run.

    python bench/bucket_vs_disk.py --data aclImdb_v1_labeled.tar.gz --work /tmp/bucket-bench \
        [--params '{"ngrams": 2, ...}'] [--score-reviews 250000]

Each stage runs in its own process (``python -m imdb_pipeline.stages.runner --stage``), as under an
executor, and each gets a fresh IMDB_LOCAL_CACHE in bucket mode: as if every task ran on another
worker, the worst case for the bucket (nothing cached). Wall time is each process's, start to exit
(TensorFlow's import included); peak RSS is the stage's, from its manifest. Scoring: the run's model
becomes the champion of each root, an inbox file of ``--score-reviews`` lines (the test reviews
repeated) is scored by ``python -m imdb_pipeline.serving.inbox_scoring`` in a fresh process; reviews/s
counts the whole process (download, model load, scoring, upload). The S3 server is moto's
(tests/s3_server.py), in its own process. Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT / "tests"))

from s3_server import S3Server  # noqa: E402  (the tests' server: one definition of it)

STAGES = ("ingest", "vectorize", "train", "evaluate", "gate", "report", "promote")


def timed(command: list[str], env: dict[str, str]) -> tuple[float, str]:
    """(wall seconds, stdout) of one process."""
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - started
    if result.returncode:
        raise SystemExit(f"{' '.join(command)} failed:\n{result.stderr[-3000:]}")
    return wall, result.stdout


def run_pipeline(root: str, env: dict[str, str], data: Path, params: dict, work: Path, bucket: bool) -> dict:
    from imdb_pipeline.store import artifacts

    run_dir = f"{root}/imdb_sentiment/bench"
    stages, total = {}, 0.0
    for stage in STAGES:
        stage_env = dict(env)
        if bucket:
            stage_env["IMDB_LOCAL_CACHE"] = str(work / "caches" / stage)  # another worker each time
        command = [
            sys.executable, "-m", "imdb_pipeline.stages.runner", "--run-dir", run_dir, "--stage", stage,
            "--param", f"data_path={data}", *[f"--param={k}={json.dumps(v)}" for k, v in params.items()],
        ]  # fmt: skip
        wall, _ = timed(command, stage_env)
        total += wall
        manifest = artifacts.read_manifest(artifacts.location(run_dir) / stage)
        stages[stage] = {"process_seconds": round(wall, 1), "peak_rss_mb": round(manifest["peak_rss_mb"])}
    report = artifacts.read_stage(artifacts.location(run_dir), "report", only=("metrics",))
    metrics = artifacts.read_json(report["metrics"])
    return {"total_seconds": round(total, 1), "test_accuracy": metrics["test_accuracy"], "stages": stages}


def score(root: str, env: dict[str, str], lines: bytes, work: Path, bucket: bool) -> dict:
    from imdb_pipeline.store import artifacts

    target = artifacts.location(root) / "inbox" / "bench.txt"
    if bucket:
        target.store.put(target, lines)
        env = {**env, "IMDB_LOCAL_CACHE": str(work / "caches" / "score")}
    else:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(lines)
    wall, out = timed([sys.executable, "-m", "imdb_pipeline.serving.inbox_scoring"], env)
    [batch] = [b for b in json.loads(out)["batches"] if b["file"] == "bench.txt"]
    assert batch["status"] == "scored", batch
    return {
        "process_seconds": round(wall, 1),
        "rows": batch["rows"],
        "reviews_per_second": round(batch["rows"] / wall),
    }


def test_lines(data: Path, count: int) -> bytes:
    from imdb_pipeline.data import aclimdb

    texts = [" ".join(r.raw.decode("utf-8").split()) for r in aclimdb.iter_reviews(data) if r.split == "test"]
    return "".join(texts[i % len(texts)] + "\n" for i in range(count)).encode()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--params", type=json.loads, default={}, help="pipeline params (JSON)")
    parser.add_argument("--score-reviews", type=int, default=250_000)
    args = parser.parse_args()
    shutil.rmtree(args.work, ignore_errors=True)
    args.work.mkdir(parents=True)
    server = S3Server()
    try:
        server.create_bucket("bench")
        base = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", **server.env}
        roots = {"disk": str(args.work / "artifacts"), "bucket": "s3://bench/artifacts"}
        lines = test_lines(args.data, args.score_reviews)
        results = {}
        for mode, root in roots.items():
            env = {**base, "IMDB_ARTIFACT_ROOT": root, "IMDB_LOCAL_CACHE": str(args.work / "caches" / mode)}
            os.environ.update(env)  # this process reads the results the same way
            pipeline = run_pipeline(root, env, args.data, args.params, args.work / mode, mode == "bucket")
            results[mode] = {
                "pipeline": pipeline,
                "scoring": score(root, env, lines, args.work / mode, mode == "bucket"),
            }
            print(json.dumps({mode: results[mode]}), file=sys.stderr)
        disk, bucket = results["disk"], results["bucket"]
        results["bucket_over_disk"] = {
            "pipeline_total": round(
                bucket["pipeline"]["total_seconds"] / disk["pipeline"]["total_seconds"], 3
            ),
            "scoring_process": round(
                bucket["scoring"]["process_seconds"] / disk["scoring"]["process_seconds"], 3
            ),
        }
        results["params"] = args.params
        results["load_average"] = os.getloadavg()
        print(json.dumps(results, indent=2))
    finally:
        server.stop()


if __name__ == "__main__":
    main()
