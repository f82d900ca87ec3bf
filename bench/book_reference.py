"""The book's code path (DLwP 3.4), as the book writes it, for the benchmark to compare against.

Starts from already tokenized arrays (what ``imdb.load_data(num_words=10000)`` returns: lists of
word ids), vectorizes them as dense float64 multi-hot matrices, trains the book's model (20
epochs watching 10,000 validation reviews, then a fresh model for 4 epochs on all 25,000) and
evaluates it; then scores raw review text with the same tools. Prints one JSON line of timings.

    python bench/book_reference.py --tokens RUN/ingest --reviews test_reviews.txt
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

NUM_WORDS = 10000
# keras.preprocessing.text.text_to_word_sequence, the tokenizer Keras' IMDB words came from.
FILTERS = '!"#$%&()*+,-./:;<=>?@[\\]^_`{|}~\t\n'


def load_sequences(path: str) -> tuple[list[list[int]], np.ndarray]:
    """imdb.load_data's output: a list of word-id lists (ids >= NUM_WORDS become 2) and labels."""
    with np.load(path, allow_pickle=False) as data:
        tokens, offsets, labels = data["tokens"], data["offsets"], data["labels"]
    tokens = np.where(tokens < NUM_WORDS, tokens, 2)
    return [tokens[offsets[i] : offsets[i + 1]].tolist() for i in range(len(labels))], labels


def vectorize_sequences(sequences, dimension=NUM_WORDS):
    results = np.zeros((len(sequences), dimension))
    for i, sequence in enumerate(sequences):
        results[i, sequence] = 1.0
    return results


def build_model():
    from tensorflow import keras
    from tensorflow.keras import layers

    model = keras.Sequential(
        [
            layers.Dense(16, activation="relu"),
            layers.Dense(16, activation="relu"),
            layers.Dense(1, activation="sigmoid"),
        ]
    )
    model.compile(optimizer="rmsprop", loss="binary_crossentropy", metrics=["accuracy"])
    return model


def text_to_word_sequence(text: str) -> list[str]:
    text = text.lower().replace("<br />", " ")
    return [word for word in text.translate(str.maketrans(FILTERS, " " * len(FILTERS))).split(" ") if word]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--tokens", required=True, help="an ingest folder: train.npz, test.npz, word_index.json"
    )
    parser.add_argument("--reviews", required=True, help="raw reviews, one per line, to score")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--final-epochs", type=int, default=4)
    parser.add_argument("--validation", type=int, default=10000)
    args = parser.parse_args()
    timings: dict[str, float] = {}

    started = time.perf_counter()
    train_data, train_labels = load_sequences(f"{args.tokens}/train.npz")
    test_data, test_labels = load_sequences(f"{args.tokens}/test.npz")
    with open(f"{args.tokens}/word_index.json", encoding="utf-8") as handle:
        word_index = json.load(handle)
    timings["load"] = time.perf_counter() - started

    started = time.perf_counter()
    x_train = vectorize_sequences(train_data)
    x_test = vectorize_sequences(test_data)
    y_train = np.asarray(train_labels).astype("float32")
    y_test = np.asarray(test_labels).astype("float32")
    timings["vectorize"] = time.perf_counter() - started

    # The book's validation run.
    import tensorflow as tf  # noqa: F401  (imported here, as a notebook would, timed with the fit)

    started = time.perf_counter()
    x_val, partial_x_train = x_train[: args.validation], x_train[args.validation :]
    y_val, partial_y_train = y_train[: args.validation], y_train[args.validation :]
    model = build_model()
    history = model.fit(
        partial_x_train,
        partial_y_train,
        epochs=args.epochs,
        batch_size=512,
        validation_data=(x_val, y_val),
        verbose=0,
    )
    timings["fit_validation"] = time.perf_counter() - started

    # Retrained from scratch on all training data, then evaluated.
    started = time.perf_counter()
    model = build_model()
    model.fit(x_train, y_train, epochs=args.final_epochs, batch_size=512, verbose=0)
    timings["fit_final"] = time.perf_counter() - started
    started = time.perf_counter()
    test_loss, test_accuracy = model.evaluate(x_test, y_test, verbose=0)
    timings["evaluate"] = time.perf_counter() - started

    # Scoring raw reviews with the same tools.
    with open(args.reviews, encoding="utf-8") as handle:
        reviews = handle.read().splitlines()
    started = time.perf_counter()
    sequences = [
        [1]
        + [
            index + 3 if index + 3 < NUM_WORDS else 2
            for index in (word_index.get(w) for w in text_to_word_sequence(r))
            if index is not None
        ]
        for r in reviews
    ]
    model.predict(vectorize_sequences(sequences), verbose=0)
    predict_seconds = time.perf_counter() - started

    print(
        json.dumps(
            {
                "timings": {name: round(value, 3) for name, value in timings.items()},
                "seconds_per_epoch": round(timings["fit_validation"] / args.epochs, 4),
                "test_accuracy": float(test_accuracy),
                "test_loss": float(test_loss),
                "best_epoch": int(np.argmin(history.history["val_loss"])) + 1,
                "predict_reviews": len(reviews),
                "predict_reviews_per_second": round(len(reviews) / predict_seconds, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
