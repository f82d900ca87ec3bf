"""Train: the book's protocol (DLwP 3.4.4) as one stage.

1. Fit ``epochs`` epochs on the training rows after the first ``validation_size``, watching the
   validation rows: the loss/accuracy curves of the book, and the epoch where overfitting starts.
   (Each epoch is one compiled TensorFlow function from the plugin: ``imdb_model.training``.)
2. Fit a fresh model (same seed) on all training reviews for ``final_epochs`` epochs: the epoch
   with the lowest validation loss when not given (auto), else the given number (the book: 4).
3. Save that model as ``model.keras`` and both histories as ``history.json``.
"""

from __future__ import annotations

import logging
import shutil
import time

import numpy as np

from imdb_pipeline.core.errors import PipelineInputError
from imdb_pipeline.core.parameters import PipelineConfig
from imdb_pipeline.core.resources import release_free_memory
from imdb_pipeline.features import review_stats, tokenized, weighting
from imdb_pipeline.features.multi_hot import MultiHot, check_multi_hot, load_multi_hot
from imdb_pipeline.store import artifacts
from imdb_pipeline.store.model_store import MODEL_FILES

log = logging.getLogger(__name__)


def model_spec(config: PipelineConfig, num_words: int):
    """The model of a run's parameters over the data's columns (the plugin's ``ModelSpec``)."""
    from imdb_model import ModelSpec

    return ModelSpec.from_mapping({**config.to_dict(), "num_words": num_words})


def check_split(data: MultiHot, validation_size: int) -> None:
    """The validation rows leave rows of both classes to train on, or PipelineInputError with the sizes."""
    check_multi_hot(data, "the vectorized training split")
    training = data.labels[validation_size:]
    if validation_size >= len(data) or len(np.unique(training)) < 2:
        raise PipelineInputError(
            f"validation_size={validation_size} of the {len(data)} vectorized training reviews leaves "
            f"{max(len(data) - validation_size, 0)} to train on, with "
            f"{int((training == 0).sum())} negative and {int((training == 1).sum())} positive: training "
            "needs reviews of both classes. Use a smaller validation_size (the book: 10000 of 25000), "
            "or more data."
        )


def check_memory(spec, config: PipelineConfig, data: MultiHot) -> None:
    """Refuse, before any work, a model the worker's memory limit cannot train (this data's sizes)."""
    from imdb_model import memory_refusal

    refusal = memory_refusal(
        spec, config.batch_size, rows=len(data), nonzeros_per_row=len(data.indices) / max(len(data), 1)
    )
    if refusal:
        raise PipelineInputError(refusal)


def best_epoch(val_loss: list[float]) -> int:
    """1-based epoch with the lowest validation loss (the first one on ties)."""
    return min(range(len(val_loss)), key=val_loss.__getitem__) + 1


def _epoch_seconds(*histories: dict[str, list[float]]) -> list[float]:
    return [seconds for history in histories for seconds in history["seconds"][1:]] or [
        seconds for history in histories for seconds in history["seconds"]
    ]


def _rows(data: MultiHot, rows: slice):
    from imdb_model.training import MultiHotRows

    start, stop, _ = rows.indices(len(data))
    pointers = data.indptr[start : stop + 1]
    return MultiHotRows(
        data.indices[pointers[0] : pointers[-1]], pointers, data.labels[start:stop], data.num_words
    )


def _epoch_logger(label: str, total: int):
    def log_epoch(epoch: int, logs: dict[str, float]) -> None:
        values = " ".join(f"{name}={logs[name]:.4f}" for name in sorted(logs) if name != "seconds")
        log.info("%s epoch %d/%d: %s (%.2f s)", label, epoch + 1, total, values, logs["seconds"])

    return log_epoch


def _fit(
    spec, config: PipelineConfig, data, rows: slice, epochs: int, label: str, validation: slice | None = None
):
    """A fresh model (seeded, its input weights fitted on ``rows``) fitted for ``epochs`` on ``rows``:
    (model, history, seconds)."""
    from imdb_model import build_model
    from imdb_model.training import CompiledTrainer

    started = time.perf_counter()
    column_weights = weighting.column_weights(data, rows, config.weighting)
    model = build_model(spec, seed=config.seed, column_weights=column_weights)
    trainer = CompiledTrainer(model, batch_size=config.batch_size, seed=config.seed)
    history = trainer.fit(
        _rows(data, rows),
        epochs,
        None if validation is None else _rows(data, validation),
        on_epoch_end=_epoch_logger(label, epochs),
    )
    return model, history, time.perf_counter() - started


def _release_keras_state() -> None:
    import keras

    keras.backend.clear_session()
    release_free_memory()


def train(inputs: dict[str, str], config: PipelineConfig, out: artifacts.StageOutput) -> dict[str, str]:
    from imdb_model import count_parameters

    # What the model learns from, saved beside it so scoring can tell when new reviews look different
    # (drift). Computed first: the tokens are let go before the data and the model take memory.
    train_tokens = tokenized.load_split(inputs["train_tokens"])
    statistics = review_stats.training_statistics(train_tokens, config.num_words)
    del train_tokens
    data = load_multi_hot(inputs["train_multi_hot"])
    check_split(data, config.validation_size)
    spec = model_spec(config, data.num_words)
    check_memory(spec, config, data)
    log.info(
        "model: %d hidden layer(s) of %d %s units, %s, %s(lr=%g); %d trainable parameters",
        spec.hidden_layers,
        spec.units,
        spec.activation,
        spec.loss,
        spec.optimizer,
        spec.learning_rate,
        count_parameters(spec),
    )
    held_out, partial = slice(0, config.validation_size), slice(config.validation_size, None)
    # Only the history is kept: the validation run's model (weights, optimizer slots) is let go
    # before the final fit builds its own.
    validation_history, validation_seconds = _fit(
        spec, config, data, partial, config.epochs, "validation run", held_out
    )[1:]
    chosen = best_epoch(validation_history["val_loss"])
    final_epochs = config.final_epochs or chosen
    log.info(
        "lowest validation loss at epoch %d; final fit: %d epoch(s) on all %d reviews",
        chosen,
        final_epochs,
        len(data),
    )
    _release_keras_state()  # the validation run's graphs, before the final fit builds its own
    model, final_history, final_seconds = _fit(spec, config, data, slice(None), final_epochs, "final fit")

    model.save(out.path("model", MODEL_FILES["model"]))
    # The model's vocabulary travels with it: predict needs nothing else.
    shutil.copyfile(inputs["word_index"], out.path("word_index", MODEL_FILES["word_index"]))
    if "features" in inputs:  # an n-gram model's columns
        shutil.copyfile(inputs["features"], out.path("features", MODEL_FILES["features"]))
    artifacts.write_json(out.path("data_stats", MODEL_FILES["data_stats"]), statistics)
    artifacts.write_json(
        out.path("history", "history.json"),
        {
            "validation_history": validation_history,
            "final_history": final_history,
            "best_epoch": chosen,
            "final_epochs": final_epochs,
            "parameters": int(model.count_params()),  # with fixed column weights (tf-idf, NB)
            "trainable_parameters": int(
                sum(int(np.prod(weight.shape)) for weight in model.trainable_weights)
            ),
            "train_reviews": len(data) - config.validation_size,
            "validation_reviews": config.validation_size,
            # Steady-state speed: the first epoch of a fit also traces and compiles the graph.
            "seconds_per_epoch": round(
                float(np.median(_epoch_seconds(validation_history, final_history))), 4
            ),
            "validation_fit_seconds": round(validation_seconds, 3),
            "final_fit_seconds": round(final_seconds, 3),
        },
    )
    return out.final_paths()
