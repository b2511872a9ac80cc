"""The executor of every job: Dagster's multiprocess executor, or dagster-celery by configuration.

The multiprocess executor starts each step's process from a forkserver that imported the definitions once
(``MOSAIC_START_METHOD=forkserver``, the default): a step starts in ~2 s instead of the ~12 s of a fresh
interpreter that imports them again (``spawn``, Dagster's own default; benchmarks/backfill.py measures both).

``MOSAIC_EXECUTOR=celery`` switches every job (and the asset backfills of the UI) to Celery: each
step becomes a task on a Redis broker, executed by whichever ``mosaic worker`` takes it, on any host
that reaches Redis and the PostgreSQL instance. The Celery settings live in one YAML file
(``MOSAIC_CELERY_CONFIG``, default ``deploy/celery/celery.yaml``), the same file the workers start
from, so the executor and the workers cannot disagree on the broker.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import dagster as dg
import yaml

from mosaic_pipeline.params import REPO_ROOT

EXECUTOR_ENV = "MOSAIC_EXECUTOR"  # "multiprocess" (default) or "celery"
CELERY_CONFIG_ENV = "MOSAIC_CELERY_CONFIG"
DEFAULT_CELERY_CONFIG = "deploy/celery/celery.yaml"
START_METHOD_ENV = "MOSAIC_START_METHOD"  # "forkserver" (default) or "spawn"
DEFINITIONS_MODULE = "mosaic_assets.definitions"  # pyproject.toml [tool.dagster] module_name


def celery_config_path() -> Path:
    """The Celery YAML (``execution: config: ...``), relative to the repository root unless absolute."""
    path = Path(os.environ.get(CELERY_CONFIG_ENV, DEFAULT_CELERY_CONFIG))
    return path if path.is_absolute() else REPO_ROOT / path


def celery_executor_config(path: Path) -> dict[str, Any]:
    """The ``execution.config`` block of a dagster-celery worker YAML."""
    return yaml.safe_load(path.read_text())["execution"]["config"]


def start_method() -> dict[str, Any]:
    """The multiprocess executor's ``start_method`` config named by ``MOSAIC_START_METHOD``."""
    method = os.environ.get(START_METHOD_ENV, "forkserver")
    if method == "forkserver":
        return {"forkserver": {"preload_modules": [DEFINITIONS_MODULE]}}
    if method == "spawn":
        return {"spawn": {}}
    raise ValueError(f"{START_METHOD_ENV}={method!r}: expected 'forkserver' or 'spawn'")


def pipeline_executor() -> dg.ExecutorDefinition:
    """The executor named by ``MOSAIC_EXECUTOR``."""
    kind = os.environ.get(EXECUTOR_ENV, "multiprocess")
    if kind == "multiprocess":
        return dg.multiprocess_executor.configured({"start_method": start_method()}, name="multiprocess")
    if kind == "celery":
        from dagster_celery import celery_executor

        return celery_executor.configured(celery_executor_config(celery_config_path()), name="celery")
    raise ValueError(f"{EXECUTOR_ENV}={kind!r}: expected 'multiprocess' or 'celery'")
