#!/usr/bin/env bash
# Serve the Dagster UI on http://127.0.0.1:3000 over the project's instance (.dagster_home).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup_env.sh
exec .venv/bin/mosaic ui "$@"
