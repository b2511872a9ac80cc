"""COLMAP models of a scene (iPhone or DSLR) as validated project cameras and poses.

Intrinsics: PINHOLE and SIMPLE_PINHOLE map to Camera as they are; OPENCV keeps (k1, k2, p1, p2) in
``Camera.distortion`` WITHOUT applying it (the iPhone distortion is small; every later stage projects
with the pinhole part). OPENCV_FISHEYE cannot be used as a pinhole: undistort first (the ScanNet++
toolkit writes ``transforms_undistorted.json``). Other models are refused.

Poses: images.txt stores world-to-camera as a quaternion (w, x, y, z) and a translation. A pose is
refused when a number is not finite or the quaternion is not of unit norm (within
``scannetpp.pose_tolerance``): COLMAP always writes unit quaternions, and silently normalizing
another one would hide a non-rigid or corrupted pose.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import SceneError
from .colmap import ColmapCamera, ColmapFormatError, ColmapImage, read_cameras, read_images
from .types import Camera

FISHEYE_MESSAGE = "fisheye not supported, undistort first (transforms_undistorted.json)"


@dataclass(frozen=True)
class ColmapModel:
    cameras: dict[int, ColmapCamera]
    images: list[ColmapImage]


def read_colmap_model(cameras_path: Path, images_path: Path, scene_id: str) -> ColmapModel:
    """cameras.txt + images.txt; a format error becomes a SceneError naming the file and line."""
    try:
        cameras = read_cameras(cameras_path)
        images = read_images(images_path)
    except ColmapFormatError as exc:
        raise SceneError(scene_id, exc.path, exc.message, field=f"line {exc.line_no}") from exc
    for im in images:
        if im.camera_id not in cameras:
            raise SceneError(scene_id, images_path, f"image {im.name} uses camera {im.camera_id}, "
                             f"not in {cameras_path.name}", field=f"image {im.image_id} CAMERA_ID")
    return ColmapModel(cameras, images)


def pinhole_camera(cam: ColmapCamera, scene_id: str, path: Path) -> Camera:
    """The project Camera of a COLMAP camera; fisheye and other models raise SceneError."""
    p = cam.params
    if cam.model == "PINHOLE":
        return Camera(cam.width, cam.height, *p, model="PINHOLE")
    if cam.model == "SIMPLE_PINHOLE":
        return Camera(cam.width, cam.height, p[0], p[0], p[1], p[2], model="PINHOLE")
    if cam.model == "OPENCV":
        return Camera(cam.width, cam.height, *p[:4], model="OPENCV", distortion=tuple(p[4:]))
    message = FISHEYE_MESSAGE if cam.model == "OPENCV_FISHEYE" else \
        f"camera model {cam.model} not supported (PINHOLE, SIMPLE_PINHOLE or OPENCV)"
    raise SceneError(scene_id, path, message, field=f"camera {cam.camera_id} MODEL")


def checked_pose(image: ColmapImage, scene_id: str, path: Path, tolerance: float) -> np.ndarray:
    """The image's 4x4 world-to-camera, after checking it is finite and rigid (unit quaternion)."""
    where = f"image {image.image_id} ({image.name})"
    if not (np.isfinite(image.qvec).all() and np.isfinite(image.tvec).all()):
        raise SceneError(scene_id, path, "non-finite pose (NaN or inf in QW QX QY QZ TX TY TZ)", field=where)
    norm = float(np.linalg.norm(image.qvec))
    if abs(norm - 1.0) > tolerance:
        raise SceneError(scene_id, path, f"non-rigid pose: quaternion norm {norm:.6g} is not 1", field=where)
    return image.world_to_cam
