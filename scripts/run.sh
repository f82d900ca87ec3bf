#!/usr/bin/env bash
# Set up (first time) and run the whole imdb_sentiment DAG once with `airflow dags test`,
# on an embedded SQLite Airflow home in .airflow/; prints where the report is.
# Data: IMDB_DATA_PATH (an imdb.npz, an aclImdb folder or an aclImdb*.tar.gz), else the download.
# Extra DAG params: IMDB_CONF='{"epochs": 10}'.
set -euo pipefail
source "$(dirname "$0")/env.sh"

conf="${IMDB_CONF:-}"
[ -n "$conf" ] || conf="{}"
if [ -n "${IMDB_DATA_PATH:-}" ]; then
    [ -e "$IMDB_DATA_PATH" ] || { echo "error: IMDB_DATA_PATH=$IMDB_DATA_PATH does not exist" >&2; exit 2; }
    conf="$(python -c 'import json, os, sys; c = json.loads(sys.argv[1]); c["data_path"] = os.path.abspath(sys.argv[2]); print(json.dumps(c))' "$conf" "$IMDB_DATA_PATH")"
fi

mkdir -p "$AIRFLOW_HOME"
airflow db migrate > "$AIRFLOW_HOME/db-migrate.log" 2>&1 || { cat "$AIRFLOW_HOME/db-migrate.log" >&2; exit 1; }
airflow pools set imdb_training 1 "one model training at a time" > /dev/null
logical_date="$(date -u +%Y-%m-%dT%H:%M:%S+00:00)"
echo "running imdb_sentiment (logical date $logical_date) with conf $conf" >&2
airflow dags test imdb_sentiment "$logical_date" --conf "$conf"

python - "$logical_date" <<'PY'
import json, sys
from pathlib import Path

import pendulum
from airflow.models.dagrun import DagRun
from airflow.utils.session import create_session

from imdb_airflow.storage import use_artifact_connection
from imdb_pipeline.store import artifacts

use_artifact_connection()  # as the run's tasks did: a bucket through IMDB_ARTIFACT_CONN_ID, if set
with create_session() as session:  # the run just made: its logical date is ours
    run_id = session.query(DagRun.run_id).filter(
        DagRun.dag_id == "imdb_sentiment", DagRun.logical_date == pendulum.parse(sys.argv[1])
    ).scalar()
try:
    run = artifacts.run_dir("imdb_sentiment", run_id)
    report = artifacts.read_stage(run, "report", only=("metrics", "report"))
except Exception as err:  # any reason: the run's log above says more
    sys.exit(f"error: the run finished but its report cannot be read ({err}); see the log above")
metrics = json.loads(Path(report["metrics"]).read_text())
print(f"\ntest accuracy {metrics['test_accuracy']:.4f}, test loss {metrics['test_loss']:.4f}, "
      f"best epoch {metrics['best_epoch']}, final fit {metrics['final_epochs']} epochs, "
      f"{metrics['total_wall_seconds']:.0f} s of stages")
print(f"gate:    {metrics['gate']['reason']}")
print(f"report:  {report['report']}")
print(f"metrics: {report['metrics']}")
if not isinstance(run, Path):
    print(f"bucket:  {run / 'report'} (above: this machine's verified copy)")
PY
