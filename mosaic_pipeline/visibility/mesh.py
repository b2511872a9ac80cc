"""The scene mesh as every caster sees it (no Open3D here: the torch backend runs without it).

What both backends share: the checks of a scene's mesh and a frame's pose, the first hits of a frame
(:class:`FirstHits`), each instance's faces as a mesh of its own (:class:`InstanceMeshes`), and what a
caster offers the visibility engine (:class:`Caster`: :class:`raycast.MeshCaster` on Open3D,
:class:`raster.TorchCaster` in PyTorch).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from ..errors import SceneError
from ..scene.geometry import is_rigid
from ..scene.layout import IPHONE_CAMERAS, IPHONE_IMAGES, MESH
from ..scene.types import Camera, Frame, Scene


@dataclass(frozen=True)
class FirstHits:
    """The first surface along each pixel's ray, row-major (H, W).

    ``depth`` stays float32 (Open3D's ``t_hit``, exact: every consumer widens it to float64 itself) and
    ``face`` is int32 (with Open3D a view of its uint32 ids), so the whole image needs no conversion pass.
    """

    depth: np.ndarray  # float32 camera depth (metres); NaN where the ray hits nothing
    face: np.ndarray  # int32 face index; -1 where the ray hits nothing

    @property
    def hit(self) -> np.ndarray:
        return self.face >= 0


def check_mesh(scene: Scene) -> None:
    """SceneError unless faces index existing vertices (fewer than 2**31 faces), vertices are finite and every vertex
    has an instance entry."""
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
    if len(f) >= 2**31:  # face ids are int32 in FirstHits
        raise SceneError(scene.scene_id, path, f"{len(f)} faces: at most 2**31 - 1", field="faces")


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


class Caster(Protocol):
    """A scene's mesh ready for the two kinds of casts of the visibility engine (docs/visibility.md).

    ``face_instance`` and ``instances`` describe the mesh cast; ``first_hits`` is the depth-tested
    first surface of every pixel at depth >= ``near``; ``covered`` whether each pixel centre (u, v) is
    covered by its instance ALONE at depth >= ``near`` (``counts[i]`` pixels for ``instance_ids[i]``,
    instance after instance).
    """

    face_instance: np.ndarray
    instances: InstanceMeshes

    def first_hits(self, camera: Camera, world_to_cam: np.ndarray, near: float) -> FirstHits: ...

    def covered(self, instance_ids: list[int], counts: np.ndarray, camera: Camera, world_to_cam: np.ndarray,
                near: float, u: np.ndarray, v: np.ndarray) -> np.ndarray: ...
