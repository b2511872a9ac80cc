"""``mosaic visibility`` and ``mosaic views``: the visibility table and the low-overlap view samples of a scene."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import click
import numpy as np

from mosaic_pipeline.errors import SceneError
from mosaic_pipeline.params import Params, load_params
from mosaic_pipeline.paths import overlap_beside, voxels_beside

SCENE_DIR = click.Path(path_type=Path, exists=True, file_okay=False)


def _params(long_side: int | None) -> Params:
    """params.yaml, with the working resolution of ``--long-side`` when given."""
    if long_side is not None and long_side <= 0:
        raise click.BadParameter(f"must be > 0, got {long_side}", param_hint="--long-side")
    return load_params(overrides={"visibility": {"long_side": long_side}} if long_side else None)


def _fail(exc: SceneError) -> None:
    click.echo(f"error: {exc}", err=True)
    sys.exit(1)


@click.command("visibility")
@click.argument("scene_dir", type=SCENE_DIR)
@click.option("--out", type=click.Path(path_type=Path, dir_okay=False), required=True, help="Parquet file to write.")
@click.option("--long-side", type=int, default=None, help="Working resolution (default: params.yaml visibility.long_side).")
def visibility(scene_dir: Path, out: Path, long_side: int | None) -> None:
    """Per frame, per instance visibility of SCENE_DIR (one row per frame and instance in view), and every
    frame's visible-surface voxels beside it (<stem>.voxels.parquet, for `mosaic views`); prints a JSON summary."""
    from mosaic_pipeline.scene.scannetpp import load_scene
    from mosaic_pipeline.visibility.overlap import write_frame_voxels
    from mosaic_pipeline.visibility.table import compute_visibility, write_visibility

    params = _params(long_side)
    try:
        result = compute_visibility(load_scene(scene_dir, params=params.scannetpp), params.visibility,
                                    voxel_size=params.views.voxel_size)
    except SceneError as exc:
        _fail(exc)
    write_frame_voxels(result.voxels, voxels_beside(out))
    write_visibility(result.table, out)
    click.echo(json.dumps({"out": str(out), "voxels": str(voxels_beside(out)), "rows": len(result.table),
                           "visible_rows": int(result.table.is_visible.sum()),
                           "frames": len(result.seconds_per_frame),
                           "median_seconds_per_frame": float(np.median(result.seconds_per_frame))
                           if len(result.seconds_per_frame) else None}, indent=2))


@click.command("views")
@click.argument("scene_dir", type=SCENE_DIR)
@click.option("--out", type=click.Path(path_type=Path, dir_okay=False), required=True,
              help="Parquet file of view samples; the overlap matrix goes beside it as <stem>.overlap.parquet.")
@click.option("--visibility", "visibility_file", type=click.Path(path_type=Path, exists=True, dir_okay=False),
              default=None, help="Visibility table of the scene, with its voxel sets beside it (computed when omitted).")
@click.option("--long-side", type=int, default=None, help="Working resolution (default: params.yaml visibility.long_side).")
def views(scene_dir: Path, out: Path, visibility_file: Path | None, long_side: int | None) -> None:
    """Low-overlap view samples of SCENE_DIR and the overlap matrix of its frames; prints a JSON summary.

    The overlaps come from the frames' voxel sets of the visibility pass (one cast per frame); a
    --visibility table without them beside it has them cast anew."""
    from mosaic_pipeline.scene.scannetpp import load_scene
    from mosaic_pipeline.visibility.backend import make_caster
    from mosaic_pipeline.visibility.overlap import cast_frame_voxels, read_frame_voxels, write_overlap
    from mosaic_pipeline.visibility.table import compute_visibility, read_visibility
    from mosaic_pipeline.visibility.views import scene_views, write_views

    params = _params(long_side)
    vp = params.visibility
    try:
        scene = load_scene(scene_dir, params=params.scannetpp)
        if visibility_file:
            table = read_visibility(visibility_file)
            other = set(table.scene_id) - {scene.scene_id}
            if other:
                raise click.BadParameter(f"rows of scene(s) {sorted(other)}, not {scene.scene_id}",
                                         param_hint="--visibility")
            beside = voxels_beside(visibility_file)
            voxels = read_frame_voxels(beside) if beside.exists() else \
                cast_frame_voxels(scene, vp.long_side, vp.near_plane, params.views.voxel_size,
                                  caster=make_caster(scene, vp))
        else:
            result = compute_visibility(scene, vp, voxel_size=params.views.voxel_size)
            table, voxels = result.table, result.voxels
    except SceneError as exc:
        _fail(exc)
    result = scene_views(scene.scene_id, table, voxels, params.views, vp.overlap_level_edges)
    samples = result.samples
    write_overlap(result.matrix, overlap_beside(out))
    write_views(samples, out)
    click.echo(json.dumps({"out": str(out), "overlap": str(overlap_beside(out)), "samples": len(samples),
                           "frames_per_sample": samples.n_frames.value_counts().sort_index().to_dict()}, indent=2))
