"""The project's Airflow-facing code, the top layer: what the DAG files share (``dag_support``), the
Report tab (``report_tab``) and the Models page (``models_page``, with ``models_overview``).

Airflow's plugin loader imports only ``plugins/imdb_plugins.py``, which imports the two
``AirflowPlugin`` classes from here; ``plugins/.airflowignore`` keeps it from importing this
package's files again as top-level modules.
"""
