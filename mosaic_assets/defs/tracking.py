"""The MLflow Dagster resource.

dagster-mlflow is old-style and caps pandas < 3 (docs/development.md), so the model assets use this small
``ConfigurableResource`` instead: it turns the store settings and the Dagster run id into the
``TrackingConfig`` the training and evaluation code log with, and builds links to the MLflow UI.
"""
from __future__ import annotations

import dagster as dg
import mlflow

from mosaic_model.tracking import TrackingConfig, tracking_uri
from mosaic_pipeline.params import Params


class MLflowResource(dg.ConfigurableResource):
    """Where model runs are tracked; every run started through it is tagged with the Dagster run id."""

    tracking_uri: str | None  # None: sqlite:///<repo>/.mlflow/mlflow.db
    experiment: str
    ui_url: str  # base URL of an ``mlflow ui`` serving this store (links in asset metadata)

    @classmethod
    def from_params(cls, params: Params) -> MLflowResource:
        m = params.model
        return cls(tracking_uri=m.tracking_uri, experiment=m.experiment, ui_url=m.mlflow_ui_url)

    def tracking(self, dagster_run_id: str) -> TrackingConfig:
        return TrackingConfig(self.tracking_uri, self.experiment, dagster_run_id)

    def run_url(self, run_id: str) -> str:
        experiment_id = mlflow.MlflowClient(tracking_uri(self.tracking_uri)).get_run(run_id).info.experiment_id
        return f"{self.ui_url.rstrip('/')}/#/experiments/{experiment_id}/runs/{run_id}"
