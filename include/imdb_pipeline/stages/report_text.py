"""How the reports put a run in words: a configuration described as what it is (the sweep's rows, the
run report's header), and the data path as typed with the path read beside it.

A configuration is named by what decides the model and its data, every time: the network ("2 × 16 relu",
or "logistic regression" with no hidden layer, where units and activation do not apply), its
regularization when set, the features ("10,000 words + bigrams", weighted when not binary) and the
loss. How it is trained (optimizer and learning rate, batch size, epochs) is named where it differs
from the run's base, which the page states once (``describe_training``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from imdb_pipeline.core.parameters import DATA_PATH_ENV, PARAM_SPECS
from imdb_pipeline.stages.ingest import FROM_DOWNLOAD, FROM_ENV, FROM_PARAM

SEPARATOR = " · "
FEATURES = {1: "words", 2: "words + bigrams", 3: "words + bigrams + trigrams"}
WEIGHTED = {"tfidf": "tf-idf weighted", "nb": "Naive-Bayes weighted"}  # binary: the book's multi-hot
TRAINING_PARAMS = ("optimizer", "learning_rate", "batch_size", "epochs", "final_epochs")
DEFAULTS = {name: spec["default"] for name, spec in PARAM_SPECS.items()}
PATH_KEYS = ("data_path_as_given", "data_path_from")  # shown in the data_path row, not as rows of their own


def _number(value: float) -> str:
    return f"{value:g}"


def describe_model(params: Mapping[str, Any]) -> str:
    """The network: "2 × 16 relu", "logistic regression" (no hidden layer, crossentropy) or "linear
    model, sigmoid output" (no hidden layer, another loss); with its dropout and L2 penalty when set."""
    if params["hidden_layers"]:
        parts = [f"{params['hidden_layers']} × {params['units']} {params['activation']}"]
        dropout = "dropout"
    else:
        crossentropy = params["loss"] == "binary_crossentropy"
        parts = ["logistic regression" if crossentropy else "linear model, sigmoid output"]
        dropout = "input dropout"  # no hidden layer: dropout drops input features
    if params["dropout"]:
        parts.append(f"{dropout} {_number(params['dropout'])}")
    if params["l2"]:
        parts.append(f"L2 {_number(params['l2'])}")
    return ", ".join(parts)


def describe_features(params: Mapping[str, Any]) -> str:
    """ "10,000 words", "50,000 words + bigrams", "1,000,000 words + bigrams + trigrams, tf-idf weighted"."""
    features = f"{params['num_words']:,} {FEATURES[params['ngrams']]}"
    weighted = WEIGHTED.get(params["weighting"])
    return f"{features}, {weighted}" if weighted else features


def _training_part(name: str, params: Mapping[str, Any]) -> str:
    value = params[name]
    if name == "batch_size":
        return f"batch {value:,}"
    if name == "epochs":
        return f"{value} epoch{'s' if value != 1 else ''}"
    if value is None:  # final_epochs
        return "final fit to the epoch of lowest validation loss"
    return f"final fit {value} epoch{'s' if value != 1 else ''}"


def describe_training(params: Mapping[str, Any], base: Mapping[str, Any] | None = None) -> str:
    """How it is trained; with ``base``, only what differs from it ("" when nothing does). The
    optimizer and its learning rate are named together: a rate means something only for its optimizer."""
    differs = {name for name in TRAINING_PARAMS if base is None or params[name] != base[name]}
    parts = []
    if differs & {"optimizer", "learning_rate"}:
        parts.append(f"{params['optimizer']} at learning rate {_number(params['learning_rate'])}")
    parts += [_training_part(name, params) for name in TRAINING_PARAMS[2:] if name in differs]
    return SEPARATOR.join(parts)


def describe_configuration(params: Mapping[str, Any], base: Mapping[str, Any] | None = None) -> str:
    """One configuration in words: network, features, loss; then its training where it differs from
    ``base`` (the run's parameters; default: the parameters' defaults, the book's)."""
    loss = params["loss"].replace("_", " ")  # "binary crossentropy": prose, and wraps at the space
    parts = [describe_model(params), describe_features(params), f"{loss} loss"]
    training = describe_training(params, DEFAULTS if base is None else base)
    return SEPARATOR.join(parts + ([training] if training else []))


def data_path_lines(data: Mapping[str, Any], param: str) -> dict[str, list[str]]:
    """The data path as the parameters table (``param``: the run's ``data_path``, as typed) and the
    data table (``data``: ingest's summary) show it: first as typed, then, where it differs, the path
    read ("resolved: …": symlinks followed, ``~`` expanded, made absolute), or where an empty
    ``data_path`` led. Summaries of older runs lack ``data_path_as_given``: their ``data_path`` is the
    path read, and ``param`` what was typed if anything."""
    read = data.get("data_path")
    given, origin = data.get("data_path_as_given"), data.get("data_path_from")
    if given is None:  # an older run's summary
        given, origin = (param, FROM_PARAM) if param else ("", None)
    resolved = [f"resolved: {read}"] if read and read != given else []
    if origin == FROM_PARAM:
        found = [given, *resolved]
    elif origin == FROM_ENV:
        found = [f"{DATA_PATH_ENV} (this worker's environment): {given}", *resolved]
    elif origin == FROM_DOWNLOAD:
        found = [f"downloaded: {read}"]
    else:
        found = [read] if read else []
    if not param:
        shown = ["—", *found] if origin in (FROM_ENV, FROM_DOWNLOAD) else ["—"]
    elif origin == FROM_PARAM and given == param:
        shown = found
    else:
        shown = [param]
    return {"param": shown, "data": found}
