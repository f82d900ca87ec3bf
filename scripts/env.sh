# Source me: creates the project's virtualenv on first use (and again when requirements change),
# activates it, and points Airflow at this project with an embedded SQLite home in .airflow/.
#   source scripts/env.sh && airflow standalone
# Variables you may set first: PYTHON (interpreter for the venv), IMDB_ARTIFACT_ROOT, AIRFLOW_HOME,
# AIRFLOW__API__PORT (another port than 8080: AIRFLOW__API__BASE_URL follows it unless you set it too),
# IMDB_REQUIREMENTS (requirements.txt, what production runs; scripts/test.sh sets requirements-dev.txt).

IMDB_PROJECT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export IMDB_PROJECT

_imdb_setup_venv() {
    local venv="$IMDB_PROJECT/.venv" python="${PYTHON:-python3}" wanted="${IMDB_REQUIREMENTS:-requirements.txt}"
    local stamp runtime dev
    if ! "$python" -c 'import sys; sys.exit(not ((3, 11) <= sys.version_info[:2] <= (3, 13)))' 2>/dev/null; then
        echo "error: $python must be Python 3.11-3.13 (Airflow 3.3 and TensorFlow 2.21 need it); set PYTHON=..." >&2
        return 1
    fi
    # The stamp holds what is installed: the runtime hash, and the development hash once it was installed
    # too, so switching between scripts/run.sh and scripts/test.sh reinstalls nothing.
    runtime="$(cat "$IMDB_PROJECT/requirements.txt" "$IMDB_PROJECT/pyproject.toml" | sha256sum | cut -d' ' -f1)"
    dev="$(cat "$IMDB_PROJECT/requirements-dev.txt" | sha256sum | cut -d' ' -f1)"
    stamp="$(cat "$venv/.requirements.sha256" 2>/dev/null)"
    if [ ! -x "$venv/bin/python" ] || [ "${stamp%% *}" != "$runtime" ] \
            || { [ "$wanted" = requirements-dev.txt ] && [ "$stamp" != "$runtime $dev" ]; }; then
        echo "setting up $venv from $wanted (Airflow, TensorFlow: a few minutes the first time)..." >&2
        "$python" -m venv "$venv" || return 1
        if ! (cd "$IMDB_PROJECT" && "$venv/bin/python" -m pip install --upgrade pip \
                && "$venv/bin/python" -m pip install -r "$wanted") > "$venv/install.log" 2>&1; then
            tail -n 30 "$venv/install.log" >&2
            echo "error: installing $wanted failed (full log: $venv/install.log)" >&2
            return 1
        fi
        if [ "$wanted" = requirements-dev.txt ]; then
            echo "$runtime $dev" > "$venv/.requirements.sha256"
        else
            echo "$runtime" > "$venv/.requirements.sha256"
        fi
    fi
    # shellcheck disable=SC1091
    source "$venv/bin/activate"
}

_imdb_setup_venv || return 1 2>/dev/null || exit 1

export AIRFLOW_HOME="${AIRFLOW_HOME:-$IMDB_PROJECT/.airflow}"
export AIRFLOW__CORE__DAGS_FOLDER="$IMDB_PROJECT/dags"
export AIRFLOW__CORE__PLUGINS_FOLDER="$IMDB_PROJECT/plugins"
export AIRFLOW__CORE__LOAD_EXAMPLES=False
export AIRFLOW__CORE__PARALLELISM="${AIRFLOW__CORE__PARALLELISM:-4}"
export AIRFLOW__API__HOST="${AIRFLOW__API__HOST:-127.0.0.1}"
# Tasks call the execution API at [api] base_url + /execution/, and base_url defaults to
# http://localhost:8080: with another AIRFLOW__API__PORT, tasks would call the wrong server (or none).
# So derive base_url from the port unless it was set by hand (a value derived here is re-derived).
_imdb_api_host="$AIRFLOW__API__HOST"
case "$_imdb_api_host" in 0.0.0.0 | :: | "") _imdb_api_host=127.0.0.1 ;; esac
if [ -z "${AIRFLOW__API__BASE_URL:-}" ] || [ "$AIRFLOW__API__BASE_URL" = "${_IMDB_DERIVED_BASE_URL:-}" ]; then
    if [ -n "${AIRFLOW__API__PORT:-}" ]; then
        export AIRFLOW__API__BASE_URL="http://$_imdb_api_host:$AIRFLOW__API__PORT"
        _IMDB_DERIVED_BASE_URL="$AIRFLOW__API__BASE_URL"
    elif [ -n "${_IMDB_DERIVED_BASE_URL:-}" ]; then
        unset AIRFLOW__API__BASE_URL _IMDB_DERIVED_BASE_URL
    fi
fi
unset _imdb_api_host
export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-2}"
