"""The IMDB sentiment pipeline (Deep Learning with Python, 3.4) as plain Python stages.

Nothing in this package imports Airflow: each stage is a function
``stage(inputs, config, out_dir) -> dict[str, str]`` that a DAG task, a test or the command line
can call alike. TensorFlow is imported only inside the functions that train or score.
"""
