"""``mosaic scenes``: generate synthetic scenes and check any scene in the ScanNet++ layout."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from mosaic_pipeline.errors import SceneError
from mosaic_pipeline.params import load_params


@click.group()
def scenes() -> None:
    """Scene sources: synthetic generation and validation."""


@scenes.command("synth")
@click.option("--out", "out", type=click.Path(path_type=Path), required=True, help="Release root to write (data/<id>/..., splits/).")
@click.option("--count", type=int, default=1, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--prefix", default="synth", show_default=True, help="Scene id prefix: ids are PREFIX_0000, ...")
def synth(out: Path, count: int, seed: int, prefix: str) -> None:
    """Write COUNT procedural rooms in the ScanNet++ layout under OUT (deterministic by SEED)."""
    from mosaic_pipeline.catalog import synthetic_scene_id
    from mosaic_pipeline.synth import generate_scene, write_release_metadata

    params = load_params().synthetic
    ids = [synthetic_scene_id(prefix, i) for i in range(count)]
    for i, sid in enumerate(ids):
        path = generate_scene(out, sid, seed=seed, index=i, params=params)
        click.echo(str(path))
    write_release_metadata(out, {"train": ids})


@scenes.command("check")
@click.argument("scene_dir", type=click.Path(path_type=Path, exists=True, file_okay=False))
def check(scene_dir: Path) -> None:
    """Validate SCENE_DIR and print a JSON summary; exit 1 with a clear message on a bad scene."""
    from mosaic_pipeline.scene.scannetpp import load_scene, scene_summary

    try:
        summary = scene_summary(load_scene(scene_dir))
    except SceneError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    click.echo(json.dumps(summary, indent=2, sort_keys=True))
