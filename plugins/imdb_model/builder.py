"""The book's densely connected classifier (DLwP 3.4), configurable for its further experiments.

Dense(units, activation) [-> Dropout] x hidden_layers -> Dense(1, sigmoid), compiled with the given optimizer,
learning rate and loss and an accuracy metric. The input is a *sparse* multi-hot vector: the
first layer multiplies a sparse batch (about 130 non-zeros of 10,000 per review) instead of a
dense float matrix, which is what keeps memory small and epochs fast.

``memory_refusal`` estimates a model's training memory without TensorFlow, so that a model too
big for a worker is refused with its figure before any work, instead of being killed mid-epoch.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from typing import Any

# Named after the book's choices (DLwP 3.4.3).
OUTPUT_ACTIVATION = "sigmoid"


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """Everything that decides the model's shape and how it is compiled.

    No defaults here: the values (the book's, by default) come from a run's validated parameters,
    ``ModelSpec.from_mapping(config.to_dict())``, so the parameter schema stays their one source.
    """

    num_words: int
    hidden_layers: int
    units: int
    activation: str
    loss: str
    optimizer: str
    learning_rate: float
    dropout: float  # after each hidden layer (none: on the input), training only (0: the book's model)
    weighting: str  # binary (the book) | tfidf | nb: fixed per-column input weights, inside the model
    l2: float  # L2 penalty on the first layer's kernel (0: the book's model)

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> ModelSpec:
        """The spec's fields taken from a mapping holding at least all of them (other keys ignored)."""
        names = [field.name for field in dataclasses.fields(cls)]
        missing = [name for name in names if name not in values]
        if missing:
            raise ValueError(f"ModelSpec needs {', '.join(missing)}: pass a run's validated parameters")
        return cls(**{name: values[name] for name in names})


def count_parameters(spec: ModelSpec) -> int:
    """Parameters, computed without TensorFlow (160,305 for the book's model): the trainable ones,
    and a weighted or input-dropout model's fixed column weights (one per column)."""
    total, width = 0, spec.num_words
    for _ in range(spec.hidden_layers):
        total += width * spec.units + spec.units
        width = spec.units
    return total + width + 1 + (spec.num_words if weighted_input(spec) else 0)


def weighted_input(spec: ModelSpec) -> bool:
    """Whether the first layer scales or drops its input features (``WeightedSparseDense``)."""
    return spec.weighting != "binary" or (spec.hidden_layers == 0 and spec.dropout > 0)


# --- Training memory: a pure-Python estimate, checked before any work ------------------------------

WORKER_MEMORY_ENV = "IMDB_WORKER_MEMORY_MB"
DEFAULT_WORKER_MEMORY_MB = 1000  # the per-task goal; a deployment with bigger workers raises it
# A train process before its model and data: Python, TensorFlow, Keras, the pipeline.
BASE_MB = 690
# Bytes per non-zero of the whole training split, held as CSR column ids and again as TensorFlow's
# ragged rows (25,000 unigram rows: about 43 MB; 1M-column trigram rows: about 120 MB).
DATA_BYTES_PER_NONZERO = 12
# Rows a batch can hold at most: IMDB's training split (the train stage passes its real count).
MAX_TRAIN_ROWS = 25_000
# Ones per multi-hot row, by ngrams, when the data is not known yet: IMDB's unique words per review
# with any vocabulary (~142), its unique words + bigrams (~363), + trigrams (~424 at 1M columns).
NONZEROS_PER_ROW = {1: 150, 2: 370, 3: 430}
# Bytes per non-zero of a batch: gathered column ids, int64 coordinates, values, row ids, copies.
BYTES_PER_NONZERO = 100
# float32 copies per weight: the weight, its gradient, the column blocks' copies, the optimizer's
# update temporaries, memory kept from the validation run, the .keras file being written.
WEIGHT_COPIES = 15
OPTIMIZER_SLOTS = {"sgd": 0, "rmsprop": 1, "adagrad": 1, "adam": 2, "adamw": 2, "nadam": 2}
# float32 copies per activation value of a batch: output, pre-activation, gradient, dropout mask.
ACTIVATION_COPIES = 4


def training_memory_mb(
    spec: ModelSpec,
    batch_size: int,
    *,
    ngrams: int = 1,
    rows: int = MAX_TRAIN_ROWS,
    nonzeros_per_row: float | None = None,
) -> float:
    """Estimated peak RSS (MB) of the train stage for ``spec`` in batches of ``batch_size``: an
    upper bound on IMDB, from the weights (and optimizer slots), a batch's activations and its
    sparse rows, the training split's rows, and the process. ``rows`` and ``nonzeros_per_row`` are
    the data's when known."""
    batch = min(batch_size, rows)
    per_row = NONZEROS_PER_ROW.get(ngrams, max(NONZEROS_PER_ROW.values()))
    if nonzeros_per_row is not None:
        per_row = nonzeros_per_row
    slots = OPTIMIZER_SLOTS.get(spec.optimizer, max(OPTIMIZER_SLOTS.values()))
    weight_bytes = 4 * (WEIGHT_COPIES + slots) * count_parameters(spec)
    activation_bytes = 4 * ACTIVATION_COPIES * batch * (spec.hidden_layers * spec.units + 1)
    batch_bytes = BYTES_PER_NONZERO * batch * per_row
    data_bytes = DATA_BYTES_PER_NONZERO * rows * per_row
    return BASE_MB + (weight_bytes + activation_bytes + batch_bytes + data_bytes) / 2**20


def worker_memory_mb() -> int:
    """The memory a training task may use: ``IMDB_WORKER_MEMORY_MB``, else the per-task goal."""
    value = os.environ.get(WORKER_MEMORY_ENV, "").strip()
    if not value:
        return DEFAULT_WORKER_MEMORY_MB
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"{WORKER_MEMORY_ENV}={value!r} is not a whole number of megabytes") from None


def memory_refusal(spec: ModelSpec, batch_size: int, **sizes: float) -> str | None:
    """Why this model cannot train within the worker's memory limit, or None when it fits.

    Cheap and TensorFlow-free: run at the trigger (config validation, with ``ngrams``) and again
    at the start of train with the data's real sizes (``rows``, ``nonzeros_per_row``), so that a
    model too big is refused with its figure instead of being killed by the kernel mid-epoch.
    """
    estimate, limit = training_memory_mb(spec, batch_size, **sizes), worker_memory_mb()
    if estimate <= limit:
        return None
    return (
        f"this model needs about {estimate:,.0f} MB to train ({count_parameters(spec):,} weights: "
        f"num_words={spec.num_words}, hidden_layers={spec.hidden_layers}, units={spec.units}, "
        f"optimizer={spec.optimizer}, batch_size={batch_size}), above the worker limit of {limit:,} MB. "
        f"Use fewer units, words or layers or a smaller batch, or raise {WORKER_MEMORY_ENV} on the "
        "workers that have the memory."
    )


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
