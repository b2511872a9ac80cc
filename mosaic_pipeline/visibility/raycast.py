"""Open3D ray casting over a scene mesh, in the project's camera conventions.

Rays start at the camera centre with the directions of :func:`geometry.camera_rays` (camera-frame z
component 1), so a hit at ray parameter t has camera depth t. Geometry closer than the near plane is
never hit (the near clip of a renderer, applied to every count of the visibility table): coverage
tests pass ``tnear = near``; first hits closer than ``near`` are cast again from the near plane.

Two kinds of casts: first hits against the whole mesh (depth test), and coverage tests against ONE
instance alone (a separate Open3D scene per instance, built from that instance's faces only).
"""
from __future__ import annotations

import numpy as np
import open3d as o3d

from ..scene.types import Camera, Scene
from .mesh import FirstHits, InstanceMeshes, check_frame, check_mesh

__all__ = ["FirstHits", "InstanceMeshes", "MeshCaster", "check_frame", "check_mesh", "image_rays", "pixel_rays"]


def pixel_rays(camera: Camera, world_to_cam: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Open3D rays (n, 6) float32 from the camera centre through pixel centres (u, v).

    The rays of :func:`geometry.camera_rays`: the origin is the camera centre, the direction one
    linear map of (u, v, 1), each component ``u * M[c, 0] + v * M[c, 1] + M[c, 2]`` computed in
    float32 on contiguous vectors (a column at a time: large batches cost a few passes).
    """
    R, t = world_to_cam[:3, :3], world_to_cam[:3, 3]
    M = (R.T @ np.linalg.inv(camera.K)).astype(np.float32)  # world direction of pixel (u, v) = M @ (u, v, 1)
    u, v = np.ravel(u).astype(np.float32), np.ravel(v).astype(np.float32)
    rays = np.empty((len(u), 6), dtype=np.float32)
    rays[:, :3] = (-R.T @ t).astype(np.float32)
    along_v = np.empty_like(u)
    for c in range(3):
        component = np.multiply(u, M[c, 0])
        component += np.multiply(v, M[c, 1], out=along_v)
        component += M[c, 2]
        rays[:, 3 + c] = component
    return rays


def image_rays(camera: Camera, world_to_cam: np.ndarray) -> o3d.core.Tensor:
    """The rays of every pixel (H, W, 6), built by Open3D: the rays of :func:`pixel_rays` at all pixel centres."""
    return o3d.t.geometry.RaycastingScene.create_rays_pinhole(
        o3d.core.Tensor(camera.K), o3d.core.Tensor(np.asarray(world_to_cam, dtype=np.float64)), camera.width, camera.height)


def _open3d_scene(vertices: np.ndarray, faces: np.ndarray) -> o3d.t.geometry.RaycastingScene:
    scene = o3d.t.geometry.RaycastingScene()
    scene.add_triangles(o3d.core.Tensor(np.ascontiguousarray(vertices, dtype=np.float32)),
                        o3d.core.Tensor(np.ascontiguousarray(faces, dtype=np.uint32)))
    return scene


class MeshCaster:
    """The whole scene mesh and each instance alone, ready for casting (scenes are built once).

    ``threads``: Open3D's threads per cast (0: all cores). The hits do not depend on it (each ray is
    cast on its own); it only divides the cores among the frames labelled at once (:mod:`frame_pool`).
    """

    def __init__(self, scene: Scene, threads: int = 0):
        check_mesh(scene)
        self.threads = threads
        self.face_instance = scene.face_instance()
        self.instances = InstanceMeshes.from_scene(scene, self.face_instance)
        self._whole = _open3d_scene(scene.vertices, scene.faces)
        self._alone = {int(iid): _open3d_scene(*self.instances.mesh(j)) for j, iid in enumerate(self.instances.ids)}

    def first_hits(self, camera: Camera, world_to_cam: np.ndarray, near: float) -> FirstHits:
        """Depth-tested render of the whole mesh at ``camera``'s resolution, clipped at the near plane."""
        rays = image_rays(camera, world_to_cam)
        out = self._whole.cast_rays(rays, nthreads=self.threads)
        t = out["t_hit"].numpy()  # Open3D's own buffers (kept alive by the arrays), written in place
        face = out["primitive_ids"].numpy().view(np.int32)  # Open3D's INVALID_ID (2**32 - 1) reads -1
        close = t < near
        if close.any():  # something inside the near plane: cast those rays again, starting on it
            again = rays.numpy()[close]
            again[:, :3] += np.float32(near) * again[:, 3:]
            out = self._whole.cast_rays(o3d.core.Tensor(again), nthreads=self.threads)
            t[close] = out["t_hit"].numpy() + near
            face[close] = out["primitive_ids"].numpy().view(np.int32)
        miss = ~np.isfinite(t)
        t[miss] = np.nan
        face[miss] = -1
        return FirstHits(t, face)

    def covered(self, instance_ids: list[int], counts: np.ndarray, camera: Camera, world_to_cam: np.ndarray,
                near: float, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        """Whether each pixel centre (u, v) is covered by its instance ALONE at depth >= ``near`` (bool, (n,)).

        The rays come instance after instance: ``counts[i]`` rays for ``instance_ids[i]``.
        """
        out = np.zeros(len(u), dtype=bool)
        if len(u) == 0:
            return out
        rays = pixel_rays(camera, world_to_cam, u, v)
        ends = np.cumsum(counts)
        for iid, start, end in zip(instance_ids, ends - counts, ends):
            if end > start:  # a numpy slice shared with Open3D (no copy, no tensor indexing)
                batch = o3d.core.Tensor.from_numpy(rays[start:end])
                out[start:end] = self._alone[iid].test_occlusions(batch, tnear=near, nthreads=self.threads).numpy()
        return out
