"""DSLR cameras of a ScanNet++ scene: read, not used by the pipeline (which works on iPhone frames).

``dslr/colmap`` holds OPENCV_FISHEYE cameras; the ScanNet++ toolkit's undistortion writes a
PINHOLE camera to ``dslr/nerfstudio/transforms_undistorted.json``. Undistortion keeps the poses, so the
colmap poses (world-to-camera, OpenCV) serve the undistorted images too; the nerfstudio frames'
transform matrices (OpenGL, axes swapped) are not read.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import SceneError
from ..params import ScanNetppParams, default_params
from .annotations import read_json
from .cameras import FISHEYE_MESSAGE, checked_pose, pinhole_camera, read_colmap_model
from .colmap import ColmapCamera
from .layout import DSLR_CAMERAS, DSLR_IMAGES, DSLR_UNDISTORTED
from .types import Camera

NERFSTUDIO_INTRINSICS = ("w", "h", "fl_x", "fl_y", "cx", "cy")


@dataclass(frozen=True)
class DslrCameras:
    scene_dir: Path
    cameras: dict[int, ColmapCamera]  # as in dslr/colmap/cameras.txt (usually OPENCV_FISHEYE)
    poses: dict[str, np.ndarray]  # image name -> 4x4 world-to-camera (OpenCV)
    image_camera: dict[str, int]  # image name -> camera id
    undistorted: Camera | None  # PINHOLE of transforms_undistorted.json, when present


def read_dslr_cameras(scene_dir: Path, params: ScanNetppParams | None = None) -> DslrCameras:
    """The DSLR colmap cameras and validated poses, plus the undistorted pinhole camera when present."""
    scene_dir = Path(scene_dir)
    scene_id = scene_dir.name
    tolerance = (params or default_params().scannetpp).pose_tolerance
    for rel in (DSLR_CAMERAS, DSLR_IMAGES):
        if not (scene_dir / rel).is_file():
            raise SceneError(scene_id, scene_dir / rel, "missing DSLR colmap file")
    model = read_colmap_model(scene_dir / DSLR_CAMERAS, scene_dir / DSLR_IMAGES, scene_id)
    poses = {im.name: checked_pose(im, scene_id, scene_dir / DSLR_IMAGES, tolerance) for im in model.images}
    undistorted_path = scene_dir / DSLR_UNDISTORTED
    undistorted = _read_undistorted(undistorted_path, scene_id) if undistorted_path.is_file() else None
    return DslrCameras(scene_dir, model.cameras, poses, {im.name: im.camera_id for im in model.images}, undistorted)


def dslr_pinhole(dslr: DslrCameras, camera_id: int) -> Camera:
    """A pinhole camera for DSLR camera ``camera_id``: its own if pinhole, else the undistorted one."""
    cam, path = dslr.cameras[camera_id], dslr.scene_dir / DSLR_CAMERAS
    if cam.model == "OPENCV_FISHEYE":
        if dslr.undistorted is None:
            raise SceneError(dslr.scene_dir.name, path, FISHEYE_MESSAGE, field=f"camera {camera_id} MODEL")
        return dslr.undistorted
    return pinhole_camera(cam, dslr.scene_dir.name, path)


def _read_undistorted(path: Path, scene_id: str) -> Camera:
    data = read_json(path, scene_id)
    if not isinstance(data, dict):
        raise SceneError(scene_id, path, "not a JSON object")
    model = data.get("camera_model", "PINHOLE")
    if model != "PINHOLE":
        raise SceneError(scene_id, path, f"expected a PINHOLE camera, got {model!r}", field="camera_model")
    missing = [k for k in NERFSTUDIO_INTRINSICS if not isinstance(data.get(k), (int, float))]
    if missing:
        raise SceneError(scene_id, path, "missing or not a number", field=", ".join(missing))
    w, h, fx, fy, cx, cy = (data[k] for k in NERFSTUDIO_INTRINSICS)
    return Camera(int(w), int(h), float(fx), float(fy), float(cx), float(cy), model="PINHOLE")
