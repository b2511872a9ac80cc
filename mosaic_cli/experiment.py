"""``mosaic experiment run``: the paper experiment as one command (docs/experiment.md).

The library (``mosaic_model.experiment.command``) runs the steps and keeps the ledger; this layer adds the
data step, which materializes the data assets with Dagster (runs tagged with the commit, like ``mosaic run``).
"""
from __future__ import annotations

import os
from pathlib import Path

import click
import yaml

from mosaic_model.experiment.command import DataOutputs, report_command, run_command
from mosaic_pipeline import paths
from mosaic_pipeline.atomic import atomic_file
from mosaic_pipeline.params import PARAMS_ENV, Params

# the assets that make the QA dataset and its frames, its checks (bias audit included) with them
DATA_ASSETS = ("scene_catalog", "scenes", "frames", "visibility", "view_samples", "qa_shards", "qa_dataset",
               "bias_audit")


def pipeline_data(params: Params, artifacts: Path, resume: bool) -> DataOutputs:
    """Materialize the data assets with ``params`` into ``artifacts`` (every scene of the catalog; the synthetic
    release there too), in Dagster runs tagged with the commit and the hash of the parameters they read.

    With ``resume`` (an earlier call of the same parameters and code was cut off), a scene whose QA shard
    exists is not made again: the shard is its per-scene job's last output, written atomically.
    """
    params = params.model_copy(update={"paths": params.paths.model_copy(update={
        "artifacts": str(artifacts), "synthetic_release": str(artifacts / "synthetic")})})
    params_file = artifacts.parent / "params.yaml"
    with atomic_file(params_file) as tmp:  # what the Dagster processes read: params.yaml with the overlay merged
        tmp.write_text(yaml.safe_dump(params.model_dump(mode="json"), sort_keys=False))
    os.environ[PARAMS_ENV] = str(params_file)
    os.environ.pop("MOSAIC_ARTIFACTS", None)  # would move the outputs away from the work folder
    from mosaic_assets.runner import run_pipeline
    from mosaic_model.experiment.bundle import release_roots
    from mosaic_pipeline.catalog import load_catalog

    scenes = [e.scene_id for e in load_catalog(params)]
    if resume:
        scenes = [s for s in scenes if not paths.qa_shard(params, s).is_file()]
    failed = [o for o in run_pipeline(scenes, os.cpu_count() or 1, assets=DATA_ASSETS) if not o.success]
    if failed:
        raise click.ClickException("data step failed: " + "; ".join(f"{o.what}: {o.error}" for o in failed))
    return DataOutputs(paths.qa_dataset(params), paths.frames_root(params), release_roots(params))


@click.group("experiment")
def experiment() -> None:
    """The paper experiment: data, every arm x seed trained and scored, results/ (docs/experiment.md)."""


experiment.add_command(run_command(pipeline_data))
experiment.add_command(report_command)
