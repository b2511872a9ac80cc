"""The Dagster ``Definitions`` that ``dagster dev`` / ``mosaic ui`` load (pyproject [tool.dagster])."""
from __future__ import annotations

import dagster as dg

from mosaic_assets.defs.tracking import MLflowResource
from mosaic_pipeline.params import default_params, params_path
from mosaic_pipeline.provenance import dagster_run_tags

from .defs.assets import geometry as geometry_assets
from .defs.assets import model as model_assets
from .defs.assets import qa as qa_assets
from .defs.assets import quality as quality_checks
from .defs.assets import scenes as scene_assets
from .defs.assets import visibility as visibility_assets
from .defs.executors import pipeline_executor
from .defs.partitions import scene_partitions
from .defs.resources import MosaicParams

# One entry per asset module (domain); each module holds the thin wrappers of one pipeline stage.
ASSET_MODULES = [scene_assets, visibility_assets, qa_assets, quality_checks, geometry_assets, model_assets]

assets = dg.load_assets_from_modules(ASSET_MODULES)
_per_scene = [key for a in assets if a.partitions_def == scene_partitions for key in a.keys]
_model = [key for a in assets for key in a.keys if a.group_names_by_key[key] == model_assets.GROUP]
_downstream = [key for a in assets if a.partitions_def is None for key in a.keys
               if key != scene_assets.scene_catalog.key and key not in _model]
# Commit, params and dvc.lock hashes when the code location loads: every run of these jobs (the UI's
# launchpad, a schedule, a backfill) carries them from its launch; the `mosaic` resource refreshes
# them when the run's steps start (defs/resources.py), `mosaic run` passes its own (runner.py).
PROVENANCE_TAGS = dagster_run_tags(params_path())

per_scene_job = dg.define_asset_job(
    "per_scene", selection=dg.AssetSelection.assets(*_per_scene), tags=PROVENANCE_TAGS,
    description="Every per-scene asset of one scene partition (run once per partition, or as a backfill).",
)
catalog_job = dg.define_asset_job(
    "catalog", selection=dg.AssetSelection.assets(scene_assets.scene_catalog), tags=PROVENANCE_TAGS,
    description="The scene catalog (and the synthetic release's splits and vocabulary).",
)
jobs = [catalog_job, per_scene_job]
if _downstream:
    jobs.append(dg.define_asset_job(
        "datasets", selection=dg.AssetSelection.assets(*_downstream), tags=PROVENANCE_TAGS,
        description="The unpartitioned data assets built over all scenes (the QA dataset and its exports).",
    ))
if _model:
    jobs.append(dg.define_asset_job(
        "model", selection=dg.AssetSelection.assets(*_model), tags=PROVENANCE_TAGS,
        description="Training (checkpoint, MLflow run) and bench scores; size from params.yaml model.config.",
    ))

defs = dg.Definitions(
    assets=assets,
    asset_checks=dg.load_asset_checks_from_modules(ASSET_MODULES),
    jobs=jobs,
    resources={"mosaic": MosaicParams(), "mlflow_tracking": MLflowResource.from_params(default_params())},
    executor=pipeline_executor(),
)
