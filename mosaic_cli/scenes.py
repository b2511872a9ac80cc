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
@click.argument("path", type=click.Path(path_type=Path, exists=True, file_okay=False))
@click.option("--scene", "scene_ids", multiple=True, help="Release: only these scenes (repeatable).")
@click.option("--top", type=int, default=20, show_default=True,
              help="Release: how many of the most frequent labels without a class to list.")
@click.option("--json", "json_out", type=click.Path(path_type=Path, dir_okay=False),
              help="Release: also write every scene's result and the summary to this JSON file.")
def check(path: Path, scene_ids: tuple[str, ...], top: int, json_out: Path | None) -> None:
    """Validate a scene folder (PATH/scans, ...: prints its JSON summary) or a whole release (PATH/data/<scene>,
    splits/, metadata/: one line per scene and a summary). Nothing is written: a video-only scene's
    rgb.mkv is probed, not extracted; nothing is rendered.

    Exit 1 when a scene fails; 2 when the release itself is unusable (label files, unknown --scene)."""
    if (path / "data").is_dir():
        _check_release(path, scene_ids, top, json_out)
        return
    from mosaic_pipeline.scene.scannetpp import load_scene, scene_summary

    try:
        summary = scene_summary(load_scene(path, params=load_params().scannetpp, extract_frames=False))
    except SceneError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    click.echo(json.dumps(summary, indent=2, sort_keys=True))


def _check_release(root: Path, scene_ids: tuple[str, ...], top: int, json_out: Path | None) -> None:
    from mosaic_pipeline.atomic import atomic_file
    from mosaic_pipeline.scene.labels import release_label_mapping
    from mosaic_pipeline.scene.release import (
        check_line,
        check_release,
        release_scene_ids,
        release_summary,
        summary_lines,
    )

    params = load_params().scannetpp
    mapping = release_label_mapping(root, params.label_mapping)  # a bad map file: InputError, one line, exit 2
    unknown = sorted(set(scene_ids) - set(release_scene_ids(root)))
    if unknown:
        raise click.BadParameter(f"unknown scene id(s) {', '.join(unknown)}: not in the split files (or data/) of "
                                 f"{root}", param_hint="--scene")
    checks = []
    for result in check_release(root, params, scene_ids or None):
        click.echo(check_line(result))
        checks.append(result)
    summary = release_summary(checks, top)
    click.echo("\n".join(summary_lines(root, summary, mapping)))
    if json_out is not None:
        with atomic_file(json_out) as tmp:
            tmp.write_text(json.dumps({"release": str(root), "summary": summary,
                                       "scenes": [c.__dict__ for c in checks]}, indent=1) + "\n")
    sys.exit(1 if summary["failed"] else 0)
