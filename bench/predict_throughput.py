"""Scoring throughput of ``imdb_pipeline.serving.predict`` on raw reviews, after the model is loaded.

Scores the file ``--runs`` times in one process (the model loaded once) and reports the best and
every run's reviews/s, the process's CPU seconds per run (TensorFlow may use both cores) and its
peak RSS after scoring. ``--breakdown`` adds the seconds of each step over the best run's chunks:
finding the words' ranks, building the multi-hot rows, calling the model, writing the JSON lines.
Also checks that the scoring path gives Keras' own ``model.predict`` numbers on the rows vectorize
makes from ingest's tokens. Prints JSON.

    python bench/predict_throughput.py --model RUN/train/model.keras --reviews test_reviews.txt
"""

from __future__ import annotations

import argparse
import io
import json
import resource
import time

import numpy as np

from imdb_model.spec import DECISION_THRESHOLD
from imdb_pipeline.features import tokenizer
from imdb_pipeline.features.multi_hot import multi_hot
from imdb_pipeline.features.tokenized import TokenizedSplit
from imdb_pipeline.serving import predict
from imdb_pipeline.serving.scorer import Scorer


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def timed_run(scorer: Scorer, data: bytes, name: str) -> tuple[float, float, int, str]:
    """(wall seconds, CPU seconds, reviews, output) of one ``predict.write_scores`` over the file."""
    out = io.StringIO()
    started, started_cpu = time.perf_counter(), cpu_seconds()
    scored = predict.write_scores(scorer, predict.review_chunks(io.BytesIO(data), name), out)
    return time.perf_counter() - started, cpu_seconds() - started_cpu, scored, out.getvalue()


def breakdown(scorer: Scorer, chunks: list[list[str]]) -> dict[str, float]:
    """Seconds of each scoring step, summed over the chunks, as ``write_scores`` runs them."""
    steps = dict.fromkeys(("words", "rows", "model", "output"), 0.0)
    for chunk in chunks:
        started = time.perf_counter()
        lengths, ranks = scorer.words.lookup(chunk)
        words = time.perf_counter()
        rows = scorer.rows_of_ranks(lengths, ranks)
        built = time.perf_counter()
        probabilities = scorer.predict(rows)
        called = time.perf_counter()
        "".join(
            json.dumps(
                {
                    "probability": round(float(p), 6),
                    "label": "positive" if p >= DECISION_THRESHOLD else "negative",
                }
            )
            + "\n"
            for p in probabilities
        )
        written = time.perf_counter()
        for step, seconds in zip(
            steps, (words - started, built - words, called - built, written - called), strict=True
        ):
            steps[step] += seconds
    return {step: round(seconds, 3) for step, seconds in steps.items()}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", required=True)
    parser.add_argument("--reviews", required=True)
    parser.add_argument("--runs", type=int, default=3, help="timed runs over the file (default 3)")
    parser.add_argument("--breakdown", action="store_true", help="also time each scoring step")
    args = parser.parse_args()
    scorer = Scorer(args.model)
    with open(args.reviews, "rb") as handle:
        data = handle.read()
    chunks = list(predict.review_chunks(io.BytesIO(data), args.reviews))
    reviews = [review for chunk in chunks for review in chunk]
    scorer.probabilities(reviews[:10])  # a long-running scorer has traced a multi-row batch already

    runs = [timed_run(scorer, data, args.reviews) for _ in range(max(args.runs, 1))]
    seconds, cpu, scored, output = min(runs)
    peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB; before the check
    steps = breakdown(scorer, chunks) if args.breakdown else None
    printed = np.array([json.loads(line)["probability"] for line in output.splitlines()])

    exact = scorer.probabilities(reviews)
    tokens, offsets = tokenizer.encode(tokenizer.split_words(reviews), scorer.word_rank)
    split = TokenizedSplit(tokens, offsets, np.zeros(len(reviews), np.uint8))
    rows = multi_hot(split, scorer.num_words, scorer.features)
    keras_predict = scorer.model.predict(rows.matrix(), batch_size=512, verbose=0).reshape(-1)
    print(
        json.dumps(
            {
                "reviews": scored,
                "seconds": round(seconds, 3),
                "reviews_per_second": round(scored / seconds, 1),
                "reviews_per_second_each_run": [round(run[2] / run[0], 1) for run in runs],
                "cpu_seconds": round(cpu, 3),
                "scoring_peak_rss_mb": round(peak_rss_mb, 1),
                **({"breakdown_seconds": steps} if steps else {}),
                "max_abs_diff_vs_model_predict": float(np.max(np.abs(exact - keras_predict))),
                "max_abs_diff_json_rounding": float(np.max(np.abs(printed - keras_predict))),
            }
        )
    )


if __name__ == "__main__":
    main()
