"""Camera geometry in the project's conventions: OpenCV camera (x right, y down, z forward),
world-to-camera 4x4 poses, pinhole K in pixels, pixel centres at integer + 0.5."""
from __future__ import annotations

import numpy as np

from .types import Camera


def transform_points(T: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Apply a 4x4 rigid transform to (N, 3) points.

    (einsum, not ``@``: a (N, 3) x (3, 3) product through threaded OpenBLAS costs 5-10x more on a busy
    2-core machine, where its threads compete with Open3D's.)
    """
    return np.einsum("ij,kj->ik", points, T[:3, :3]) + T[:3, 3]


def project(camera: Camera, world_to_cam: np.ndarray, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Project world points: returns (uv (N, 2) in pixels, z (N,) camera depth). uv is NaN where z <= 0."""
    pc = transform_points(world_to_cam, points)
    z = pc[:, 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        u = camera.fx * pc[:, 0] / z + camera.cx
        v = camera.fy * pc[:, 1] / z + camera.cy
    uv = np.stack([u, v], axis=1)
    uv[z <= 0] = np.nan
    return uv, z


def pixel_grid(width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre coordinates (u, v), each (H, W), float64."""
    u, v = np.meshgrid(np.arange(width) + 0.5, np.arange(height) + 0.5)
    return u, v


def camera_rays(camera: Camera, world_to_cam: np.ndarray, u: np.ndarray | None = None,
                v: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """World-space rays through pixel centres (default: every pixel, row-major (H, W)).

    Directions are scaled so that a ray parameter t equals the camera-frame depth z (not the
    Euclidean distance): a hit at t has depth t. Returns (origins (..., 3), directions (..., 3)).
    """
    if u is None or v is None:
        u, v = pixel_grid(camera.width, camera.height)
    d_cam = np.stack([(u - camera.cx) / camera.fx, (v - camera.cy) / camera.fy, np.ones_like(u)], axis=-1)
    cam_to_world = np.linalg.inv(world_to_cam)
    d_world = d_cam @ cam_to_world[:3, :3].T
    origins = np.broadcast_to(cam_to_world[:3, 3], d_world.shape).copy()
    return origins, d_world


def look_at(eye: np.ndarray, target: np.ndarray, up: np.ndarray = np.array([0.0, 0.0, 1.0])) -> np.ndarray:
    """World-to-camera (OpenCV) for a camera at ``eye`` looking at ``target`` with world ``up`` (z up)."""
    z = target - eye
    z = z / np.linalg.norm(z)
    x = np.cross(z, up)
    if np.linalg.norm(x) < 1e-9:
        raise ValueError("look_at: viewing direction parallel to up")
    x = x / np.linalg.norm(x)
    y = np.cross(z, x)
    R = np.stack([x, y, z])  # rows: camera axes in world coordinates
    T = np.eye(4)
    T[:3, :3] = R
    T[:3, 3] = -R @ eye
    return T


def is_rigid(T: np.ndarray, tol: float = 1e-4) -> bool:
    """True when T is a finite 4x4 with an orthonormal, right-handed rotation and last row [0, 0, 0, 1]."""
    if T.shape != (4, 4) or not np.all(np.isfinite(T)):
        return False
    R = T[:3, :3]
    return (np.allclose(R @ R.T, np.eye(3), atol=tol) and abs(np.linalg.det(R) - 1) < tol
            and np.allclose(T[3], [0, 0, 0, 1], atol=tol))
