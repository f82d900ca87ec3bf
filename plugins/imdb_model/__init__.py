"""The project's Airflow plugin package.

- the Keras model of DLwP 3.4 (``imdb_model_builder``) and its sparse layer and trainer
  (``imdb_model_layers``, ``imdb_model_training``: TensorFlow, listed in ``plugins/.airflowignore``);
- the report viewer, an ``AirflowPlugin`` (``imdb_report_viewer``);
- what the DAG files share (``imdb_model_dag_support``).

Every ``.py`` under ``plugins/`` is imported by each Airflow component (the api-server too), so
nothing here imports TensorFlow at module level: it is imported inside the functions that need it.
"""

from imdb_model.imdb_model_builder import ModelSpec, build_model, count_parameters, load_model

__all__ = ["ModelSpec", "build_model", "count_parameters", "load_model"]
