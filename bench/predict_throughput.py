"""Scoring throughput of ``imdb_pipeline.predict`` on raw reviews, after the model is loaded.

Also checks that the fast scoring path gives Keras' own ``model.predict`` numbers. Prints JSON.

    python bench/predict_throughput.py --model RUN/train/model.keras --reviews test_reviews.txt
"""

from __future__ import annotations

import argparse
import io
import json
import time

import numpy as np

from imdb_pipeline import ingest, predict, text, vectorize


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", required=True)
    parser.add_argument("--reviews", required=True)
    args = parser.parse_args()
    scorer = predict.Scorer(args.model)  # its tokenizer process is started here, with the model
    with open(args.reviews, encoding="utf-8") as handle:
        lines = handle.readlines()
    scorer.probabilities(lines[:10])  # trace the compiled call once, as a long-running scorer would have

    started = time.perf_counter()
    out = io.StringIO()
    scored = predict.score_lines(scorer, lines, out)
    seconds = time.perf_counter() - started
    ours = np.array([json.loads(line)["probability"] for line in out.getvalue().splitlines()])

    exact = scorer.probabilities([line.rstrip("\n") for line in lines])
    tokens, offsets = text.encode_texts([line.rstrip("\n") for line in lines], scorer.word_rank)
    rows = vectorize.multi_hot(
        ingest.TokenizedSplit(tokens, offsets, np.zeros(len(lines), np.uint8)), scorer.num_words
    )
    keras_predict = scorer.model.predict(rows.matrix(), batch_size=512, verbose=0).reshape(-1)
    print(
        json.dumps(
            {
                "reviews": scored,
                "seconds": round(seconds, 3),
                "reviews_per_second": round(scored / seconds, 1),
                "max_abs_diff_vs_model_predict": float(np.max(np.abs(exact - keras_predict))),
                "max_abs_diff_json_rounding": float(np.max(np.abs(ours - keras_predict))),
            }
        )
    )


if __name__ == "__main__":
    main()
