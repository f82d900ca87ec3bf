"""Training and scoring on compact multi-hot data (imports TensorFlow: only what trains or scores does).

The data stays in CSR form (column ids + row pointers, a few MB). One epoch is one compiled
TensorFlow function: a seeded shuffle of the row order, then, for each batch, a gather of its rows
into a ``SparseTensor`` and a gradient step. Compared with ``model.fit`` on the same sparse batches this
removes the per-step Python and ``tf.data`` overhead, several times faster an epoch (figures:
docs/performance.md). The model, loss and optimizer are the compiled Keras model's own.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from imdb_model.quiet_tensorflow import import_tensorflow_quietly
from imdb_model.spec import DECISION_THRESHOLD

import_tensorflow_quietly()

import keras  # noqa: E402  (after the quiet import above)
import tensorflow as tf  # noqa: E402

# Rows scored at a time (validation during training, evaluate): bounds the sparse temporaries
# (coordinates, values, TensorFlow's copies); larger chunks of bigram rows cost peak memory for no
# speed gain (figures: docs/performance.md).
SCORE_CHUNK = 1024
PREDICT_BATCH = 2048


class MultiHotRows:
    """Multi-hot rows (sorted column ids per row, CSR) and labels as TensorFlow tensors."""

    def __init__(self, indices: np.ndarray, indptr: np.ndarray, labels: np.ndarray, num_words: int):
        # Column ids keep their compact storage type (uint16 up to 65,536 words): cast per batch.
        self.rows = tf.RaggedTensor.from_row_splits(
            tf.constant(indices), tf.constant(indptr.astype(np.int64) - indptr[0]), validate=False
        )
        self.labels = tf.constant(labels.astype(np.float32))
        self.num_words = num_words
        self.size = len(labels)


def ragged_to_multi_hot(rows: tf.RaggedTensor, num_words: int) -> tf.SparseTensor:
    """Rows of column ids -> the (rows x num_words) SparseTensor of their 1s."""
    row_ids = rows.value_rowids()
    columns = tf.cast(rows.flat_values, tf.int64)
    return tf.SparseTensor(
        tf.stack([row_ids, columns], axis=1),
        tf.ones_like(columns, dtype=tf.float32),
        tf.stack([rows.nrows(), tf.constant(num_words, tf.int64)]),
    )


def csr_to_sparse_tensor(indices: np.ndarray, indptr: np.ndarray, num_words: int) -> tf.SparseTensor:
    rows = np.repeat(np.arange(len(indptr) - 1, dtype=np.int64), np.diff(indptr))
    coordinates = np.stack([rows, indices.astype(np.int64)], axis=1)
    return tf.SparseTensor(coordinates, np.ones(len(indices), np.float32), (len(indptr) - 1, num_words))


def _mean_loss_and_correct(model, loss_fn, features: tf.SparseTensor, labels: tf.Tensor, training: bool):
    probabilities = tf.reshape(model(features, training=training), [-1])
    loss = tf.reduce_mean(loss_fn(labels[:, None], probabilities[:, None]))
    correct = tf.reduce_sum(
        tf.cast(tf.equal(tf.cast(probabilities >= DECISION_THRESHOLD, tf.float32), labels), tf.float32)
    )
    return loss, correct


class CompiledTrainer:
    """Fits a compiled Keras model one compiled epoch at a time."""

    def __init__(self, model: keras.Model, batch_size: int, seed: int):
        self.model = model
        self.batch_size = batch_size
        self.seed = seed
        self.loss_fn = keras.losses.get(model.loss)
        model.optimizer.build(model.trainable_variables)
        self._epoch = tf.function(self._train_epoch, reduce_retracing=True)
        self._score = tf.function(self._score_rows, reduce_retracing=True)

    def _train_epoch(self, rows: tf.RaggedTensor, labels: tf.Tensor, epoch: tf.Tensor, num_words: int):
        size = rows.nrows()
        order = tf.random.experimental.stateless_shuffle(
            tf.range(size), seed=tf.stack([tf.constant(self.seed, tf.int64), epoch])
        )
        batch = tf.constant(self.batch_size, tf.int64)
        total_loss = tf.constant(0.0)
        total_correct = tf.constant(0.0)
        for start in tf.range(0, size, batch):
            stop = tf.minimum(start + batch, size)
            picked = order[start:stop]  # gathered batch by batch: no shuffled copy of the whole set
            features = ragged_to_multi_hot(tf.gather(rows, picked), num_words)
            with tf.GradientTape() as tape:
                loss, correct = _mean_loss_and_correct(
                    self.model, self.loss_fn, features, tf.gather(labels, picked), True
                )
                objective = loss + tf.add_n(self.model.losses) if self.model.losses else loss  # L2, if any
            gradients = tape.gradient(objective, self.model.trainable_variables)
            # A plain zip: autograph converts it; with strict=True, under Airflow's task runner, the
            # optimizer got no gradients ("No gradients provided for any variable").
            self.model.optimizer.apply_gradients(zip(gradients, self.model.trainable_variables))  # noqa: B905
            total_loss += loss * tf.cast(stop - start, tf.float32)
            total_correct += correct
        count = tf.cast(size, tf.float32)
        return total_loss / count, total_correct / count

    def _score_rows(self, rows: tf.RaggedTensor, labels: tf.Tensor, num_words: int):
        """Mean loss and accuracy over all rows, in chunks (bounded temporaries)."""
        size = rows.nrows()
        chunk = tf.constant(SCORE_CHUNK, tf.int64)
        total_loss, total_correct = tf.constant(0.0), tf.constant(0.0)
        for start in tf.range(0, size, chunk):
            stop = tf.minimum(start + chunk, size)
            loss, correct = _mean_loss_and_correct(
                self.model,
                self.loss_fn,
                ragged_to_multi_hot(rows[start:stop], num_words),
                labels[start:stop],
                False,
            )
            total_loss += loss * tf.cast(stop - start, tf.float32)
            total_correct += correct
        count = tf.cast(size, tf.float32)
        return total_loss / count, total_correct / count

    def fit(
        self,
        train: MultiHotRows,
        epochs: int,
        validation: MultiHotRows | None = None,
        on_epoch_end: Callable[[int, dict[str, float]], None] | None = None,
    ) -> dict[str, list[float]]:
        """Keras-style history: loss, accuracy (+ val_loss, val_accuracy) and seconds per epoch."""
        history: dict[str, list[float]] = {"loss": [], "accuracy": [], "seconds": []}
        if validation is not None:
            history.update(val_loss=[], val_accuracy=[])
        for epoch in range(epochs):
            started = time.perf_counter()
            loss, accuracy = self._epoch(
                train.rows, train.labels, tf.constant(epoch, tf.int64), train.num_words
            )
            logs = {"loss": float(loss), "accuracy": float(accuracy)}
            if validation is not None:
                val_loss, val_accuracy = self._score(validation.rows, validation.labels, validation.num_words)
                logs.update(val_loss=float(val_loss), val_accuracy=float(val_accuracy))
            logs["seconds"] = time.perf_counter() - started
            for name in history:
                history[name].append(logs[name])
            if on_epoch_end is not None:
                on_epoch_end(epoch, logs)
        return history


def predict_probabilities(
    model: keras.Model,
    indices: np.ndarray,
    indptr: np.ndarray,
    num_words: int,
    batch_size: int = PREDICT_BATCH,
) -> np.ndarray:
    """P(positive) for CSR multi-hot rows: the model called directly on large sparse batches."""
    call = _compiled_call(model)
    outputs = []
    for start in range(0, len(indptr) - 1, batch_size):
        stop = min(start + batch_size, len(indptr) - 1)
        pointers = indptr[start : stop + 1]
        batch = csr_to_sparse_tensor(indices[pointers[0] : pointers[-1]], pointers - pointers[0], num_words)
        outputs.append(call(batch).numpy().reshape(-1))
    return np.concatenate(outputs) if outputs else np.zeros(0, np.float32)


def _compiled_call(model: keras.Model):
    cached = getattr(model, "_imdb_compiled_call", None)
    if cached is None:
        cached = tf.function(lambda features: model(features, training=False), reduce_retracing=True)
        model._imdb_compiled_call = cached
    return cached
