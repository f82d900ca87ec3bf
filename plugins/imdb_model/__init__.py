"""The Keras model of DLwP 3.4: the bottom layer, importing neither Airflow nor the library.

- ``spec``: the model's spec, its parameter count, the decision threshold (no TensorFlow);
- ``memory``: the training-memory estimate that refuses a model too big for a worker (no TensorFlow);
- ``builder``: building and loading a model (TensorFlow imported inside the functions);
- ``layers``: the sparse first layer (``SparseDense``, ``WeightedSparseDense``);
- ``training``: the compiled trainer and scoring on CSR rows (``CompiledTrainer``,
  ``predict_probabilities``);
- ``quiet_tensorflow``: TensorFlow imported without its start-up chatter.

The package lives under ``plugins/`` (the project's custom plugin) and is installed (``pip install
-e .``); ``plugins/.airflowignore`` keeps Airflow's plugin loader from importing its files again as
top-level modules. Nothing imported here imports TensorFlow. The model's values come from the
pipeline's parameter schema as a plain mapping (``ModelSpec.from_mapping``).
"""

from imdb_model.builder import build_model, load_model
from imdb_model.memory import memory_refusal, training_memory_mb
from imdb_model.spec import DECISION_THRESHOLD, ModelSpec, count_parameters

__all__ = [
    "DECISION_THRESHOLD",
    "ModelSpec",
    "build_model",
    "count_parameters",
    "load_model",
    "memory_refusal",
    "training_memory_mb",
]
