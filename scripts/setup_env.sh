#!/usr/bin/env bash
# Create (or reuse) the project's virtual environment .venv with the pinned dependencies.
# Idempotent: reinstalls only when requirements/lock.txt, pyproject.toml or this script changed.
# Debian packages the stack needs are installed here too (open3d needs libusb-1.0-0).
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${MOSAIC_PYTHON:-python3.11}
APT_PACKAGES=(libusb-1.0-0 chromium redis-server postgresql)  # ops tests: browser, Celery broker, run storage

missing=()
for p in "${APT_PACKAGES[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if ((${#missing[@]})); then
  echo "setup: installing Debian packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq && $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# uv installs the pinned sets (same versions as pip: the lock constrains every package) ~3.5x faster than pip
# on a fresh machine: parallel downloads, and modules compiled to bytecode on first import instead of all
# up front (measured: docs/development.md). It is bootstrapped into each environment by that environment's pip.
UV_VERSION=0.13.9
uv_install() {  # uv_install VENV PIP_ARGS...: VENV's own uv (pinned) installs into VENV
  local venv=$1; shift
  "$venv/bin/python" -m pip install -q "uv==$UV_VERSION"
  "$venv/bin/python" -m uv pip install -q --python "$venv/bin/python" "$@"
}

# DVC is a CLI in its own tool environment .venv-dvc/ (never imported by the project): its hydra-core /
# omegaconf pin antlr4 4.9, which breaks Dagster's asset-selection parser (docs/development.md).
DVC_VERSION=3.67.1
dvc_stamp=.venv-dvc/.mosaic-install-stamp
dvc_want=$(cat requirements/dvc-lock.txt | sha256sum | cut -d' ' -f1)
if ! { [ -x .venv-dvc/bin/dvc ] && [ "$(cat "$dvc_stamp" 2>/dev/null)" = "$dvc_want" ]; }; then
  echo "setup: creating .venv-dvc (DVC $DVC_VERSION, pinned by requirements/dvc-lock.txt)"
  [ -x .venv-dvc/bin/python ] || "$PY" -m venv .venv-dvc
  uv_install .venv-dvc -c requirements/dvc-lock.txt "dvc==$DVC_VERSION"
  .venv-dvc/bin/python -m pip check
  echo "$dvc_want" > "$dvc_stamp"
fi

stamp=.venv/.mosaic-install-stamp
want=$(cat requirements/lock.txt pyproject.toml scripts/setup_env.sh | sha256sum | cut -d' ' -f1)
if [ -x .venv/bin/python ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
  exit 0
fi
echo "setup: creating .venv (pinned by requirements/lock.txt; torch 2.14.1 + torchvision 0.29.1, see docs/development.md)"
[ -x .venv/bin/python ] || "$PY" -m venv .venv
# The lock is a constraints file: it pins every transitive version; pyproject names what we use.
# compat mode: a .pth file puts the checkout on sys.path, so packages added later import without a reinstall
uv_install .venv -c requirements/lock.txt --config-settings editable_mode=compat -e '.[test]'
.venv/bin/python -m pip check
echo "$want" > "$stamp"
