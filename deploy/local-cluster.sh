#!/usr/bin/env bash
# Install replicator into ./.venv and start a local cluster (3 Raft nodes by default).
# Any argument is passed to `replicator cluster` (e.g. --protocol raft --nodes 5 --port 7001).
# Needs only python3 (>= 3.11) and git; installs python3-venv with apt if it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
. deploy/lib.sh
ensure_venv
.venv/bin/pip install --quiet --disable-pip-version-check -e .
exec .venv/bin/replicator cluster "$@"
