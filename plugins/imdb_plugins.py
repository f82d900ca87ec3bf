"""The project's Airflow plugins: the Report tab of every DAG run, the Models page, the DAGs' timetable.

The one file under plugins/ that Airflow imports itself (the packages beside it are listed in
.airflowignore and installed); it imports no TensorFlow and nothing slow.
"""

from imdb_airflow.models_page import ImdbModelsPagePlugin
from imdb_airflow.report_tab import ImdbReportViewerPlugin
from imdb_airflow.schedules import ImdbSchedulesPlugin

__all__ = ["ImdbModelsPagePlugin", "ImdbReportViewerPlugin", "ImdbSchedulesPlugin"]
