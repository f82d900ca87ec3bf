"""Batch scoring on the real test reviews: throughput and peak RSS at scale, and drift false alarms.

    python bench/score_throughput.py --model RUN/train/model.keras --train-tokens RUN/ingest/train.npz \
        --data aclImdb_v1_labeled.tar.gz --work /tmp/score-bench [--reviews 1000000] [--runs 3]

The model (a train stage's folder) becomes the champion of a fresh artifact root under ``--work``,
with the training statistics of ``--train-tokens``. ``throughput``: an inbox file of ``--reviews``
lines (the 25,000 test reviews repeated) is scored by ``batch_scoring.score_file`` in a fresh process per
run; reviews/s counts from after the model is loaded (also per CPU second: on a shared machine
wall time depends on the neighbours), peak RSS is the process's. ``drift``: the
test reviews are shuffled and halved; batches of the held-back half must not be flagged (the
false-alarm rate), a batch of non-review text (Python's own docstrings) must be. Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import pydoc
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

SCORE_ONE = """
import json, resource, sys, time
from pathlib import Path
started = time.perf_counter()
from imdb_pipeline.serving import batch_scoring
root, path = Path(sys.argv[1]), Path(sys.argv[2])
model = batch_scoring.Champion.load(root)
model.scorer.probabilities(["warm up the traced batch"] * 10)
def cpu():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime
loaded, loaded_cpu = time.perf_counter(), cpu()
result = batch_scoring.score_file(path, None, model, batch_scoring.Policy(), root)
done, done_cpu = time.perf_counter(), cpu()
result.update(load_seconds=loaded - started, score_seconds=done - loaded, cpu_seconds=done_cpu - loaded_cpu,
              peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
print(json.dumps(result))
"""


def test_reviews(data: Path) -> list[tuple[str, int]]:
    from imdb_pipeline.data import aclimdb

    return [
        (" ".join(review.raw.decode("utf-8").split()), review.label)
        for review in aclimdb.iter_reviews(data)
        if review.split == "test"
    ]


def make_champion(model: Path, train_tokens: Path, root: Path) -> str:
    from imdb_pipeline.features import review_stats
    from imdb_pipeline.features.tokenized import load_split
    from imdb_pipeline.serving import scorer
    from imdb_pipeline.store import artifacts, model_store

    num_words = json.loads((model.parent / "history.json").read_text()).get("num_words")
    if num_words is None:  # the width is the model's: read it the way scoring does
        num_words = scorer.Scorer(model).num_words
    stats_path = root / model_store.MODEL_FILES["data_stats"]
    artifacts.write_json(stats_path, review_stats.training_statistics(load_split(train_tokens), num_words))
    files = {
        "model": str(model),
        "word_index": str(model.parent / model_store.MODEL_FILES["word_index"]),
        "data_stats": str(stats_path),
    }
    with model_store.promotion_lock(root):
        version = model_store.install(files, {"dag_id": "bench", "run": "score_throughput"}, root)
        model_store.switch_to(version, root)
    return version


def throughput(reviews: list[tuple[str, int]], count: int, root: Path, runs: int) -> dict:
    env = {**os.environ, "IMDB_ARTIFACT_ROOT": str(root), "TF_CPP_MIN_LOG_LEVEL": "2"}
    results = []
    for run in range(runs):
        path = root / f"bench-{run}.txt"  # a new name each run: a new batch, not one scored already
        with open(path, "w", encoding="utf-8") as handle:
            for start in range(0, count, len(reviews)):
                handle.write("".join(text + "\n" for text, _ in reviews[: min(len(reviews), count - start)]))
        out = subprocess.run(
            [sys.executable, "-c", SCORE_ONE, str(root), str(path)], capture_output=True, text=True, env=env
        )
        if out.returncode:
            raise SystemExit(out.stderr[-3000:])
        result = json.loads(out.stdout.splitlines()[-1])
        result["reviews_per_second"] = result["rows"] / result["score_seconds"]
        result["reviews_per_cpu_second"] = result["rows"] / result["cpu_seconds"]
        result["load_average"] = os.getloadavg()
        results.append(result)
        path.unlink()
        print(json.dumps(result), file=sys.stderr)
    return {
        "reviews": count,
        "runs": runs,
        "reviews_per_second": {
            "min": min(r["reviews_per_second"] for r in results),
            "median": statistics.median(r["reviews_per_second"] for r in results),
        },
        "reviews_per_cpu_second": {
            "min": min(r["reviews_per_cpu_second"] for r in results),
            "median": statistics.median(r["reviews_per_cpu_second"] for r in results),
        },
        "peak_rss_mb": {
            "min": min(r["peak_rss_mb"] for r in results),
            "max": max(r["peak_rss_mb"] for r in results),
        },
        "load_seconds_median": statistics.median(r["load_seconds"] for r in results),
    }


def other_text(count: int) -> list[str]:
    """Sentences of Python's standard library docstrings: text that is not a movie review."""
    import importlib

    sentences: list[str] = []
    for name in ("os", "json", "pathlib", "subprocess", "argparse", "collections", "re", "typing", "asyncio"):
        doc = pydoc.render_doc(importlib.import_module(name), renderer=pydoc.plaintext)
        sentences += [" ".join(part.split()) for part in doc.split(".") if len(part.split()) >= 4]
    return sentences[:count]


def false_alarms(reviews: list[tuple[str, int]], root: Path, batch: int, seeds: int) -> dict:
    from imdb_pipeline.serving import batch_scoring
    from imdb_pipeline.store import scored_batches

    model = batch_scoring.Champion.load(root)
    inbox = root / "drift-inbox"
    inbox.mkdir(exist_ok=True)

    def score(name: str, lines: list[str]) -> dict:
        path = inbox / name
        path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
        result = batch_scoring.score_file(path, None, model, batch_scoring.Policy(), root)
        stats = json.loads((Path(result["folder"]) / scored_batches.STATS).read_text())
        return {
            "rows": stats["rows"],
            "drifted": stats["drift"]["drifted"],
            "checks": stats["drift"]["checks"],
        }

    clean, halves = [], []
    for seed in range(1, seeds + 1):  # each seed: another random half of the test set held back
        order = np.random.default_rng(seed).permutation(len(reviews))
        held_back = [reviews[i][0] for i in order[len(order) // 2 :]]
        halves.append(score(f"held-back-half-{seed}.txt", held_back))
        for start in range(0, len(held_back) - batch + 1, batch):
            clean.append(score(f"clean-{seed}-{start}.txt", held_back[start : start + batch]))
    other = score("other-text.txt", other_text(batch))
    return {
        "clean_batches": len(clean),
        "batch_rows": batch,
        "false_alarms": sum(item["drifted"] for item in clean),
        "false_alarm_rate": sum(item["drifted"] for item in clean) / len(clean),
        "false_alarms_by_flag": {
            flag: sum(item["checks"][flag]["drifted"] for item in clean)
            for flag in ("length", "oov_share", "positive_rate")
        },
        "worst_clean_ks": max(item["checks"]["length"]["ks_statistic"] for item in clean),
        "worst_clean_oov_increase": max(item["checks"]["oov_share"]["increase"] for item in clean),
        "worst_clean_rate_delta": max(item["checks"]["positive_rate"]["delta"] for item in clean),
        "held_back_halves": len(halves),
        "held_back_halves_drifted": sum(item["drifted"] for item in halves),
        "held_back_half": halves[0],
        "other_text": other,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--train-tokens", type=Path, required=True)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--reviews", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--batch", type=int, default=500, help="rows of each clean batch (drift)")
    parser.add_argument("--seeds", type=int, default=4, help="random held-back halves (drift)")
    parser.add_argument("--only", choices=("throughput", "drift"))
    args = parser.parse_args()
    root = (args.work / f"artifacts-{int(time.time())}").resolve()
    root.mkdir(parents=True)
    version = make_champion(args.model.resolve(), args.train_tokens, root)
    reviews = test_reviews(args.data)
    report = {"champion": version, "root": str(root), "load_average": os.getloadavg()}
    if args.only != "drift":
        report["throughput"] = throughput(reviews, args.reviews, root, args.runs)
    if args.only != "throughput":
        report["drift"] = false_alarms(reviews, root, args.batch, args.seeds)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
