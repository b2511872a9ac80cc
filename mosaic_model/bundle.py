"""A compact, self-contained copy of the data one experiment needs, small enough to travel to a GPU machine.

    <bundle>/qa.parquet                                  the QA dataset (every split)
    <bundle>/frames/<source>/<scene>/images/<frame>.jpg  every registered frame, squashed to size x size
    <bundle>/geometry/<scene>.npz                        depth (float16 metres, depth_size^2, 0 = none),
                                                         world_to_cam [N, 4, 4], K [N, 3, 3] of the
                                                         size x size image, frame_ids (registered order)
    <bundle>/manifest.json                               scene -> source and split, sizes, the QA hash

The frames are the ``frames`` asset's images (what the QA refers to), resized once as the model's
frame cache would resize them; the depth maps and poses are the scene's iPhone depth and colmap poses.
"""
from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import click
import numpy as np
import pandas as pd
from PIL import Image

from mosaic_assets.atomic import atomic_dir
from mosaic_assets.params import Params, ScanNetppParams, load_params
from mosaic_assets.qa.export import image_path
from mosaic_assets.scene.types import Frame

from .tracking import file_sha256

QA = "qa.parquet"
FRAMES = "frames"
GEOMETRY = "geometry"
MANIFEST = "manifest.json"


@dataclass(frozen=True)
class BundleSpec:
    size: int  # frame side in pixels (the model's input size)
    depth_size: int  # depth map side in pixels
    jpeg_quality: int


def scene_splits(qa_path: Path) -> dict[str, tuple[str, str]]:
    """scene_id -> (data_source, split), from the QA dataset (splits are scene-disjoint)."""
    df = pd.read_parquet(qa_path, columns=["scene_id", "data_source", "split"]).drop_duplicates()
    if df["scene_id"].duplicated().any():
        raise ValueError(f"{qa_path}: a scene appears in several splits or sources")
    return {str(r.scene_id): (str(r.data_source), str(r.split)) for r in df.itertuples(index=False)}


def _depth_map(frame: Frame, side: int) -> np.ndarray:
    """Metric depth squashed to side x side by nearest neighbour (no blending across edges or holes)."""
    from mosaic_assets.scene.iphone import read_depth  # PyAV: only where bundles are written

    depth = Image.fromarray(read_depth(frame).astype(np.float32), mode="F")
    return np.asarray(depth.resize((side, side), Image.Resampling.NEAREST)).astype(np.float16)


def _square_intrinsics(frame: Frame, side: int) -> np.ndarray:
    return frame.camera.scaled(side, side).K.astype(np.float32)


def _write_scene(out: Path, scene_dir: Path, source: str, frames_root: Path, spec: BundleSpec,
                 scannetpp: ScanNetppParams) -> None:
    from mosaic_assets.scene.iphone import read_iphone_frames

    frames = [f for f in read_iphone_frames(scene_dir, scannetpp) if f.depth_path is not None]
    scene = scene_dir.name
    for f in frames:
        target = image_path(out / FRAMES, source, scene, f.frame_id)
        target.parent.mkdir(parents=True, exist_ok=True)
        with Image.open(image_path(frames_root, source, scene, f.frame_id)) as im:
            im.convert("RGB").resize((spec.size, spec.size), Image.Resampling.BICUBIC).save(
                target, quality=spec.jpeg_quality)
    np.savez_compressed(
        out / GEOMETRY / f"{scene}.npz", frame_ids=np.array([f.frame_id for f in frames]),
        depth=np.stack([_depth_map(f, spec.depth_size) for f in frames]),
        world_to_cam=np.stack([f.world_to_cam for f in frames]).astype(np.float32),
        K=np.stack([_square_intrinsics(f, spec.size) for f in frames]),
    )


def build_bundle(qa_path: Path, frames_root: Path, release_roots: dict[str, Path], out: Path, spec: BundleSpec,
                 scannetpp: ScanNetppParams) -> Path:
    """Write the bundle of every scene the QA dataset names (atomically, as one folder); ``release_roots``
    maps each data source to its release (``<release>/data/<scene>``)."""
    splits = scene_splits(qa_path)
    with atomic_dir(out) as tmp:
        (tmp / GEOMETRY).mkdir()
        shutil.copyfile(qa_path, tmp / QA)
        for scene, (source, _) in sorted(splits.items()):
            _write_scene(tmp, release_roots[source] / "data" / scene, source, frames_root, spec, scannetpp)
        manifest = {"scenes": {s: {"source": src, "split": split} for s, (src, split) in splits.items()},
                    "size": spec.size,
                    "depth_size": spec.depth_size, "qa_sha256": file_sha256(qa_path)}
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True))
    return out


def release_roots(params: Params) -> dict[str, Path]:
    """Data source -> release root, as params.yaml ``paths`` names them."""
    roots = {"synthetic": params.resolve(params.paths.synthetic_release)}
    if params.paths.scannetpp_release:
        roots["scannetpp"] = params.resolve(params.paths.scannetpp_release)
    return roots


def read_manifest(bundle: Path) -> dict:
    return json.loads((bundle / MANIFEST).read_text())


@click.command()
@click.option("--qa", "qa_path", type=click.Path(path_type=Path, exists=True), required=True)
@click.option("--frames", "frames_root", type=click.Path(path_type=Path, exists=True), required=True,
              help="The frames asset's root ({source}/{scene}/images/{frame}.jpg).")
@click.option("--synthetic-release", type=click.Path(path_type=Path, exists=True), required=True)
@click.option("--config", default="small", show_default=True, help="Model size: frames at its geometry input size.")
@click.option("--out", type=click.Path(path_type=Path), required=True)
def main(qa_path: Path, frames_root: Path, synthetic_release: Path, config: str, out: Path) -> None:
    """Write the experiment bundle (params.yaml geometry_pretrain: depth size, JPEG quality)."""
    from .config import load_run_config
    from .geometry_pretrain import geometry_params

    params = load_params()
    cfg, side = geometry_params(params), load_run_config(config).model.geometry.vggt.img_size
    spec = BundleSpec(side, min(cfg.depth_size, side), cfg.jpeg_quality)
    click.echo(build_bundle(qa_path, frames_root, {"synthetic": synthetic_release}, out, spec, params.scannetpp))


if __name__ == "__main__":
    main()
