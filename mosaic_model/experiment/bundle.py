"""A compact, self-contained copy of the data one experiment needs, small enough to travel to a GPU machine.

    python -m mosaic_model.experiment.bundle build --qa QA --frames ROOT --synthetic-release R --out BUNDLE
    python -m mosaic_model.experiment.bundle qa-frames BUNDLE OUT     # what VLM runs read: QA, manifest, QA frames

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

from mosaic_pipeline.atomic import atomic_dir
from mosaic_pipeline.params import Params, ScanNetppParams, load_params
from mosaic_pipeline.provenance import file_sha256
from mosaic_pipeline.qa.export import image_path
from mosaic_pipeline.scene.types import Frame

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
    from mosaic_pipeline.scene.iphone import read_depth  # PyAV: only where bundles are written

    depth = Image.fromarray(read_depth(frame).astype(np.float32), mode="F")
    return np.asarray(depth.resize((side, side), Image.Resampling.NEAREST)).astype(np.float16)


def _square_intrinsics(frame: Frame, side: int) -> np.ndarray:
    return frame.camera.scaled(side, side).K.astype(np.float32)


def _write_scene(out: Path, scene_dir: Path, source: str, frames_root: Path, spec: BundleSpec,
                 scannetpp: ScanNetppParams) -> None:
    from mosaic_pipeline.scene.iphone import read_iphone_frames

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


def qa_frames_bundle(bundle: Path, out: Path) -> Path:
    """A copy of ``bundle`` holding only what VLM training and evaluation read: the QA dataset, the manifest
    and the frames some QA refers to (no depth maps, no other registered frame), written atomically.

    Geometry pretraining reads every registered frame and the depth maps; the VLM runs do not, and on the
    GPU machine the smaller copy leaves room in the transfer for the pretrained encoder.
    """
    df = pd.read_parquet(bundle / QA, columns=["data_source", "scene_id", "source_frame_ids"])
    frames = sorted({image_path(Path(FRAMES), str(r.data_source), str(r.scene_id), str(f))
                     for r in df.itertuples(index=False) for f in r.source_frame_ids})
    with atomic_dir(out) as tmp:
        for rel in frames:
            if not (bundle / rel).is_file():
                raise FileNotFoundError(f"bundle {bundle}: the QA refers to {rel}, which it does not hold")
            (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(bundle / rel, tmp / rel)
        for name in (QA, MANIFEST):
            shutil.copyfile(bundle / name, tmp / name)
    return out


@click.group()
def cli() -> None:
    """Experiment bundles (see the module docstring)."""


@cli.command("build")
@click.option("--qa", "qa_path", type=click.Path(path_type=Path, exists=True), required=True)
@click.option("--frames", "frames_root", type=click.Path(path_type=Path, exists=True), required=True,
              help="The frames asset's root ({source}/{scene}/images/{frame}.jpg).")
@click.option("--synthetic-release", type=click.Path(path_type=Path, exists=True), required=True)
@click.option("--config", default="small", show_default=True, help="Model size: frames at its geometry input size.")
@click.option("--out", type=click.Path(path_type=Path), required=True)
def build(qa_path: Path, frames_root: Path, synthetic_release: Path, config: str, out: Path) -> None:
    """Write the experiment bundle (params.yaml geometry_pretrain: depth size, JPEG quality)."""
    from ..config import load_run_config

    params = load_params()
    cfg, side = params.geometry_pretrain, load_run_config(config).model.geometry.vggt.img_size
    spec = BundleSpec(side, min(cfg.depth_size, side), cfg.jpeg_quality)
    click.echo(build_bundle(qa_path, frames_root, {"synthetic": synthetic_release}, out, spec, params.scannetpp))


@cli.command("qa-frames")
@click.argument("bundle", type=click.Path(path_type=Path, exists=True, file_okay=False))
@click.argument("out", type=click.Path(path_type=Path))
def qa_frames(bundle: Path, out: Path) -> None:
    """Write the part of BUNDLE that VLM runs read to OUT (``qa_frames_bundle``)."""
    click.echo(qa_frames_bundle(bundle, out))


if __name__ == "__main__":
    cli()
