"""Visibility assets: the per-frame visibility table and the low-overlap view samples of each scene.

Thin wrappers of :mod:`mosaic_pipeline.visibility.table`, :mod:`mosaic_pipeline.visibility.overlap` and
:mod:`mosaic_pipeline.visibility.views`: they read the scene, write Parquet through the atomic helpers and record
the table's ``path`` (``mosaic_pipeline.paths``, where every reader finds it), row counts, an occlusion /
truncation histogram or an overlap heatmap, and the seconds per frame.

One cast per frame (docs/labels_performance.md): ``visibility`` also writes every frame's visible-surface
voxels (``paths.frame_voxels``) from its own cast, and ``view_samples`` reads them instead of casting again.

(No `from __future__ import annotations` in asset modules: Dagster inspects the context annotation.)
"""

import time
from collections import Counter

import dagster as dg
import numpy as np

from mosaic_pipeline import paths
from mosaic_pipeline.plots.labels import overlap_heatmap, ratio_histogram

from ..metadata import counts_table, figure_md
from ..partitions import scene_partitions
from ..progress import progress_logger
from ..resources import MosaicParams
from .quality import PATH_KEY
from .scenes import frames, scenes

GROUP = "visibility"


@dg.asset(group_name=GROUP, partitions_def=scene_partitions, deps=[scenes, frames],
          description="Per frame, per instance visibility (visible / unoccluded / full pixels, occlusion and "
                      "truncation ratios, 2D box, camera-frame 3D box) at the working resolution.")
def visibility(context: dg.AssetExecutionContext, mosaic: MosaicParams) -> dg.MaterializeResult:
    from mosaic_pipeline.scene.scannetpp import load_scene
    from mosaic_pipeline.visibility.overlap import write_frame_voxels
    from mosaic_pipeline.visibility.table import compute_visibility, write_visibility

    params = mosaic.load()
    entry = mosaic.scene(context.partition_key)
    scene = load_scene(entry.scene_dir, params=params.scannetpp)
    result = compute_visibility(scene, params.visibility, progress_logger(context, entry.scene_id, "visibility frames"),
                                voxel_size=params.views.voxel_size)
    table, seconds = result.table, result.seconds_per_frame
    out = paths.visibility(params, entry.scene_id)
    write_frame_voxels(result.voxels, paths.frame_voxels(params, entry.scene_id))
    write_visibility(table, out)
    visible = table[table.is_visible]
    return dg.MaterializeResult(metadata={
        PATH_KEY: dg.MetadataValue.path(str(out)),
        "voxels_path": dg.MetadataValue.path(str(paths.frame_voxels(params, entry.scene_id))),
        "n_rows": len(table),
        "n_visible_rows": len(visible),
        "n_frames": len(scene.frames),
        "frames_without_visible_instance": len(scene.frames) - visible.frame_id.nunique(),
        "instances_visible_somewhere": f"{visible.instance_id.nunique()} of {len(scene.instances)}",
        "visible_rows_per_label": counts_table(Counter(visible.label)),
        "occlusion_truncation_histogram": figure_md(ratio_histogram(table, entry.scene_id), "occlusion / truncation"),
        "seconds_per_frame_median": round(float(np.median(seconds)), 4) if len(seconds) else 0.0,
        "seconds_per_frame_max": round(float(seconds.max()), 4) if len(seconds) else 0.0,
        "seconds": round(float(seconds.sum()), 2),
    })


@dg.asset(group_name=GROUP, partitions_def=scene_partitions, deps=[visibility],
          description="Low-overlap view samples (2-5 frames, pairwise voxel IoU <= the cap) from the frames' voxel "
                      "sets of the visibility stage, and the overlap matrix of (up to views.overlap_matrix_max_frames "
                      "evenly spaced) frames beside them.")
def view_samples(context: dg.AssetExecutionContext, mosaic: MosaicParams) -> dg.MaterializeResult:
    from mosaic_pipeline.visibility.overlap import write_overlap
    from mosaic_pipeline.visibility.table import read_visibility
    from mosaic_pipeline.visibility.views import scene_views, write_views

    params = mosaic.load()
    entry = mosaic.scene(context.partition_key)
    t0 = time.perf_counter()
    table = read_visibility(paths.visibility(params, entry.scene_id))
    views = scene_views(entry.scene_id, table, _frame_voxels(context, params, entry), params.views,
                        params.visibility.overlap_level_edges)
    samples, dense, eligible, overlap = views.samples, views.matrix, views.eligible, views.overlap
    out = paths.view_samples(params, entry.scene_id)
    write_overlap(dense, paths.overlap(params, entry.scene_id))
    write_views(samples, out)
    seconds = time.perf_counter() - t0
    off_diagonal = dense.matrix[~np.eye(len(dense.frame_ids), dtype=bool)]
    return dg.MaterializeResult(metadata={
        PATH_KEY: dg.MetadataValue.path(str(out)),
        "overlap_path": dg.MetadataValue.path(str(paths.overlap(params, entry.scene_id))),
        "n_samples": len(samples),
        "samples_requested": params.views.samples_per_scene,
        "eligible_frames": f"{int(eligible.sum())} of {len(eligible)}",
        "samples_per_frame_count": counts_table(Counter(samples.n_frames.astype(str)), key="n_frames"),
        "samples_per_overlap_level": counts_table(Counter(samples.overlap_level), key="overlap_level"),
        "overlap_matrix_frames": f"{len(dense.frame_ids)} of {len(overlap.frame_ids)}",
        "pairs_at_or_below_cap": f"{float((off_diagonal <= params.views.max_overlap).mean()):.1%}"
        if len(off_diagonal) else "-",
        "overlap_heatmap": figure_md(overlap_heatmap(dense, params.views.max_overlap, entry.scene_id), "overlap"),
        "seconds_per_frame_overlap": round(seconds / max(1, len(overlap.frame_ids)), 4),
        "seconds": round(seconds, 2),
    })


def _frame_voxels(context: dg.AssetExecutionContext, params, entry):
    """The visibility stage's voxel sets; cast anew only for a visibility table written without them."""
    from mosaic_pipeline.scene.scannetpp import load_scene
    from mosaic_pipeline.visibility.backend import make_caster
    from mosaic_pipeline.visibility.overlap import cast_frame_voxels, read_frame_voxels

    path = paths.frame_voxels(params, entry.scene_id)
    if path.exists():
        return read_frame_voxels(path)
    context.log.warning(f"{entry.scene_id}: {path} is missing (visibility ran before it wrote voxel sets): "
                        "casting every frame again for the overlap")
    scene = load_scene(entry.scene_dir, params=params.scannetpp)
    vp = params.visibility
    return cast_frame_voxels(scene, vp.long_side, vp.near_plane, params.views.voxel_size,
                             progress_logger(context, entry.scene_id, "overlap frames"), make_caster(scene, vp))
