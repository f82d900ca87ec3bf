"""Benchmark: the book's code path against this project's pipeline, on the same data and machine.

Runs, alternating A B A B ... in one session, each as its own process:
  A. ``bench/book_reference.py``: the book's script from tokenized arrays (float64 dense vectors);
  B. the project: ``airflow dags test imdb_sentiment`` from the raw data (embedded SQLite), then
     ``bench/predict_throughput.py`` with the model it trained.
and measures wall time and peak RSS of each whole process tree (sampled every 20 ms), per-task
wall time and peak RSS (from the run's metrics.json), seconds per epoch, test accuracy and
predict throughput. Prints a table with medians and book/pipeline ratios; writes them as JSON.

    python bench/run_bench.py --data ../shared/data/aclImdb_v1_labeled.tar.gz      # ~5 minutes
    python bench/run_bench.py --smoke                                              # tiny data, CI
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

from imdb_pipeline.data import aclimdb

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT / "tests"))  # sample_data: the tests' generated datasets
import sample_data  # noqa: E402

SAMPLE_SECONDS = 0.02
TASKS = ("ingest", "vectorize", "train", "evaluate", "report")


def measure(command: list[str], env: dict[str, str]) -> dict:
    """Run ``command``; wall seconds, peak RSS (MB) of its process tree, and its stdout."""
    started = time.perf_counter()
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=PROJECT
    )
    peak = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        root = psutil.Process(process.pid)
        while not done.is_set():
            try:
                tree = [root, *root.children(recursive=True)]
                peak = max(peak, sum(p.memory_info().rss for p in tree if p.is_running()))
            except psutil.Error:
                pass
            time.sleep(SAMPLE_SECONDS)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    stdout, stderr = process.communicate()
    done.set()
    sampler.join()
    wall = time.perf_counter() - started
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({process.returncode}):\n{stderr[-4000:]}")
    return {"wall_seconds": round(wall, 2), "peak_rss_mb": round(peak / 2**20, 1), "stdout": stdout}


def last_json_line(stdout: str) -> dict:
    return json.loads([line for line in stdout.splitlines() if line.startswith("{")][-1])


def prepare(data: Path, work: Path, env: dict[str, str]) -> tuple[Path, Path]:
    """(tokenized arrays for the book's script, raw test reviews one per line); not timed."""
    prep = work / "prepare"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "imdb_pipeline.stages.runner",
            "--run-dir",
            str(prep),
            "--stage",
            "ingest",
            "--param",
            f"data_path={data}",
        ],
        check=True,
        env=env,
        capture_output=True,
    )
    reviews = work / "test_reviews.txt"
    with open(reviews, "w", encoding="utf-8") as out:
        for split, _, _, raw in aclimdb.iter_reviews(data):
            if split == "test":
                out.write(" ".join(raw.decode("utf-8", errors="replace").split()) + "\n")
    return prep / "ingest", reviews


def run_book(tokens: Path, reviews: Path, env: dict[str, str], smoke: bool) -> dict:
    extra = ["--epochs", "3", "--final-epochs", "2", "--validation", "40"] if smoke else []
    result = measure(
        [
            sys.executable,
            str(PROJECT / "bench" / "book_reference.py"),
            "--tokens",
            str(tokens),
            "--reviews",
            str(reviews),
            *extra,
        ],
        env,
    )
    report = last_json_line(result["stdout"])
    return {"wall_seconds": result["wall_seconds"], "peak_rss_mb": result["peak_rss_mb"], **report}


def run_pipeline(
    data: Path, reviews: Path, work: Path, round_number: int, env: dict[str, str], smoke: bool
) -> dict:
    home = work / f"airflow-{round_number}"
    env = {
        **env,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(PROJECT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "IMDB_ARTIFACT_ROOT": str(home / "artifacts"),
    }
    subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"], check=True, env=env, capture_output=True
    )
    conf = {"data_path": str(data), **(sample_data.SMALL_PARAMS if smoke else {})}
    date = f"2026-01-{round_number + 1:02d}T00:00:00+00:00"
    result = measure(
        [sys.executable, "-m", "airflow", "dags", "test", "imdb_sentiment", date, "--conf", json.dumps(conf)],
        env,
    )
    metrics_path = next((home / "artifacts" / "imdb_sentiment").glob("*/report/metrics.json"))
    metrics = json.loads(metrics_path.read_text())
    scoring = measure(
        [
            sys.executable,
            str(PROJECT / "bench" / "predict_throughput.py"),
            "--model",
            str(metrics_path.parents[1] / "train" / "model.keras"),
            "--reviews",
            str(reviews),
        ],
        env,
    )
    return {
        "wall_seconds": result["wall_seconds"],
        "peak_rss_mb": result["peak_rss_mb"],
        "tasks": metrics["timings"],
        "max_task_peak_rss_mb": max(t["peak_rss_mb"] for t in metrics["timings"].values()),
        "seconds_per_epoch": metrics["seconds_per_epoch"],
        "test_accuracy": metrics["test_accuracy"],
        "best_epoch": metrics["best_epoch"],
        **{f"predict_{k}": v for k, v in last_json_line(scoring["stdout"]).items()},
        "predict_peak_rss_mb": scoring["peak_rss_mb"],
    }


def median(rounds: list[dict], *keys: str) -> float:
    values = []
    for entry in rounds:
        for key in keys:
            entry = entry[key]
        values.append(entry)
    return round(statistics.median(values), 4)


def summarize(book: list[dict], pipeline: list[dict]) -> dict:
    summary = {
        "book": {
            "wall_seconds": median(book, "wall_seconds"),
            "peak_rss_mb": median(book, "peak_rss_mb"),
            "seconds_per_epoch": median(book, "seconds_per_epoch"),
            "test_accuracy": median(book, "test_accuracy"),
            "predict_reviews_per_second": median(book, "predict_reviews_per_second"),
            **{f"{k}_seconds": median(book, "timings", k) for k in book[0]["timings"]},
        },
        "pipeline": {
            "wall_seconds": median(pipeline, "wall_seconds"),
            "peak_rss_mb": median(pipeline, "peak_rss_mb"),
            "max_task_peak_rss_mb": median(pipeline, "max_task_peak_rss_mb"),
            "seconds_per_epoch": median(pipeline, "seconds_per_epoch"),
            "test_accuracy": median(pipeline, "test_accuracy"),
            "predict_reviews_per_second": median(pipeline, "predict_reviews_per_second"),
            "predict_max_abs_diff_vs_model_predict": max(
                r["predict_max_abs_diff_vs_model_predict"] for r in pipeline
            ),
            **{f"{task}_seconds": median(pipeline, "tasks", task, "wall_seconds") for task in TASKS},
            **{f"{task}_peak_rss_mb": median(pipeline, "tasks", task, "peak_rss_mb") for task in TASKS},
        },
    }
    b, p = summary["book"], summary["pipeline"]
    summary["ratios_book_over_pipeline"] = {
        "wall_seconds": round(b["wall_seconds"] / p["wall_seconds"], 2),
        "peak_rss_mb": round(b["peak_rss_mb"] / p["max_task_peak_rss_mb"], 2),
        "seconds_per_epoch": round(b["seconds_per_epoch"] / p["seconds_per_epoch"], 2),
        "predict_reviews_per_second": round(
            b["predict_reviews_per_second"] / p["predict_reviews_per_second"], 3
        ),
    }
    return summary


def print_table(summary: dict, rounds: int) -> None:
    b, p, r = summary["book"], summary["pipeline"], summary["ratios_book_over_pipeline"]
    rows = [
        ("whole run, wall s", b["wall_seconds"], p["wall_seconds"], r["wall_seconds"]),
        (
            "peak RSS MB (book: process; pipeline: largest task)",
            b["peak_rss_mb"],
            p["max_task_peak_rss_mb"],
            r["peak_rss_mb"],
        ),
        (
            "peak RSS MB, whole process tree",
            b["peak_rss_mb"],
            p["peak_rss_mb"],
            round(b["peak_rss_mb"] / p["peak_rss_mb"], 2),
        ),
        (
            "training s/epoch (25,000 reviews)",
            b["seconds_per_epoch"],
            p["seconds_per_epoch"],
            r["seconds_per_epoch"],
        ),
        ("test accuracy", b["test_accuracy"], p["test_accuracy"], ""),
        (
            "predict raw reviews/s",
            b["predict_reviews_per_second"],
            p["predict_reviews_per_second"],
            r["predict_reviews_per_second"],
        ),
    ]
    machine = platform.processor() or platform.machine()
    print(f"\nmedians of {rounds} round(s), A B alternating; {machine}, {os.cpu_count()} cores")
    print(f"{'':52} {'book':>10} {'pipeline':>10} {'book/pipeline':>14}")
    for name, book_value, pipeline_value, ratio in rows:
        print(f"{name:52} {book_value:>10} {pipeline_value:>10} {ratio!s:>14}")
    print(
        "\npipeline tasks (wall s / peak RSS MB):  "
        + ",  ".join(f"{t} {p[t + '_seconds']}/{p[t + '_peak_rss_mb']:.0f}" for t in TASKS)
    )
    print(
        "book stages (s):  "
        + ",  ".join(f"{k[:-8]} {v}" for k, v in b.items() if k.endswith("_seconds") and k != "wall_seconds")
    )
    print(f"predict: max |ours - model.predict| = {p['predict_max_abs_diff_vs_model_predict']:.2e}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data",
        type=Path,
        default=os.environ.get("IMDB_DATA_PATH"),
        help="aclImdb tarball or folder (default: $IMDB_DATA_PATH)",
    )
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--out", type=Path, default=PROJECT / "bench" / "results.json")
    parser.add_argument(
        "--smoke", action="store_true", help="tiny generated data and epochs: checks the benchmark runs"
    )
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="imdb-bench-"))
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    env.pop("IMDB_DATA_PATH", None)
    if args.smoke:
        args.data = sample_data.tar_directory(
            sample_data.write_aclimdb(work / "data"), work / "aclImdb_smoke.tar.gz"
        )
    elif args.data is None or not Path(args.data).exists():
        parser.error("give --data (or IMDB_DATA_PATH): the aclImdb tarball or folder")
    data = Path(args.data).resolve()
    tokens, reviews = prepare(data, work, env)
    book, pipeline = [], []
    for round_number in range(args.rounds):
        print(f"round {round_number + 1}/{args.rounds}: book script ...", file=sys.stderr, flush=True)
        book.append(run_book(tokens, reviews, env, args.smoke))
        print(
            f"round {round_number + 1}/{args.rounds}: pipeline (airflow dags test) ...",
            file=sys.stderr,
            flush=True,
        )
        pipeline.append(run_pipeline(data, reviews, work, round_number, env, args.smoke))
    summary = summarize(book, pipeline)
    print_table(summary, args.rounds)
    result = {
        "data": str(data),
        "smoke": args.smoke,
        "machine": {
            "cores": os.cpu_count(),
            "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
            "python": platform.python_version(),
        },
        "summary": summary,
        "rounds": {"book": book, "pipeline": pipeline},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwritten: {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
