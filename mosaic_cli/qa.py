"""``mosaic qa``: the QA shard of one scene (qa.parquet, samples.json), with its inputs computed when absent."""
from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

import click
import pandas as pd

from mosaic_pipeline.catalog import SPLITS
from mosaic_pipeline.errors import SceneError
from mosaic_pipeline.params import Params, load_params
from mosaic_pipeline.paths import overlap_beside
from mosaic_pipeline.scene.types import Scene

VISIBILITY_FILE, VIEWS_FILE = "visibility.parquet", "views.parquet"
QA_FILE, SAMPLES_FILE = "qa.parquet", "samples.json"


def _visibility(scene: Scene, path: Path, params: Params) -> pd.DataFrame:
    from mosaic_pipeline.visibility.table import compute_visibility, read_visibility, write_visibility

    if path.exists():
        return read_visibility(path)
    table = compute_visibility(scene, params.visibility).table
    write_visibility(table, path)
    return table


def _views(scene: Scene, visibility: pd.DataFrame, path: Path, params: Params) -> pd.DataFrame:
    from mosaic_pipeline.visibility.backend import make_caster
    from mosaic_pipeline.visibility.overlap import compute_overlap, write_overlap
    from mosaic_pipeline.visibility.views import eligible_frames, read_views, sample_views, write_views

    if path.exists():
        return read_views(path)
    vp = params.visibility
    overlap = compute_overlap(scene, vp.long_side, vp.near_plane, params.views.voxel_size,
                              caster=make_caster(scene, vp))
    table = sample_views(scene.scene_id, overlap, eligible_frames(visibility, overlap.frame_ids), params.views,
                         vp.overlap_level_edges)
    write_overlap(overlap, overlap_beside(path))
    write_views(table, path)
    return table


@click.command("qa")
@click.argument("scene_dir", type=click.Path(path_type=Path, exists=True, file_okay=False))
@click.option("--out", "out", type=click.Path(path_type=Path, file_okay=False), required=True,
              help=f"Folder: reads (or first writes) {VISIBILITY_FILE} and {VIEWS_FILE}, writes {QA_FILE} and "
                   f"{SAMPLES_FILE}.")
@click.option("--split", type=click.Choice(SPLITS), default=None,
              help="Only the task groups of this split (train/bench: six families; transfer: numeric + VSTI); "
                   "default: all.")
def qa(scene_dir: Path, out: Path, split: str | None) -> None:
    """Balanced QA over the view samples of SCENE_DIR; prints a JSON summary (QA per question type)."""
    from mosaic_pipeline.qa.export import samples_json, write_json
    from mosaic_pipeline.qa.generate import generate_scene_qa
    from mosaic_pipeline.qa.records import as_frame, to_table, write_parquet
    from mosaic_pipeline.scene.scannetpp import load_scene

    params = load_params()
    vis_path, views_path = out / VISIBILITY_FILE, out / VIEWS_FILE
    try:
        scene = load_scene(scene_dir)
        visibility = _visibility(scene, vis_path, params)
        views = _views(scene, visibility, views_path, params)
        table = to_table(generate_scene_qa(scene, visibility, views, params, split, vis_path, views_path))
    except SceneError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    write_parquet(table, out / QA_FILE)
    write_json(samples_json(as_frame(table), views, params.visibility.occ_level_edges), out / SAMPLES_FILE)
    per_type = Counter(table.column("question_type").to_pylist())
    click.echo(json.dumps({"out": str(out / QA_FILE), "samples": str(out / SAMPLES_FILE), "qa": table.num_rows,
                           "per_question_type": dict(sorted(per_type.items()))}, indent=2))
