#!/usr/bin/env bash
# The test command: sets up .venv (pinned) and runs the whole test suite on the CPU.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup_env.sh
export HF_HUB_OFFLINE=1 MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING=false DAGSTER_DISABLE_TELEMETRY=1
exec .venv/bin/python -m pytest -q --timeout=900 --durations=25 "$@"
