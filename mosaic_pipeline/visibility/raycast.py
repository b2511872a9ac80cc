"""Open3D ray casting over a scene mesh, in the project's camera conventions.

Rays start at the camera centre with the directions of :func:`geometry.camera_rays` (camera-frame z
component 1), so a hit at ray parameter t has camera depth t. Geometry closer than the near plane is
never hit (the near clip of a renderer, applied to every count of the visibility table): coverage
tests pass ``tnear = near``; first hits closer than ``near`` are cast again from the near plane.

Two kinds of casts: first hits against the whole mesh (depth test), and coverage tests against ONE
instance alone (a separate Open3D scene per instance, built from that instance's faces only).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import open3d as o3d

from ..errors import SceneError
from ..scene.geometry import is_rigid
from ..scene.layout import IPHONE_CAMERAS, IPHONE_IMAGES, MESH
from ..scene.types import Camera, Frame, Scene


@dataclass(frozen=True)
class FirstHits:
    """The first surface along each pixel's ray, row-major (H, W).

    ``depth`` stays float32 (Open3D's ``t_hit``, exact: every consumer widens it to float64 itself) and
    ``face`` is a view of Open3D's uint32 ids as int32, so the whole image needs no conversion pass.
    """

    depth: np.ndarray  # float32 camera depth (metres); NaN where the ray hits nothing
    face: np.ndarray  # int32 face index; -1 where the ray hits nothing

    @property
    def hit(self) -> np.ndarray:
        return self.face >= 0


def check_mesh(scene: Scene) -> None:
    """SceneError unless faces index existing vertices, vertices are finite and every vertex has an instance entry."""
    path = scene.root / MESH
    v, f = scene.vertices, scene.faces
    if v.ndim != 2 or v.shape[1] != 3 or not np.isfinite(v).all():
        raise SceneError(scene.scene_id, path, "vertices must be a finite (N, 3) array", field="vertices")
    if f.ndim != 2 or f.shape[1] != 3 or not np.issubdtype(f.dtype, np.integer):
        raise SceneError(scene.scene_id, path, "faces must be an (M, 3) integer array", field="faces")
    if f.size and (f.min() < 0 or f.max() >= len(v)):
        raise SceneError(scene.scene_id, path, f"face indices outside 0..{len(v) - 1}", field="faces")
    if scene.vertex_instance.shape != (len(v),):
        raise SceneError(scene.scene_id, path, f"{scene.vertex_instance.shape} entries for {len(v)} vertices",
                         field="vertex_instance")


def check_frame(scene: Scene, frame: Frame) -> None:
    """SceneError unless the frame's pose is rigid and its intrinsics are positive."""
    if not is_rigid(np.asarray(frame.world_to_cam, dtype=np.float64)):
        raise SceneError(scene.scene_id, scene.root / IPHONE_IMAGES, "pose is not a finite rigid transform",
                         field=f"{frame.frame_id}.world_to_cam")
    cam = frame.camera
    if min(cam.width, cam.height) <= 0 or not (cam.fx > 0 and cam.fy > 0):
        raise SceneError(scene.scene_id, scene.root / IPHONE_CAMERAS,
                         f"camera {cam.width}x{cam.height} fx={cam.fx} fy={cam.fy} is not a valid pinhole",
                         field=f"{frame.frame_id}.camera")


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


@dataclass(frozen=True)
class InstanceMeshes:
    """Each instance's faces as its own small mesh, all instances packed instance after instance.

    Instance j (``ids[j]``, ascending) owns ``points[vertex_start[j]:vertex_start[j + 1]]`` (a copy of
    the scene vertices its faces use), ``faces[face_start[j]:face_start[j + 1]]`` (indices into
    ``points``) and its unique edges ``edges[edge_instance == j]`` (indices into ``points``).
    """

    ids: np.ndarray  # (K,) int64
    points: np.ndarray  # (V, 3) float64
    vertex_start: np.ndarray  # (K,)
    faces: np.ndarray  # (F, 3) int64
    face_start: np.ndarray  # (K,)
    edges: np.ndarray  # (E, 2) int64
    edge_instance: np.ndarray  # (E,) position j of the edge's instance

    @classmethod
    def from_scene(cls, scene: Scene, face_instance: np.ndarray) -> "InstanceMeshes":
        own = face_instance >= 0
        ids, k = np.unique(face_instance[own], return_inverse=True)
        order = np.argsort(k, kind="stable")
        k, tri = k[order], scene.faces[own][order]
        n = max(len(scene.vertices), 1)
        keys, local = np.unique(k[:, None] * n + tri, return_inverse=True)  # (instance, vertex), sorted by instance
        local = local.reshape(tri.shape)
        vertex_k = keys // n
        pairs = np.sort(local[:, [0, 1, 1, 2, 2, 0]].reshape(-1, 2), axis=1)
        edges = np.column_stack(np.divmod(np.unique(pairs[:, 0] * len(keys) + pairs[:, 1]), len(keys)))
        span = np.arange(len(ids))
        return cls(ids, scene.vertices[keys % n], np.searchsorted(vertex_k, span), local,
                   np.searchsorted(k, span), edges, vertex_k[edges[:, 0]])

    def mesh(self, j: int) -> tuple[np.ndarray, np.ndarray]:
        """Vertices and faces (local indices) of instance ``ids[j]``."""
        v_end = self.vertex_start[j + 1] if j + 1 < len(self.ids) else len(self.points)
        f_end = self.face_start[j + 1] if j + 1 < len(self.ids) else len(self.faces)
        return self.points[self.vertex_start[j]:v_end], self.faces[self.face_start[j]:f_end] - self.vertex_start[j]


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
        if len(scene.faces) >= 2**31:
            raise SceneError(scene.scene_id, scene.root / MESH, f"{len(scene.faces)} faces: at most 2**31 - 1",
                             field="faces")
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
