#!/usr/bin/env bash
# Install everything the tests need (system packages, the project with its test extras),
# check formatting and lint (ruff, configured in pyproject.toml) and run the whole suite.
# Extra arguments go to pytest. .ci/run calls this.
set -euo pipefail
cd "$(dirname "$0")/.."
. deploy/lib.sh
apt_install redis-tools redis-server prometheus
ensure_venv
.venv/bin/pip install --quiet --disable-pip-version-check -e '.[test]'
# Lint and format first: seconds, and a finding fails the run before the long part starts.
.venv/bin/ruff check --quiet .
.venv/bin/ruff format --check --quiet .
exec .venv/bin/python -m pytest -q -p no:cacheprovider --durations=20 "$@"
