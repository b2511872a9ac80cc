"""MLflow tracking: a local SQLite store by default, and the tags every run carries.

Tags: ``mlflow.source.git.commit`` (set here: it is missing when runs start from Dagster),
``mosaic.git.dirty``, the QA dataset's data version (``mosaic.data.sha256`` content hash and
``mosaic.data.dvc_md5`` when DVC tracks the file) and ``dagster.run_id`` when given.
"""
from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow

from mosaic_pipeline.params import REPO_ROOT
from mosaic_pipeline.provenance import COMMIT_TAG, DIRTY_TAG, git_tags

DEFAULT_STORE = REPO_ROOT / ".mlflow" / "mlflow.db"
_PARAM_VALUE_LIMIT = 6000  # MLflow's limit on one param value
SYSTEM_METRICS_ENV = "MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING"
SQLITE_PREFIX = "sqlite:///"
TRACKING_URI_ENV = "MLFLOW_TRACKING_URI"  # MLflow's own variable, used when params.yaml names no store


@dataclass(frozen=True)
class TrackingConfig:
    uri: str | None  # None: sqlite:///<repo>/.mlflow/mlflow.db
    experiment: str
    dagster_run_id: str | None = None
    commit: str | None = None  # a checkout without git: the commit its files were verified to be (experiment)


def tracking_uri(configured: str | None) -> str:
    """The configured URI, else $MLFLOW_TRACKING_URI, else the repository's SQLite store (an absolute
    path, as MLflow needs)."""
    if configured or os.environ.get(TRACKING_URI_ENV):
        return configured or os.environ[TRACKING_URI_ENV]
    DEFAULT_STORE.parent.mkdir(parents=True, exist_ok=True)
    return f"{SQLITE_PREFIX}{DEFAULT_STORE}"


def artifact_location(uri: str) -> str | None:
    """Artifacts of a SQLite store go beside the database (MLflow's default is ./mlruns in the cwd)."""
    if uri.startswith(SQLITE_PREFIX):
        return (Path(uri.removeprefix(SQLITE_PREFIX)).parent / "artifacts").as_uri()
    return None  # a tracking server decides


def flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Nested config -> {"model.vision.width": "32", ...} (values cut to MLflow's limit)."""
    flat: dict[str, str] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = str(value)[:_PARAM_VALUE_LIMIT]
    return flat


@contextmanager
def mlflow_run(tracking: TrackingConfig, run_name: str, params: dict[str, Any], tags: dict[str, str],
               run_id: str | None = None) -> Iterator[mlflow.ActiveRun]:
    """Start (or, with ``run_id``, resume) a run with params, tags and system metrics."""
    uri = tracking_uri(tracking.uri)
    mlflow.set_tracking_uri(uri)
    experiment = mlflow.get_experiment_by_name(tracking.experiment)
    mlflow.set_experiment(experiment_id=experiment.experiment_id if experiment else
                          mlflow.create_experiment(tracking.experiment, artifact_location=artifact_location(uri)))
    # system metrics need psutil; MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING, when set, decides instead
    system_metrics = None if SYSTEM_METRICS_ENV in os.environ else importlib.util.find_spec("psutil") is not None
    name = None if run_id else run_name
    with mlflow.start_run(run_id=run_id, run_name=name, log_system_metrics=system_metrics) as run:
        if run_id is None:
            mlflow.log_params(flatten(params))
        all_tags = {**git_tags(), **tags}
        if tracking.commit and all_tags[COMMIT_TAG] == "unknown":  # a verified copy: that commit, unchanged
            all_tags.update({COMMIT_TAG: tracking.commit, DIRTY_TAG: "false"})
        if tracking.dagster_run_id:
            all_tags["dagster.run_id"] = tracking.dagster_run_id
        mlflow.set_tags(all_tags)
        yield run
