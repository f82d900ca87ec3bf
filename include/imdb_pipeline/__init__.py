"""The IMDB sentiment pipeline (Deep Learning with Python, 3.4) as plain Python stages.

Nothing in this package imports Airflow: each stage is a function
``stage(inputs, config, out) -> dict[str, str]`` that a DAG task, a test or the command line
can call alike. TensorFlow is imported only inside the functions that train or score.

Subpackages by job, each importing only those below it (``pyproject.toml``'s layers contract):
``serving`` | ``sweep`` → ``stages`` → ``data`` → ``features`` → ``store`` → ``core`` → ``imdb_model``.
See docs/layout.md.
"""
