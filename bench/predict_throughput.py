"""Scoring throughput of ``imdb_pipeline.predict`` on raw reviews, after the model is loaded.

Also checks that the scoring path gives Keras' own ``model.predict`` numbers on the rows vectorize
makes from ingest's tokens. Prints JSON.

    python bench/predict_throughput.py --model RUN/train/model.keras --reviews test_reviews.txt
"""

from __future__ import annotations

import argparse
import io
import json
import time

import numpy as np

from imdb_pipeline import predict, text, vectorize
from imdb_pipeline.scorer import Scorer
from imdb_pipeline.tokenized import TokenizedSplit


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", required=True)
    parser.add_argument("--reviews", required=True)
    args = parser.parse_args()
    scorer = Scorer(args.model)
    with open(args.reviews, "rb") as handle:
        data = handle.read()
    reviews = [review for chunk in predict.review_chunks(io.BytesIO(data), args.reviews) for review in chunk]
    scorer.probabilities(reviews[:10])  # a long-running scorer has traced a multi-row batch already

    started = time.perf_counter()
    out = io.StringIO()
    scored = predict.write_scores(scorer, predict.review_chunks(io.BytesIO(data), args.reviews), out)
    seconds = time.perf_counter() - started
    printed = np.array([json.loads(line)["probability"] for line in out.getvalue().splitlines()])

    exact = scorer.probabilities(reviews)
    tokens, offsets = text.encode_texts(reviews, scorer.word_rank)
    split = TokenizedSplit(tokens, offsets, np.zeros(len(reviews), np.uint8))
    rows = vectorize.multi_hot(split, scorer.num_words, scorer.features)
    keras_predict = scorer.model.predict(rows.matrix(), batch_size=512, verbose=0).reshape(-1)
    print(
        json.dumps(
            {
                "reviews": scored,
                "seconds": round(seconds, 3),
                "reviews_per_second": round(scored / seconds, 1),
                "max_abs_diff_vs_model_predict": float(np.max(np.abs(exact - keras_predict))),
                "max_abs_diff_json_rounding": float(np.max(np.abs(printed - keras_predict))),
            }
        )
    )


if __name__ == "__main__":
    main()
