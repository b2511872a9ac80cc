"""Model assets: SpatialMosaicVLM trained on the QA dataset, and its bench scores (thin wrappers of mosaic_model).

Both are downstream of ``qa_dataset``, so its blocking quality checks stop them. Training resumes
an interrupted run (the run folder is named by the model size, the QA content hash and the config
hash); every run is tracked in MLflow with the Dagster run id as a tag.

(No `from __future__ import annotations` in asset modules: Dagster inspects the context annotation.)
"""

from pathlib import Path
from typing import Any

import dagster as dg

from mosaic_assets.defs.tracking import MLflowResource
from mosaic_pipeline import paths
from mosaic_pipeline.params import Params
from mosaic_pipeline.repro.versions import provenance

from ..metadata import figure_md
from ..progress import progress_logger
from ..resources import MosaicParams

GROUP = "model"
QA_DATASET = dg.AssetKey("qa_dataset")
GEOMETRY_ENCODER = dg.AssetKey("geometry_encoder")  # defs/assets/geometry.py
BIAS_AUDIT = dg.AssetKey("bias_audit")  # defs/assets/quality.py: its blocking check keeps a biased dataset from training
_SCORE_SCHEMA = dg.TableSchema(columns=[
    dg.TableColumn("group", "string"), dg.TableColumn("score", "float"), dg.TableColumn("n", "int"),
    dg.TableColumn("ci_low", "float"), dg.TableColumn("ci_high", "float"),
])


def run_config(params: Params):
    """The model size of params.yaml ``model.config``, fusing the pretrained geometry encoder when it exists."""
    from mosaic_model.config import load_run_config
    from mosaic_model.geometry_pretrain import with_pretrained_geometry

    return with_pretrained_geometry(load_run_config(params.model.config), paths.geometry_encoder(params))


def trained_run(params: Params) -> Path:
    """The ``checkpoint`` asset's run folder: named by the model size, the QA content hash and the config hash."""
    from mosaic_model.train import run_name

    return paths.model_runs(params) / run_name(run_config(params), paths.qa_dataset(params))


def _score_rows(summaries: dict[str, dict[str, Any]]) -> list[dg.TableRecord]:
    return [dg.TableRecord({"group": name, "score": s["score"], "n": s["n"], "ci_low": s["ci"][0],
                            "ci_high": s["ci"][1]}) for name, s in summaries.items()]


@dg.asset(group_name=GROUP, deps=[QA_DATASET, BIAS_AUDIT, GEOMETRY_ENCODER],
          description="SpatialMosaicVLM (size: params.yaml model.config) trained on the train split, fusing the "
                      "pretrained geometry encoder when present; safetensors checkpoint + config, tracked in MLflow.")
def checkpoint(context: dg.AssetExecutionContext, mosaic: MosaicParams, mlflow_tracking: MLflowResource
               ) -> dg.MaterializeResult:
    from mosaic_model.train import train
    from mosaic_pipeline.plots.training import loss_figure

    params = mosaic.load()
    qa_path, run_dir = paths.qa_dataset(params), trained_run(params)
    cfg = run_config(params)
    context.log.info(f"training {cfg.model.name} in {run_dir} ({cfg.train.max_steps} steps)")
    report = progress_logger(context, cfg.model.name, "training steps")
    result = train(cfg, qa_path, paths.frames_root(params), run_dir, params, mlflow_tracking.tracking(context.run.run_id),
                   on_step=lambda log: report(log.step, cfg.train.max_steps))
    metadata: dict[str, Any] = {
        "path": dg.MetadataValue.path(str(result.checkpoint)),
        "config": cfg.model.name,
        "steps_run": len(result.history),
        "mlflow_run_id": str(result.mlflow_run_id),
        "mlflow_run": dg.MetadataValue.url(mlflow_tracking.run_url(result.mlflow_run_id)),
    }
    if result.history:
        h = result.history
        metadata["final_loss"] = h[-1].loss
        metadata["loss_curve"] = figure_md(loss_figure([x.step for x in h], [x.loss for x in h], [x.lr for x in h]),
                                           f"{cfg.model.name} training loss")
    return dg.MaterializeResult(metadata=metadata)


@dg.asset(group_name=GROUP, deps=[checkpoint, QA_DATASET],
          description="Greedy-decoded predictions of the checkpoint on the bench split, scored as the official "
                      "lmms-eval spatial_mosaic task (overall, micro, per type, slices, 95 % CIs).")
def bench_scores(context: dg.AssetExecutionContext, mosaic: MosaicParams, mlflow_tracking: MLflowResource
                 ) -> dg.MaterializeResult:
    from mosaic_model.evaluate import evaluate
    from mosaic_pipeline.plots.training import score_figure

    params = mosaic.load()
    from mosaic_model.checkpoint import latest_checkpoint

    trained = latest_checkpoint(trained_run(params))
    if trained is None:
        raise dg.Failure(f"bench_scores: {trained_run(params)} has no checkpoint (materialize checkpoint first)")
    qa_path = paths.qa_dataset(params)
    split = params.model.eval_split
    out = paths.model_eval(params, split, trained.name)
    result = evaluate(trained, qa_path, paths.frames_root(params), out, split, params,
                      mlflow_tracking.tracking(context.run.run_id))
    table = result.table
    slices = {f"{name}={level}": s for name, levels in table["slices"].items() for level, s in levels.items()}
    return dg.MaterializeResult(metadata={
        "path": dg.MetadataValue.path(str(result.scores)),
        "predictions": dg.MetadataValue.path(str(result.predictions)),
        "overall": table["overall"]["score"],
        "micro": table["micro"]["score"],
        "n_questions": table["micro"]["n"],
        "per_question_type": dg.MetadataValue.table(_score_rows(table["per_type"]), schema=_SCORE_SCHEMA),
        "slices": dg.MetadataValue.table(_score_rows(slices), schema=_SCORE_SCHEMA),
        "scores_plot": figure_md(score_figure(table), f"{split}: overall {table['overall']['score']:.1f}"),
        "ci_method": table["ci_method"],
        "mlflow_run": dg.MetadataValue.url(mlflow_tracking.run_url(result.mlflow_run_id)),
        **provenance(result.mlflow_run_id),  # git_commit, git_dirty, dvc_lock_sha256, mlflow_run_id
    })
