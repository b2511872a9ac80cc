"""Scene assets: the catalog, validated scenes (synthetic ones generated on demand) and frames.

(No `from __future__ import annotations` in asset modules: Dagster inspects the context annotation.)
"""

import json
import time
from collections import Counter

import dagster as dg
from PIL import Image

from mosaic_pipeline import paths
from mosaic_pipeline.atomic import atomic_file
from mosaic_pipeline.catalog import load_catalog
from mosaic_pipeline.frames import write_frames
from mosaic_pipeline.scene.scannetpp import load_scene, scene_summary

from ..metadata import counts_table, image_md
from ..partitions import scene_partitions
from ..progress import progress_logger
from ..resources import MosaicParams

GROUP = "scenes"


@dg.asset(group_name=GROUP, description="The scene list: ids, sources and scene-disjoint splits.")
def scene_catalog(context: dg.AssetExecutionContext, mosaic: MosaicParams) -> dg.MaterializeResult:
    from mosaic_pipeline.synth import write_release_metadata

    params = mosaic.load()
    entries = load_catalog(params)
    synthetic = [e for e in entries if e.source == "synthetic"]
    if synthetic:
        by_split: dict[str, list[str]] = {}
        for e in synthetic:
            by_split.setdefault(e.split, []).append(e.scene_id)
        write_release_metadata(synthetic[0].release_root, by_split)
    out = paths.catalog(params)
    with atomic_file(out) as tmp:
        tmp.write_text(json.dumps([{"scene_id": e.scene_id, "source": e.source, "split": e.split,
                                    "scene_dir": str(e.scene_dir)} for e in entries], indent=1) + "\n")
    return dg.MaterializeResult(metadata={
        "n_scenes": len(entries),
        "scenes_per_split": counts_table(Counter(e.split for e in entries), key="split"),
        "scenes_per_source": counts_table(Counter(e.source for e in entries), key="source"),
        "path": dg.MetadataValue.path(str(out)),
    })


def _preview(scene) -> Image.Image:
    """A 2x2 contact sheet of four frames spread along the camera path."""
    n = len(scene.frames)
    picks = [scene.frames[i * (n - 1) // 3] for i in range(4)] if n >= 4 else scene.frames
    tiles = [Image.open(f.image_path).convert("RGB") for f in picks if f.image_path and f.image_path.exists()]
    if not tiles:
        return Image.new("RGB", (320, 240))
    w, h = tiles[0].size
    sheet = Image.new("RGB", (2 * w, 2 * h))
    for i, t in enumerate(tiles):
        sheet.paste(t.resize((w, h)), ((i % 2) * w, (i // 2) * h))
    return sheet


@dg.asset(group_name=GROUP, partitions_def=scene_partitions, deps=[scene_catalog],
          description="A validated scene in the ScanNet++ layout (synthetic scenes are generated from their seed).")
def scenes(context: dg.AssetExecutionContext, mosaic: MosaicParams) -> dg.MaterializeResult:
    params = mosaic.load()
    entry = mosaic.scene(context.partition_key)
    t0 = time.perf_counter()
    if entry.source == "synthetic":
        from mosaic_pipeline.synth import generate_scene

        context.log.info(f"{entry.scene_id}: generating synthetic scene (seed {entry.synth_seed}, index {entry.synth_index})")
        generate_scene(entry.release_root, entry.scene_id, seed=entry.synth_seed, index=entry.synth_index,
                       params=params.synthetic)
    scene = load_scene(entry.scene_dir, params=params.scannetpp)
    summary = scene_summary(scene)
    context.log.info(f"{entry.scene_id}: {summary['n_instances']} instances, {summary['n_frames']} frames, "
                     f"{summary['n_faces']} faces")
    return dg.MaterializeResult(metadata={
        "scene_dir": dg.MetadataValue.path(str(entry.scene_dir)),
        "source": entry.source,
        "split": entry.split,
        "n_vertices": summary["n_vertices"],
        "n_faces": summary["n_faces"],
        "n_instances": summary["n_instances"],
        "n_frames": summary["n_frames"],
        "image_size": f"{summary['image_size'][0]}x{summary['image_size'][1]}",
        "labels": counts_table(summary["labels"]),
        "preview": image_md(_preview(scene), f"{entry.scene_id} frames"),
        "seconds": round(time.perf_counter() - t0, 2),
    })


@dg.asset(group_name=GROUP, partitions_def=scene_partitions, deps=[scenes],
          description="Frames at the working resolution (long side from params.yaml) and the camera table.")
def frames(context: dg.AssetExecutionContext, mosaic: MosaicParams) -> dg.MaterializeResult:
    params = mosaic.load()
    entry = mosaic.scene(context.partition_key)
    scene = load_scene(entry.scene_dir, params=params.scannetpp)
    out = paths.frames_dir(params, scene.source, scene.scene_id)
    t0 = time.perf_counter()
    table = write_frames(scene, out, params.frames.long_side, progress_logger(context, entry.scene_id, "frames"))
    elapsed = time.perf_counter() - t0
    return dg.MaterializeResult(metadata={
        "frames_dir": dg.MetadataValue.path(str(out)),
        "n_frames": len(table),
        "working_size": f"{table.width.iloc[0]}x{table.height.iloc[0]}" if len(table) else "-",
        "original_size": f"{table.image_width.iloc[0]}x{table.image_height.iloc[0]}" if len(table) else "-",
        "seconds_per_frame": round(elapsed / max(1, len(table)), 4),
    })
