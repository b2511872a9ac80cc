"""Every output path of the pipeline, computed from params.yaml: the one owner of where things are written.

The Dagster assets, the CLI, the DVC stages (dvc.yaml names the same folders through ``${paths.artifacts}``)
and the tests all ask this module, so an asset finds its inputs from the parameters alone, also when
DVC restored them rather than a Dagster run writing them (docs/architecture.md, "Outputs").
"""
from __future__ import annotations

from pathlib import Path

from .params import Params

GEOMETRY_WEIGHTS = "vggt.safetensors"  # the pretrained, frozen geometry encoder in its folder


def catalog(params: Params) -> Path:
    return params.artifacts / "catalog.json"


def synthetic_release(params: Params) -> Path:
    return params.resolve(params.paths.synthetic_release)


def frames_root(params: Params) -> Path:
    """Working-resolution frames: ``<root>/<source>/<scene>/{images/<frame>.jpg, cameras.parquet}``."""
    return params.artifacts / "frames"


def frames_dir(params: Params, source: str, scene_id: str) -> Path:
    return frames_root(params) / source / scene_id


def visibility(params: Params, scene_id: str) -> Path:
    return params.artifacts / "visibility" / f"{scene_id}.parquet"


def frame_voxels(params: Params, scene_id: str) -> Path:
    """Every frame's visible-surface voxels, written by the visibility stage from its own cast (the view
    sampler reads them instead of casting the frames again)."""
    return voxels_beside(visibility(params, scene_id))


def voxels_beside(visibility_file: Path) -> Path:
    """The frames' voxel sets beside a visibility table: ``<stem>.voxels.parquet``."""
    visibility_file = Path(visibility_file)
    return visibility_file.with_name(f"{visibility_file.stem}.voxels.parquet")


def view_samples(params: Params, scene_id: str) -> Path:
    return params.artifacts / "views" / f"{scene_id}.parquet"


def overlap(params: Params, scene_id: str) -> Path:
    return overlap_beside(view_samples(params, scene_id))


def overlap_beside(views_file: Path) -> Path:
    """The overlap matrix of the frames (all, or an even subsample above ``views.overlap_matrix_max_frames``),
    beside a view-sample table: ``<stem>.overlap.parquet``."""
    views_file = Path(views_file)
    return views_file.with_name(f"{views_file.stem}.overlap.parquet")


def qa_shard(params: Params, scene_id: str) -> Path:
    return params.artifacts / "qa" / "shards" / f"{scene_id}.parquet"


def qa_samples_json(params: Params, scene_id: str) -> Path:
    return samples_json_beside(qa_shard(params, scene_id))


def samples_json_beside(shard_file: Path) -> Path:
    """A shard's nested per-sample export (the official samples format), beside it."""
    return Path(shard_file).with_suffix(".samples.json")


def qa_dataset_dir(params: Params) -> Path:
    return params.artifacts / "qa" / "dataset"


def qa_dataset(params: Params) -> Path:
    """Every split's QA in one table."""
    return qa_dataset_dir(params) / "qa.parquet"


def qa_split(params: Params, split: str) -> Path:
    return qa_dataset_dir(params) / f"{split}.parquet"


def qa_generated(params: Params) -> Path:
    """Every split's QA as the scenes generated it, before the split-level debiasing (docs/audit.md)."""
    return qa_dataset_dir(params) / "generated.parquet"


def qa_debias_report(params: Params) -> Path:
    """Per split and question type: questions generated, balanced away and pruned (docs/audit.md)."""
    return qa_dataset_dir(params) / "debias.json"


def bias_audit_dir(params: Params) -> Path:
    """The ``bias_audit`` asset's table (``audit.parquet``, ``audit.json``) and figure (``audit.png``)."""
    return params.artifacts / "quality" / "audit"


def qa_exports(params: Params) -> Path:
    return qa_dataset_dir(params) / "exports"


def quality_docs_root(params: Params) -> Path:
    """Every check's GX context and Data Docs (served under /data_docs/ by `mosaic ui`, docs/review.md)."""
    return params.artifacts / params.quality.gx_dir


def quality_docs(params: Params, check: str, partition: str | None) -> Path:
    """The GX context and Data Docs of one check (of one partition)."""
    return quality_docs_root(params) / check / (partition or "all")


def review_root(params: Params) -> Path:
    """Every QA shard's review page (served under /review/ by `mosaic ui`, docs/review.md)."""
    return params.artifacts / params.review.dir


def review_dir(params: Params, scene_id: str) -> Path:
    """One shard's review page: ``index.html`` with its figures and rendered questions beside it."""
    return review_root(params) / scene_id


def bias_audit_questions(params: Params) -> Path:
    """The bias audit's per-question table (scene_id, question_type, text-only correctness), when it ran.

    The review pages read it if it is there (mosaic_pipeline.quality.review_audit).
    """
    return bias_audit_dir(params) / "questions.parquet"


def model_runs(params: Params) -> Path:
    """One folder per training run of the ``checkpoint`` asset, named by ``mosaic_model.train.run_name``."""
    return params.artifacts / params.model.runs


def model_eval(params: Params, split: str, checkpoint: str) -> Path:
    """Predictions and scores of the ``bench_scores`` asset for one checkpoint (``step_NNNNNNN``) on one split."""
    return model_runs(params) / "eval" / f"{split}-{checkpoint}"


def frame_cache(params: Params) -> Path:
    return params.artifacts / params.model.frame_cache


def geometry_encoder_dir(params: Params) -> Path:
    """The ``geometry_encoder`` asset's pretrained encoder of the model size of params.yaml ``model.config``."""
    return params.artifacts / params.geometry_pretrain.output / params.model.config / "encoder"


def geometry_encoder(params: Params) -> Path:
    return geometry_encoder_dir(params) / GEOMETRY_WEIGHTS


def geometry_bundle(params: Params) -> Path:
    """The frames, depth maps and poses the geometry encoder is pretrained on."""
    return geometry_encoder_dir(params).parent / "bundle"


def dvc_train_run(params: Params) -> Path:
    """The training run of the DVC ``train`` stage (dvc.yaml)."""
    return params.artifacts / params.repro.train_run


def reports(params: Params) -> Path:
    """The DVC pipeline's committed reports: ``bench/scores.json`` (metrics) and ``plots/``."""
    return params.resolve(params.repro.reports)
