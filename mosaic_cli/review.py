"""``mosaic mlflow-ui`` (the MLflow UI over the project's tracking store) and ``mosaic review-server`` (the
review pages and Data Docs alone, which `mosaic ui` already serves beside the Dagster UI). docs/review.md."""
from __future__ import annotations

import os
import shutil
import sys
import threading
from pathlib import Path
from urllib.parse import urlsplit

import click

from mosaic_pipeline.params import REPO_ROOT, default_params

MLFLOW_WORKERS = 1  # one person's UI on loopback (MLflow's default, 4, quadruples start-up on a small machine)
# MLflow's GenAI job runner (a huey consumer beside the server): unused by this project's runs
NO_JOB_RUNNER = {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}


def _store_uri(store: str | None) -> str:
    """A tracking URI: ``store`` as given (a URI, or a path to an MLflow SQLite file), else the project's."""
    from mosaic_model.tracking import SQLITE_PREFIX, tracking_uri

    if store is None:
        return tracking_uri(default_params().model.tracking_uri)
    if "://" in store:
        return store
    path = Path(store).resolve()
    if not path.is_file():
        raise click.BadParameter(f"no MLflow SQLite store at {path}", param_hint="--store")
    return f"{SQLITE_PREFIX}{path}"


@click.command("mlflow-ui")
@click.option("--store", default=None,
              help="Tracking URI or SQLite file (default: params.yaml model.tracking_uri, else "
                   "$MLFLOW_TRACKING_URI, else <repo>/.mlflow/mlflow.db).")
def mlflow_ui(store: str | None) -> None:
    """Serve the MLflow UI over the tracking store on model.mlflow_ui_url (loopback), the address the
    asset metadata links runs to."""
    from mosaic_model.tracking import artifact_location

    uri = _store_uri(store)
    url = urlsplit(default_params().model.mlflow_ui_url)
    mlflow = shutil.which("mlflow", path=os.path.dirname(sys.executable)) or "mlflow"
    cmd = [mlflow, "ui", "--backend-store-uri", uri, "--host", url.hostname or "127.0.0.1",
           "--port", str(url.port or 5000), "--workers", str(MLFLOW_WORKERS)]
    if artifacts := artifact_location(uri):
        cmd += ["--default-artifact-root", artifacts]
    click.echo(f"MLflow UI on {url.scheme}://{url.netloc} over {uri}", err=True)
    for key, value in NO_JOB_RUNNER.items():
        os.environ.setdefault(key, value)
    os.chdir(REPO_ROOT)
    os.execv(cmd[0], cmd)  # mlflow takes this process over: Ctrl-C stops it


@click.command("review-server")
def review_server() -> None:
    """Serve only the QA review pages and Data Docs (params.yaml review.host:review.port) until Ctrl-C."""
    from mosaic_pipeline.quality.serve import PortTaken, serve

    try:
        with serve(default_params()) as base:
            click.echo(f"review pages on {base}/review/, Data Docs on {base}/data_docs/ (Ctrl-C stops)", err=True)
            threading.Event().wait()
    except PortTaken as exc:
        raise click.ClickException(str(exc)) from None
    except KeyboardInterrupt:
        pass
