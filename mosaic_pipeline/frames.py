"""Frames at the working resolution and the per-scene camera table.

Layout (the official test records expect it): ``{root}/{source}/{scene_id}/images/{frame_id}.jpg``
plus ``{root}/{source}/{scene_id}/cameras.parquet`` with one row per frame: intrinsics at the
working resolution, the original size and the world-to-camera pose.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from .atomic import atomic_dir
from .errors import SceneError
from .scene.types import Frame, Scene

JPEG_QUALITY = 95  # working-resolution copies; fixed so that outputs are byte-identical


def camera_table(scene: Scene, long_side: int) -> pd.DataFrame:
    rows = []
    for f in scene.frames:
        cam = f.camera.scaled_to_long_side(long_side)
        rows.append({
            "scene_id": scene.scene_id, "frame_id": f.frame_id,
            "width": cam.width, "height": cam.height, "fx": cam.fx, "fy": cam.fy, "cx": cam.cx, "cy": cam.cy,
            "image_width": f.camera.width, "image_height": f.camera.height,
            "world_to_cam": f.world_to_cam.astype(np.float64).ravel().tolist(),
        })
    return pd.DataFrame(rows)


def _write_image(frame: Frame, scene: Scene, size: tuple[int, int], dest: Path) -> None:
    if frame.image_path is None or not Path(frame.image_path).exists():
        raise SceneError(scene.scene_id, frame.image_path, f"image of {frame.frame_id} is missing", field="rgb")
    with Image.open(frame.image_path) as im:
        if im.size != (frame.camera.width, frame.camera.height):
            raise SceneError(scene.scene_id, frame.image_path,
                             f"image is {im.size[0]}x{im.size[1]}, colmap camera says "
                             f"{frame.camera.width}x{frame.camera.height}", field="width/height")
        if im.size == size and im.format == "JPEG":
            shutil.copyfile(frame.image_path, dest)
            return
        im.convert("RGB").resize(size, Image.Resampling.BILINEAR).save(dest, quality=JPEG_QUALITY)


def write_frames(scene: Scene, out: Path, long_side: int, progress=None) -> pd.DataFrame:
    """Write every frame at the working resolution and the camera table into ``out``; atomic per scene.

    ``progress(i, n)`` is called after each frame (logs in Dagster, a bar on the CLI).
    """
    table = camera_table(scene, long_side)
    with atomic_dir(out) as tmp:
        (tmp / "images").mkdir()
        for i, (f, row) in enumerate(zip(scene.frames, table.itertuples())):
            _write_image(f, scene, (row.width, row.height), tmp / "images" / f"{f.frame_id}.jpg")
            if progress:
                progress(i + 1, len(scene.frames))
        table.to_parquet(tmp / "cameras.parquet", index=False)
    return table
