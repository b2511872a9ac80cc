"""Frame overlap (docs/views.md): the IoU of the visible surfaces of two frames.

V_i is the set of voxels (edge ``views.voxel_size``, a grid whose voxel CENTRES start at the mesh's
bounding-box minimum, so that axis-aligned walls and floors lie mid-voxel rather than on a boundary
where float32 hits would flip between two layers) that contain the FIRST-HIT POINTS of frame i's pixels at the working resolution
(``visibility.long_side``, near plane ``visibility.near_plane``; background surfaces included). This
is the first-hit variant of docs/views.md, not the visible-vertex variant.

overlap(i, j) = |V_i ∩ V_j| / |V_i ∪ V_j| for all pairs at once: a sparse frames x voxels incidence
matrix A gives every intersection as A Aᵀ. The diagonal is 1 by definition (also for a frame that
sees nothing); two frames whose union is empty have overlap 0.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import scipy.sparse as sp

from ..atomic import atomic_file
from ..scene.types import Frame, Scene
from .raycast import MeshCaster, check_frame

SCHEMA = pa.schema([("frame_id", pa.string()), ("n_voxels", pa.int64()), ("overlap", pa.list_(pa.float64()))])


@dataclass(frozen=True)
class FrameOverlap:
    frame_ids: list[str]  # scene frame order
    n_voxels: np.ndarray  # (F,) int64 |V_i|
    matrix: np.ndarray  # (F, F) float64 IoU, symmetric, unit diagonal

    def index(self, frame_ids: list[str]) -> np.ndarray:
        pos = {f: i for i, f in enumerate(self.frame_ids)}
        return np.array([pos[f] for f in frame_ids], dtype=np.int64)


@dataclass(frozen=True)
class VoxelGrid:
    """Voxels of edge ``size`` over the box [origin, origin + dims * size); a voxel's id is its linear index."""

    origin: np.ndarray  # (3,)
    size: float
    dims: np.ndarray  # (3,) int64

    @classmethod
    def around(cls, vertices: np.ndarray, size: float) -> "VoxelGrid":
        if not size > 0:
            raise ValueError(f"views.voxel_size must be > 0, got {size}")
        lo = (vertices.min(axis=0) if len(vertices) else np.zeros(3)) - size / 2
        hi = vertices.max(axis=0) if len(vertices) else np.zeros(3)
        return cls(lo, size, np.floor((hi - lo) / size).astype(np.int64) + 1)

    def ids(self, points: np.ndarray) -> np.ndarray:
        """Unique voxel ids of (N, 3) points (clipped into the grid: first hits lie on the mesh)."""
        ijk = np.clip(np.floor((points - self.origin) / self.size).astype(np.int64), 0, self.dims - 1)
        return np.unique((ijk[:, 0] * self.dims[1] + ijk[:, 1]) * self.dims[2] + ijk[:, 2])


def frame_voxels(caster: MeshCaster, grid: VoxelGrid, frame: Frame, long_side: int, near: float) -> np.ndarray:
    """V_i: voxel ids of the first-hit points of the frame's pixels."""
    cam = frame.camera.scaled_to_long_side(long_side)
    hits = caster.first_hits(cam, frame.world_to_cam, near)
    v, u = np.nonzero(hits.hit)
    depth = hits.depth[v, u]
    p_cam = np.column_stack([(u + 0.5 - cam.cx) / cam.fx * depth, (v + 0.5 - cam.cy) / cam.fy * depth, depth])
    R, t = frame.world_to_cam[:3, :3], frame.world_to_cam[:3, 3]
    return grid.ids((p_cam - t) @ R)


def overlap_matrix(voxel_sets: list[np.ndarray]) -> np.ndarray:
    """IoU of every pair of voxel-id sets (each unique), via one sparse product."""
    F = len(voxel_sets)
    sizes = np.array([len(s) for s in voxel_sets], dtype=np.int64)
    all_ids = np.concatenate(voxel_sets) if F else np.zeros(0, np.int64)
    _, col = np.unique(all_ids, return_inverse=True)
    A = sp.csr_matrix((np.ones(len(col), np.int64), (np.repeat(np.arange(F), sizes), col)),
                      shape=(F, int(col.max()) + 1 if len(col) else 0))
    inter = (A @ A.T).toarray().astype(np.float64)
    union = sizes[:, None] + sizes[None, :] - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        iou = np.where(union > 0, inter / union, 0.0)
    np.fill_diagonal(iou, 1.0)
    return iou


def compute_overlap(scene: Scene, long_side: int, near: float, voxel_size: float,
                    progress: Callable[[int, int], None] | None = None) -> FrameOverlap:
    """The overlap matrix of all frames of ``scene``."""
    caster = MeshCaster(scene)
    grid = VoxelGrid.around(scene.vertices, voxel_size)
    sets = []
    for i, frame in enumerate(scene.frames):
        check_frame(scene, frame)
        sets.append(frame_voxels(caster, grid, frame, long_side, near))
        if progress:
            progress(i + 1, len(scene.frames))
    return FrameOverlap([f.frame_id for f in scene.frames], np.array([len(s) for s in sets], dtype=np.int64),
                        overlap_matrix(sets))


def write_overlap(overlap: FrameOverlap, path: Path) -> None:
    """One row per frame: its id, |V_i| and its row of the matrix (columns in the same frame order)."""
    table = pa.table({"frame_id": overlap.frame_ids, "n_voxels": overlap.n_voxels,
                      "overlap": [row.tolist() for row in overlap.matrix]}, schema=SCHEMA)
    with atomic_file(path) as tmp:
        pq.write_table(table, tmp)


def read_overlap(path: Path) -> FrameOverlap:
    t = pq.read_table(path, schema=SCHEMA).to_pydict()
    return FrameOverlap(t["frame_id"], np.asarray(t["n_voxels"], dtype=np.int64),
                        np.asarray(t["overlap"], dtype=np.float64).reshape(len(t["frame_id"]), -1))
