"""Geometry-encoder asset: the VGGT of params.yaml model.config pretrained on the train scenes' depth maps and
relative camera poses (mosaic_model.geometry_pretrain), frozen afterwards; ``checkpoint`` fuses it when present.

(No `from __future__ import annotations` in asset modules: Dagster inspects the context annotation.)
"""

import dagster as dg

from mosaic_assets.defs.tracking import MLflowResource
from mosaic_pipeline import paths

from ..progress import progress_logger
from ..resources import MosaicParams
from .model import GROUP, QA_DATASET


@dg.asset(group_name=GROUP, deps=[QA_DATASET],
          description="VGGT geometry encoder pretrained on depth + relative poses of the train scenes "
                      "(held-out depth AbsRel and pose errors in its MLflow run); safetensors.")
def geometry_encoder(context: dg.AssetExecutionContext, mosaic: MosaicParams, mlflow_tracking: MLflowResource
                     ) -> dg.MaterializeResult:
    from mosaic_model.config import load_run_config
    from mosaic_model.experiment.bundle import BundleSpec, build_bundle, release_roots
    from mosaic_model.geometry_pretrain import pretrain_tracked
    from mosaic_model.train import select_device

    params = mosaic.load()
    cfg, vggt = params.geometry_pretrain, load_run_config(params.model.config).model.geometry.vggt
    out = paths.geometry_encoder_dir(params)
    spec = BundleSpec(vggt.img_size, min(cfg.depth_size, vggt.img_size), cfg.jpeg_quality)
    bundle = build_bundle(paths.qa_dataset(params), paths.frames_root(params),
                          release_roots(params), paths.geometry_bundle(params), spec, params.scannetpp)
    report = progress_logger(context, "geometry encoder", "pretraining steps")
    result, run_id = pretrain_tracked(vggt, cfg, bundle, out, mlflow_tracking.tracking(context.run.run_id),
                                      f"geometry-{params.model.config}", select_device(None),
                                      on_step=lambda s: report(s.step, cfg.steps))
    return dg.MaterializeResult(metadata={
        "path": dg.MetadataValue.path(str(result.weights)),
        "config": params.model.config,
        **{f"heldout_{k}": v for k, v in result.after.items()},
        **{f"heldout_random_init_{k}": v for k, v in result.before.items()},
        "train_scenes": len(result.train_scenes),
        "heldout_scenes": len(result.heldout_scenes),
        "mlflow_run": dg.MetadataValue.url(mlflow_tracking.run_url(run_id)),
    })
