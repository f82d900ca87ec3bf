"""Training memory, estimated without TensorFlow, so that a model too big for a worker is refused
with its figure before any work, instead of being killed mid-epoch.

The constants are calibrated on the real train stage so that the estimate stays an upper bound; the
measurements behind them, with their dates and commands, are in docs/performance.md ("The figures
behind the code's constants").
"""

from __future__ import annotations

import os

from imdb_model.spec import ModelSpec, count_parameters

WORKER_MEMORY_ENV = "IMDB_WORKER_MEMORY_MB"
DEFAULT_WORKER_MEMORY_MB = 1000  # the per-task goal; a deployment with bigger workers raises it
# A train process before its model and data: Python, TensorFlow, Keras, the pipeline (measured).
BASE_MB = 690
# Bytes per non-zero of the whole training split, held as CSR column ids and again as TensorFlow's
# ragged rows.
DATA_BYTES_PER_NONZERO = 12
# Rows a batch can hold at most: IMDB's training split (the train stage passes its real count).
MAX_TRAIN_ROWS = 25_000
# Ones per multi-hot row, by ngrams, when the data is not known yet: IMDB's unique words (and n-grams)
# per review, rounded up from what vectorize counts on the real data.
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
