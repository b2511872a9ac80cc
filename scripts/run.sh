#!/usr/bin/env bash
# The run command: sets up .venv (pinned) and materializes every asset on the default scene set.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup_env.sh
export DAGSTER_DISABLE_TELEMETRY=1 HF_HUB_OFFLINE=1
exec .venv/bin/mosaic run "$@"
