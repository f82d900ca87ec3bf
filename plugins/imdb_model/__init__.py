"""The project's Airflow plugin package.

- the Keras model of DLwP 3.4 and its training-memory estimate (``imdb_model_builder``), its sparse
  layer and trainer (``imdb_model_layers``, ``imdb_model_training``: TensorFlow, listed in
  ``plugins/.airflowignore``), imported through ``imdb_model_tf_quiet`` (no start-up chatter);
- the report viewer, an ``AirflowPlugin`` (``imdb_report_viewer``);
- what the DAG files share (``imdb_model_dag_support``).

Every ``.py`` under ``plugins/`` is imported by each Airflow component (the api-server too), so
nothing here imports TensorFlow at module level: it is imported inside the functions that need it.
Layers point one way: ``imdb_pipeline`` imports the model code, never the reverse; the model's
values come from the pipeline's parameter schema as a plain mapping (``ModelSpec.from_mapping``).
"""

from imdb_model.imdb_model_builder import (
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
