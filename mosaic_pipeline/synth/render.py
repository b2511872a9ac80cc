"""Render RGB and depth of the room mesh by ray casting (Open3D RaycastingScene, all pixel rays at once).

Colour: the hit face's colour (mean of its vertex colours), flat-shaded per face: ambient light plus the
Lambert term of a point light under the ceiling, for the side of the face the camera sees. Depth: the camera z of the
first hit (``camera_rays`` scales directions so the ray parameter is that depth), inf where nothing is hit.
"""
from __future__ import annotations

import numpy as np
import open3d as o3d

from ..scene.geometry import camera_rays
from ..scene.types import Camera


class Renderer:
    def __init__(self, vertices: np.ndarray, faces: np.ndarray, colors: np.ndarray, light: np.ndarray,
                 ambient: float, diffuse: float):
        self.scene = o3d.t.geometry.RaycastingScene()
        self.scene.add_triangles(o3d.core.Tensor(vertices.astype(np.float32)), o3d.core.Tensor(faces.astype(np.uint32)))
        corners = vertices[faces]  # (F, 3, 3)
        self.centroids = corners.mean(axis=1)
        normals = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
        self.normals = normals / np.maximum(np.linalg.norm(normals, axis=1, keepdims=True), 1e-12)
        to_light = light - self.centroids
        cos = np.sum(self.normals * to_light, axis=1) / np.maximum(np.linalg.norm(to_light, axis=1), 1e-12)
        color = colors[faces].astype(np.float64).mean(axis=1) / 255.0
        # flat shading per face and per side: the side facing the light is lit, the other gets ambient only
        self.front = self._shade(color, ambient + diffuse * np.clip(cos, 0.0, 1.0))
        self.back = self._shade(color, ambient + diffuse * np.clip(-cos, 0.0, 1.0))

    @staticmethod
    def _shade(color: np.ndarray, shade: np.ndarray) -> np.ndarray:
        return np.round(np.clip(color * shade[:, None], 0.0, 1.0) * 255).astype(np.uint8)

    def _cast(self, camera: Camera, world_to_cam: np.ndarray) -> dict[str, np.ndarray]:
        origins, directions = camera_rays(camera, world_to_cam)
        rays = np.concatenate([origins, directions], axis=-1, dtype=np.float32)
        return {k: v.numpy() for k, v in self.scene.cast_rays(o3d.core.Tensor(rays)).items()}

    def depth(self, camera: Camera, world_to_cam: np.ndarray) -> np.ndarray:
        """(H, W) float32 camera depth in metres, inf where the ray hits nothing."""
        return self._cast(camera, world_to_cam)["t_hit"]

    def rgb(self, camera: Camera, world_to_cam: np.ndarray) -> np.ndarray:
        """(H, W, 3) uint8 shaded colour image (black where the ray hits nothing)."""
        hits = self._cast(camera, world_to_cam)
        centre = -world_to_cam[:3, :3].T @ world_to_cam[:3, 3]
        sees_front = np.sum(self.normals * (centre - self.centroids), axis=1) >= 0
        table = np.concatenate([np.where(sees_front[:, None], self.front, self.back), np.zeros((1, 3), np.uint8)])
        ids = hits["primitive_ids"].astype(np.int64)
        ids[~np.isfinite(hits["t_hit"])] = len(table) - 1  # no hit: black
        return table[ids]
