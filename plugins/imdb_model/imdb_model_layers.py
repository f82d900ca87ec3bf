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
        outputs = tf.sparse.sparse_dense_matmul(inputs, self.kernel)
        if self.use_bias:
            outputs = tf.nn.bias_add(outputs, self.bias)
        return self.activation(outputs) if self.activation is not None else outputs
