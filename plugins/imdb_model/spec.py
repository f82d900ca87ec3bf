"""What a model is, without TensorFlow: its spec, its parameter count, and the decision threshold.

``ModelSpec`` holds everything that decides the model's shape and how it is compiled; its values
come from the pipeline's parameter schema as a plain mapping (``ModelSpec.from_mapping``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

# Named after the book's choices (DLwP 3.4.3).
OUTPUT_ACTIVATION = "sigmoid"
# A review is positive when the model's sigmoid output is at least this: the one threshold of every
# decision (training accuracy, evaluation, the report, predict, batch scoring and its statistics).
DECISION_THRESHOLD = 0.5


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
