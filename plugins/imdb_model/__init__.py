"""The Keras model of DLwP 3.4: the bottom layer, importing neither Airflow nor the library.

- ``builder``: the model's spec, its parameter count and training-memory estimate (no TensorFlow),
  building and loading a model (TensorFlow imported inside the functions);
- ``layers``: the sparse first layer (``SparseDense``, ``WeightedSparseDense``);
- ``training``: the compiled trainer and scoring on CSR rows (``CompiledTrainer``,
  ``predict_probabilities``);
- ``quiet_tensorflow``: TensorFlow imported without its start-up chatter.

The package lives under ``plugins/`` (the project's custom plugin) and is installed (``pip install
-e .``); ``plugins/.airflowignore`` keeps Airflow's plugin loader from importing its files again as
top-level modules. Nothing here imports TensorFlow at import time. The model's values come from the
pipeline's parameter schema as a plain mapping (``ModelSpec.from_mapping``).
"""

from imdb_model.builder import (
    ModelSpec,
    build_model,
    count_parameters,
    load_model,
    memory_refusal,
    training_memory_mb,
)

__all__ = [
    "ModelSpec",
    "build_model",
    "count_parameters",
    "load_model",
    "memory_refusal",
    "training_memory_mb",
]
