"""The book's densely connected classifier (DLwP 3.4), configurable for its further experiments.

Dense(units, activation) [-> Dropout] x hidden_layers -> Dense(1, sigmoid), compiled with the given optimizer,
learning rate and loss and an accuracy metric. The input is a *sparse* multi-hot vector: the
first layer multiplies a sparse batch (about 130 non-zeros of 10,000 per review) instead of a
dense float matrix, which is what keeps memory small and epochs fast.
"""

from __future__ import annotations

import dataclasses
from typing import Any

# Named after the book's choices (DLwP 3.4.3).
BOOK_HIDDEN_LAYERS = 2
BOOK_UNITS = 16
OUTPUT_ACTIVATION = "sigmoid"


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """Everything that decides the model's shape and how it is compiled."""

    num_words: int = 10000
    hidden_layers: int = BOOK_HIDDEN_LAYERS
    units: int = BOOK_UNITS
    activation: str = "relu"
    loss: str = "binary_crossentropy"
    optimizer: str = "rmsprop"
    learning_rate: float = 0.001
    dropout: float = 0.0  # after each hidden layer, training only (0: the book's model)

    @classmethod
    def from_mapping(cls, values: dict[str, Any]) -> ModelSpec:
        names = {field.name for field in dataclasses.fields(cls)}
        return cls(**{key: value for key, value in values.items() if key in names})


def count_parameters(spec: ModelSpec) -> int:
    """Trainable parameters, computed without TensorFlow (160,305 for the book's model)."""
    total, width = 0, spec.num_words
    for _ in range(spec.hidden_layers):
        total += width * spec.units + spec.units
        width = spec.units
    return total + width + 1


def build_model(spec: ModelSpec, seed: int | None = None):
    """A compiled ``keras.Model`` taking sparse multi-hot input of width ``num_words``.

    The first layer is a ``SparseDense``: a ``Dense`` that multiplies the sparse input directly.
    """
    import keras

    from imdb_model.imdb_model_layers import SparseDense

    if seed is not None:
        keras.utils.set_random_seed(seed)
    inputs = keras.Input(shape=(spec.num_words,), sparse=True, name="multi_hot")
    x = inputs
    for layer in range(1, spec.hidden_layers + 1):
        dense = SparseDense if layer == 1 else keras.layers.Dense
        x = dense(spec.units, activation=spec.activation, name=f"hidden_{layer}")(x)
        if spec.dropout:
            x = keras.layers.Dropout(
                spec.dropout, seed=None if seed is None else seed + layer, name=f"dropout_{layer}"
            )(x)
    output_layer = SparseDense if spec.hidden_layers == 0 else keras.layers.Dense
    outputs = output_layer(1, activation=OUTPUT_ACTIVATION, name="positive_probability")(x)
    model = keras.Model(inputs, outputs, name="imdb_dense_classifier")
    optimizer = keras.optimizers.get(
        {"class_name": spec.optimizer, "config": {"learning_rate": spec.learning_rate}}
    )
    model.compile(optimizer=optimizer, loss=spec.loss, metrics=["accuracy"])
    return model


def load_model(path: str):
    """A saved model, loaded in Keras' safe mode (no code from the file: Lambda layers are refused)."""
    import keras

    import imdb_model.imdb_model_layers  # noqa: F401  registers SparseDense for deserialization

    return keras.saving.load_model(path, compile=True, safe_mode=True)
