"""The book's densely connected classifier (DLwP 3.4), configurable for its further experiments.

Dense(units, activation) [-> Dropout] x hidden_layers -> Dense(1, sigmoid), compiled with the given optimizer,
learning rate and loss and an accuracy metric. The input is a *sparse* multi-hot vector: the
first layer multiplies a sparse batch (a review's few unique words among ``num_words`` columns) instead
of a dense float matrix, which is what keeps memory small and epochs fast. TensorFlow is imported inside
the functions.
"""

from __future__ import annotations

from typing import Any

from imdb_model.spec import OUTPUT_ACTIVATION, ModelSpec, weighted_input


def build_model(spec: ModelSpec, seed: int | None = None, column_weights=None):
    """A compiled ``keras.Model`` taking sparse multi-hot input of width ``num_words``.

    The first layer is a ``SparseDense``: a ``Dense`` that multiplies the sparse input directly
    (``WeightedSparseDense`` with a weighting or input dropout, given its ``column_weights``).
    """
    from imdb_model.quiet_tensorflow import import_tensorflow_quietly

    import_tensorflow_quietly()
    import keras

    if seed is not None:
        keras.utils.set_random_seed(seed)
    inputs = keras.Input(shape=(spec.num_words,), sparse=True, name="multi_hot")
    x = inputs
    for layer in range(1, spec.hidden_layers + 2):
        output = layer == spec.hidden_layers + 1
        options = {
            "units": 1 if output else spec.units,
            "activation": OUTPUT_ACTIVATION if output else spec.activation,
            "name": "positive_probability" if output else f"hidden_{layer}",
        }
        x = (keras.layers.Dense(**options) if layer > 1 else first_layer(spec, seed, options))(x)
        if spec.dropout and not output:
            x = keras.layers.Dropout(
                spec.dropout, seed=None if seed is None else seed + layer, name=f"dropout_{layer}"
            )(x)
    outputs = x
    model = keras.Model(inputs, outputs, name="imdb_dense_classifier")
    optimizer = keras.optimizers.get(
        {"class_name": spec.optimizer, "config": {"learning_rate": spec.learning_rate}}
    )
    model.compile(optimizer=optimizer, loss=spec.loss, metrics=["accuracy"])
    if column_weights is not None:
        model.layers[1].column_weights.assign(column_weights)
    return model


def first_layer(spec: ModelSpec, seed: int | None, options: dict[str, Any]):
    """The layer that takes the sparse rows: ``SparseDense`` (the book), or ``WeightedSparseDense``
    when the input is weighted or dropped (its column weights set by ``set_column_weights``)."""
    from imdb_model.layers import SparseDense, WeightedSparseDense

    if spec.l2:
        import keras

        options = {**options, "kernel_regularizer": keras.regularizers.L2(spec.l2)}
    if not weighted_input(spec):
        return SparseDense(**options)
    return WeightedSparseDense(
        normalize_rows=spec.weighting == "tfidf",
        input_dropout=spec.dropout if spec.hidden_layers == 0 else 0.0,
        seed=seed,
        **options,
    )


def load_model(path: str):
    """A saved model, loaded in Keras' safe mode (no code from the file: Lambda layers are refused)."""
    from imdb_model.quiet_tensorflow import import_tensorflow_quietly

    import_tensorflow_quietly()
    import keras

    import imdb_model.layers  # noqa: F401  registers SparseDense for deserialization

    return keras.saving.load_model(path, compile=True, safe_mode=True)
