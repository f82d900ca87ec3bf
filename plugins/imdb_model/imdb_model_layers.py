"""Keras layers of the model (imports TensorFlow: listed in plugins/.airflowignore)."""

from __future__ import annotations

import itertools

from imdb_model.imdb_model_tf_quiet import import_tensorflow_quietly

import_tensorflow_quietly()

import keras  # noqa: E402  (after the quiet import above)
import tensorflow as tf  # noqa: E402


@keras.saving.register_keras_serializable(package="imdb_model")
class SparseDense(keras.layers.Dense):
    """``Dense`` for multi-hot ``SparseTensor`` input, computed with ``sparse_dense_matmul``.

    Same weights, same maths and same saved config as ``Dense``; Keras' own sparse path goes
    through ``embedding_lookup_sparse`` (with row filling and segment sums), about 4x slower here.
    """

    def call(self, inputs, training=None):
        if not isinstance(inputs, tf.SparseTensor):
            return super().call(inputs, training=training)
        outputs = sparse_matmul(inputs, self.kernel)
        if self.use_bias:
            outputs = tf.nn.bias_add(outputs, self.bias)
        return self.activation(outputs) if self.activation is not None else outputs


# TensorFlow's CPU SparseTensorDenseMatMul slows down ~5x once the dense side has 32 columns or
# more, so wider kernels are multiplied in column blocks of at most this many columns.
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
