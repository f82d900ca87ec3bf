"""Train: the book's protocol (DLwP 3.4.4) as one stage.

1. Fit ``epochs`` epochs on the training rows after the first ``validation_size``, watching the
   validation rows: the loss/accuracy curves of the book, and the epoch where overfitting starts.
2. Fit a fresh model (same seed) on all training reviews for ``final_epochs`` epochs: the epoch
   with the lowest validation loss when ``auto``, else the given number (the book: 4).
3. Save that model as ``model.keras`` and both histories as ``history.json``.
"""

from __future__ import annotations

import logging
import shutil
import time

from imdb_pipeline import artifacts, vectorize
from imdb_pipeline.config import PipelineConfig

log = logging.getLogger(__name__)


def model_spec(config: PipelineConfig, num_words: int):
    from imdb_model import ModelSpec

    return ModelSpec.from_mapping({**config.to_dict(), "num_words": num_words})


def best_epoch(val_loss: list[float]) -> int:
    """1-based epoch with the lowest validation loss (the first one on ties)."""
    return min(range(len(val_loss)), key=val_loss.__getitem__) + 1


def _history(keras_history) -> dict[str, list[float]]:
    return {name: [float(value) for value in values] for name, values in keras_history.history.items()}


def train(inputs: dict[str, str], config: PipelineConfig, out: artifacts.StageOutput) -> dict[str, str]:
    from imdb_model import build_model, count_parameters, epoch_log_callback

    data = vectorize.load_multi_hot(inputs["train_multi_hot"])
    spec = model_spec(config, data.num_words)
    held_out = slice(0, config.validation_size)
    partial = slice(config.validation_size, None)
    log.info(
        "model: %d hidden layer(s) of %d %s units, %s, %s(lr=%g); %d trainable parameters",
        spec.hidden_layers, spec.units, spec.activation, spec.loss, spec.optimizer, spec.learning_rate,
        count_parameters(spec),
    )

    started = time.perf_counter()
    model = build_model(spec, seed=config.seed)
    validation_history = _history(
        model.fit(
            data.matrix(partial),
            data.row_labels(partial),
            epochs=config.epochs,
            batch_size=config.batch_size,
            validation_data=(data.matrix(held_out), data.row_labels(held_out)),
            callbacks=[epoch_log_callback(log, config.epochs, "validation run")],
            verbose=0,
        )
    )
    validation_seconds = time.perf_counter() - started
    chosen = best_epoch(validation_history["val_loss"])
    final_epochs = config.fixed_final_epochs or chosen
    log.info("lowest validation loss at epoch %d; final fit: %d epoch(s) on all %d reviews", chosen, final_epochs, len(data))

    started = time.perf_counter()
    model = build_model(spec, seed=config.seed)
    final_history = _history(
        model.fit(
            data.matrix(),
            data.row_labels(),
            epochs=final_epochs,
            batch_size=config.batch_size,
            callbacks=[epoch_log_callback(log, final_epochs, "final fit")],
            verbose=0,
        )
    )
    final_seconds = time.perf_counter() - started
    model.save(out.path("model", "model.keras"))
    # The model's vocabulary travels with it: predict needs nothing else.
    shutil.copyfile(inputs["word_index"], out.path("word_index", "word_index.json"))
    artifacts.write_json(
        out.path("history", "history.json"),
        {
            "validation_history": validation_history,
            "final_history": final_history,
            "best_epoch": chosen,
            "final_epochs": final_epochs,
            "parameters": int(model.count_params()),
            "train_reviews": len(data) - config.validation_size,
            "validation_reviews": config.validation_size,
            "seconds_per_epoch": round(validation_seconds / config.epochs, 4),
            "validation_fit_seconds": round(validation_seconds, 3),
            "final_fit_seconds": round(final_seconds, 3),
        },
    )
    return out.final_paths()
