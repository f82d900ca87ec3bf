#!/usr/bin/env bash
# Set up (first time) and run the test suite. Extra arguments go to pytest, e.g. `-m "not slow"`.
set -euo pipefail
IMDB_REQUIREMENTS=requirements-dev.txt source "$(dirname "$0")/env.sh"
cd "$IMDB_PROJECT"
exec python -m pytest "$@"
