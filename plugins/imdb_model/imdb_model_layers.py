"""Keras layers of the model (imports TensorFlow: listed in plugins/.airflowignore)."""

from __future__ import annotations

import keras
import tensorflow as tf


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
# more (measured: 64 units 20.9 ms a training step, as 3 column blocks 6.6 ms; 16 units 0.9 ms).
MATMUL_BLOCK_COLUMNS = 24


def sparse_matmul(sparse: tf.SparseTensor, kernel: tf.Tensor) -> tf.Tensor:
    """``sparse @ kernel``, computed in column blocks of at most MATMUL_BLOCK_COLUMNS (same result)."""
    columns = kernel.shape[-1]
    if columns <= MATMUL_BLOCK_COLUMNS:
        return tf.sparse.sparse_dense_matmul(sparse, kernel)
    blocks = -(-columns // MATMUL_BLOCK_COLUMNS)
    edges = [round(columns * block / blocks) for block in range(blocks + 1)]
    return tf.concat(
        [
            tf.sparse.sparse_dense_matmul(sparse, kernel[:, start:stop])
            for start, stop in zip(edges, edges[1:])
        ],
        axis=1,
    )
