"""Keras layers of the model (imports TensorFlow: only what trains or scores imports this module)."""

from __future__ import annotations

import itertools

from imdb_model.quiet_tensorflow import import_tensorflow_quietly

import_tensorflow_quietly()

import keras  # noqa: E402  (after the quiet import above)
import tensorflow as tf  # noqa: E402


@keras.saving.register_keras_serializable(package="imdb_model")
class SparseDense(keras.layers.Dense):
    """``Dense`` for multi-hot ``SparseTensor`` input, computed with ``sparse_dense_matmul``.

    Same weights, same maths and same saved config as ``Dense``; Keras' own sparse path goes
    through ``embedding_lookup_sparse`` (with row filling and segment sums), several times slower here.
    """

    def call(self, inputs, training=None):
        if not isinstance(inputs, tf.SparseTensor):
            return super().call(inputs, training=training)
        outputs = sparse_matmul(inputs, self.kernel)
        if self.use_bias:
            outputs = tf.nn.bias_add(outputs, self.bias)
        return self.activation(outputs) if self.activation is not None else outputs


# TensorFlow's CPU SparseTensorDenseMatMul slows down several times once the dense side has 32 columns
# or more, so wider kernels are multiplied in column blocks of at most this many columns (figures:
# docs/performance.md).
MATMUL_BLOCK_COLUMNS = 24


def column_blocks(columns: int) -> list[int]:
    """Widths of the fewest near-equal blocks of at most MATMUL_BLOCK_COLUMNS covering ``columns``."""
    blocks = -(-columns // MATMUL_BLOCK_COLUMNS)
    edges = [round(columns * block / blocks) for block in range(blocks + 1)]
    return [stop - start for start, stop in itertools.pairwise(edges)]


def sparse_matmul(sparse: tf.SparseTensor, kernel: tf.Tensor) -> tf.Tensor:
    """``sparse @ kernel``, in column blocks of at most MATMUL_BLOCK_COLUMNS (same result).

    The blocks come from one ``tf.split``, whose gradient is one concat of the blocks' gradients
    (the kernel's gradient twice at most). A strided slice per block would instead give each block a
    kernel-sized gradient, summed at the end: memory times the number of blocks for wide layers.
    """
    widths = column_blocks(kernel.shape[-1])
    if len(widths) == 1:
        return tf.sparse.sparse_dense_matmul(sparse, kernel)
    parts = tf.split(kernel, widths, axis=1)
    return tf.concat([tf.sparse.sparse_dense_matmul(sparse, part) for part in parts], axis=1)


@keras.saving.register_keras_serializable(package="imdb_model")
class WeightedSparseDense(SparseDense):
    """``SparseDense`` whose input features are first scaled by fixed per-column weights, optionally
    scaled to unit length per row, and, while training, randomly dropped (``input_dropout``).

    The weights (tf-idf's idf, Naive-Bayes log-count ratios) are a non-trainable variable of the
    layer: set once from the training rows, saved in the ``.keras`` file, so whoever loads the model
    scores the same 0/1 rows as the trainer did. Only the non-zeros are touched: the cost per batch
    grows with its ones, not with the number of columns.
    """

    def __init__(self, units, normalize_rows=False, input_dropout=0.0, seed=None, **kwargs):
        super().__init__(units, **kwargs)
        self.normalize_rows = bool(normalize_rows)
        self.input_dropout = float(input_dropout)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed) if self.input_dropout else None

    def build(self, input_shape):
        super().build(input_shape)
        self.column_weights = self.add_weight(
            name="column_weights", shape=(input_shape[-1],), initializer="ones", trainable=False
        )

    def call(self, inputs, training=None):
        if not isinstance(inputs, tf.SparseTensor):
            inputs = tf.sparse.from_dense(tf.convert_to_tensor(inputs, self.compute_dtype))
        values = inputs.values * tf.gather(self.column_weights, inputs.indices[:, 1])
        if self.normalize_rows:
            rows = inputs.indices[:, 0]
            squares = tf.math.unsorted_segment_sum(tf.square(values), rows, inputs.dense_shape[0])
            values = values * tf.math.rsqrt(tf.maximum(tf.gather(squares, rows), 1e-12))
        if training and self.input_dropout:
            values = keras.random.dropout(values, self.input_dropout, seed=self.seed_generator)
        return super().call(tf.SparseTensor(inputs.indices, values, inputs.dense_shape), training=training)

    @property
    def variable_serialization_spec(self):
        """What ``Dense`` saves and loads (kernel and bias), plus the column weights."""
        spec = dict(super().variable_serialization_spec)
        spec[None] = [*spec[None], "column_weights"]
        return spec

    def get_config(self):
        return {
            **super().get_config(),
            "normalize_rows": self.normalize_rows,
            "input_dropout": self.input_dropout,
            "seed": self.seed,
        }
