"""`mosaic mlflow-ui` serves the project's tracking store on params.yaml model.mlflow_ui_url (docs/review.md):
a run logged the way training logs it is found there by its commit tag, over the REST API the UI calls and
on the UI's experiment page in Debian's headless Chromium."""
from __future__ import annotations

import json
import signal
import time
import urllib.request
from urllib.parse import quote

import pytest
from small_params import write_small_params
from stack import ARTIFACTS, Browser, record_wall_time

from mosaic_assets.services import BIN, HOST, free_port, project_env, running, start, wait_for
from mosaic_model.tracking import TrackingConfig, mlflow_run
from mosaic_pipeline.provenance import git_tags

RUN_NAME = "tiny-review-test"


def _commit_filter(commit: str) -> str:
    """The search that docs/review.md gives for a commit's runs."""
    return f"tags.`mlflow.source.git.commit` = '{commit}'"


def _runs_of_commit(url: str, experiment_id: str, commit: str) -> list[dict]:
    body = json.dumps({"experiment_ids": [experiment_id], "filter": _commit_filter(commit)}).encode()
    req = urllib.request.Request(f"{url}/api/2.0/mlflow/runs/search", body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.load(resp).get("runs", [])


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_mlflow_ui_serves_the_tracking_store(tmp_path):
    store = tmp_path / "mlflow.db"
    with mlflow_run(TrackingConfig(f"sqlite:///{store}", "mosaic"), RUN_NAME, {"lr": 0.1}, {}) as run:
        experiment_id = run.info.experiment_id
    url = f"http://{HOST}:{free_port()}"
    params = write_small_params(tmp_path, extra={"model": {"mlflow_ui_url": url}})
    server = start("mlflow-ui", [str(BIN / "mosaic"), "mlflow-ui", "--store", str(store)], tmp_path,
                   project_env(MOSAIC_PARAMS=params))
    commit = git_tags()["mlflow.source.git.commit"]
    with running(server, signal.SIGINT):
        t0 = time.monotonic()
        found = wait_for(lambda: _runs_of_commit(url, experiment_id, commit), 180, "mlflow ui", server.proc, server.log)
        record_wall_time("mlflow_ui_until_runs_found", time.monotonic() - t0)
        assert [r["info"]["run_name"] for r in found] == [RUN_NAME]
        with Browser(tmp_path) as browser:
            browser.open(f"{url}/#/experiments/{experiment_id}/runs?searchFilter={quote(_commit_filter(commit))}",
                         RUN_NAME, "1 matching run")
            browser.screenshot(ARTIFACTS / "ui" / "10_mlflow_ui.png")
