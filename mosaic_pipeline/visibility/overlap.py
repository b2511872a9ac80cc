"""Frame overlap (docs/views.md): the IoU of the visible surfaces of two frames.

V_i is the set of voxels (edge ``views.voxel_size``, a grid whose voxel CENTRES start at the mesh's
bounding-box minimum, so that axis-aligned walls and floors lie mid-voxel rather than on a boundary
where float32 hits would flip between two layers) that contain the FIRST-HIT POINTS of frame i's pixels at the working resolution
(``visibility.long_side``, near plane ``visibility.near_plane``; background surfaces included). This
is the first-hit variant of docs/views.md, not the visible-vertex variant.

The visibility stage computes V_i from its own cast of the frame (``table.SceneVisibility``) and
writes every frame's set (:class:`FrameVoxels`, ``paths.frame_voxels``); nothing casts a frame a
second time for overlap (docs/labels_performance.md).

overlap(i, j) = |V_i ∩ V_j| / |V_i ∪ V_j|. :class:`SparseOverlap` keeps the sparse frames x voxels
incidence A and its transpose, and computes the overlaps of one frame with all others on demand as
one sparse row product A_i Aᵀ, which touches only the frames that share a voxel with frame i: the
view sampler asks for the few frames it draws, so no F x F matrix is ever formed. The diagonal is 1
by definition (also for a frame that sees nothing); two frames whose union is empty have overlap 0.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import scipy.sparse as sp

from ..atomic import atomic_file
from ..scene.types import Camera, Scene
from .mesh import Caster, check_frame

SCHEMA = pa.schema([("frame_id", pa.string()), ("n_voxels", pa.int64()), ("overlap", pa.list_(pa.float64()))])
VOXELS_SCHEMA = pa.schema([("frame_id", pa.string()), ("voxels", pa.list_(pa.int64()))])


class Overlap(Protocol):
    """What the view sampler needs: the frames, and the overlaps of one frame or of a few frames."""

    frame_ids: list[str]

    def row(self, i: int) -> np.ndarray: ...

    def submatrix(self, idx: np.ndarray) -> np.ndarray: ...


@dataclass(frozen=True)
class FrameOverlap:
    """A dense overlap matrix of the frames ``frame_ids`` (all of a scene's, or an even subsample)."""

    frame_ids: list[str]  # scene frame order
    n_voxels: np.ndarray  # (F,) int64 |V_i|
    matrix: np.ndarray  # (F, F) float64 IoU, symmetric, unit diagonal

    def index(self, frame_ids: list[str]) -> np.ndarray:
        pos = {f: i for i, f in enumerate(self.frame_ids)}
        return np.array([pos[f] for f in frame_ids], dtype=np.int64)

    def row(self, i: int) -> np.ndarray:
        return self.matrix[i]

    def submatrix(self, idx: np.ndarray) -> np.ndarray:
        return self.matrix[np.ix_(idx, idx)]


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
        return self._unique(self._linear([points[:, a] for a in range(3)]))

    def _linear(self, axes: list[np.ndarray]) -> np.ndarray:
        ijk = [np.clip(np.floor((x - o) / self.size).astype(np.int64), 0, n - 1)
               for x, o, n in zip(axes, self.origin, self.dims)]
        return (ijk[0] * self.dims[1] + ijk[1]) * self.dims[2] + ijk[2]

    @staticmethod
    def _unique(ids: np.ndarray) -> np.ndarray:
        """Sorted unique ids; runs of equal neighbours (pixels of one voxel) are dropped before the sort."""
        if len(ids) > 1:
            ids = ids[np.append(True, ids[1:] != ids[:-1])]
        return np.unique(ids)


# Image rows per block of the voxel computation: a block's float64 temporaries stay in the CPU cache.
ROWS_PER_BLOCK = 64
# Grids of at most this many voxels find a frame's unique ids with a reused byte mask (no sort).
MASK_MAX_VOXELS = 2**26


class FrameVoxelizer:
    """V_i of first-hit depth images on one grid.

    A pixel's point is its depth times the camera ray through the pixel centre, in float64; its voxel
    coordinate along axis k is depth * G_k(u, v) + h_k, where G_k (a column term plus a row term) and
    h_k fold in the pose, the grid origin and the voxel size. Computed in blocks of image rows, and
    deduplicated with a byte mask of the grid (a sort for grids above ``MASK_MAX_VOXELS``).
    """

    def __init__(self, grid: VoxelGrid):
        self.grid = grid
        n = int(np.prod(grid.dims))
        self._mask = np.zeros(n, dtype=bool) if n <= MASK_MAX_VOXELS else None

    def frame_ids(self, camera: Camera, world_to_cam: np.ndarray, depth: np.ndarray) -> np.ndarray:
        """Sorted unique voxel ids of the pixels of ``depth`` (H, W) that hit something (NaN: no hit)."""
        g = self.grid
        R, t = world_to_cam[:3, :3], world_to_cam[:3, 3]
        col = (np.arange(camera.width) + 0.5 - camera.cx) / camera.fx
        row = (np.arange(camera.height) + 0.5 - camera.cy) / camera.fy
        h = (-R.T @ t - g.origin) / g.size
        parts = []
        for r0 in range(0, camera.height, ROWS_PER_BLOCK):
            rows = slice(r0, r0 + ROWS_PER_BLOCK)
            d = depth[rows].astype(np.float64)
            linear = None
            for k in range(3):
                q = d * ((R[0, k] / g.size) * col[None, :] + ((R[1, k] / g.size) * row[rows, None] + R[2, k] / g.size))
                q += h[k]
                np.clip(q, 0, g.dims[k] - 1, out=q)  # first hits lie on the mesh; once clipped, truncation is floor
                qi = q.astype(np.int64)
                linear = qi if linear is None else linear * g.dims[k] + qi
            parts.append(linear[np.isfinite(d)])
        ids = np.concatenate(parts) if parts else np.zeros(0, np.int64)
        if self._mask is None:
            return g._unique(ids)
        self._mask[ids] = True
        ids = np.flatnonzero(self._mask)
        self._mask[ids] = False
        return ids


@dataclass(frozen=True)
class FrameVoxels:
    """Every frame's V_i, frame after frame: frame i's sorted voxel ids are ``voxels[indptr[i]:indptr[i + 1]]``."""

    frame_ids: list[str]
    indptr: np.ndarray  # (F + 1,) int64
    voxels: np.ndarray  # (N,) int64

    @classmethod
    def of(cls, frame_ids: list[str], sets: list[np.ndarray]) -> "FrameVoxels":
        sizes = np.array([len(s) for s in sets], dtype=np.int64)
        return cls(list(frame_ids), np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64),
                   np.concatenate(sets).astype(np.int64, copy=False) if sets else np.zeros(0, np.int64))

    @property
    def n_voxels(self) -> np.ndarray:
        return np.diff(self.indptr)

    def of_frame(self, i: int) -> np.ndarray:
        return self.voxels[self.indptr[i]:self.indptr[i + 1]]


def write_frame_voxels(voxels: FrameVoxels, path: Path) -> None:
    """One row per frame: its id and its sorted voxel ids (delta-encoded: neighbours differ little)."""
    if voxels.indptr[-1] >= 2**31:
        raise ValueError(f"{voxels.indptr[-1]} voxel ids: a Parquet list column holds fewer than 2**31")
    lists = pa.ListArray.from_arrays(pa.array(voxels.indptr.astype(np.int32)), pa.array(voxels.voxels))
    table = pa.Table.from_arrays([pa.array(voxels.frame_ids, pa.string()), lists], schema=VOXELS_SCHEMA)
    with atomic_file(path) as tmp:
        pq.write_table(table, tmp, use_dictionary=["frame_id"],
                       column_encoding={"voxels.list.element": "DELTA_BINARY_PACKED"})


def read_frame_voxels(path: Path) -> FrameVoxels:
    """The voxel sets as written; the ids are Arrow's decoded buffer, read-only (no copy: ~0.3 s per
    1,000 frames of 11k voxels; one reader thread: decoding on more cost more CPU, docs/labels_performance.md)."""
    table = pq.read_table(path, schema=VOXELS_SCHEMA, use_threads=False)
    column = table.column("voxels")
    column = column.chunk(0) if column.num_chunks == 1 else column.combine_chunks()
    offsets = column.offsets.to_numpy().astype(np.int64)
    ids = column.values.to_numpy(zero_copy_only=False)[offsets[0]:offsets[-1]]
    return FrameVoxels(table.column("frame_id").to_pylist(), offsets - offsets[0], ids.astype(np.int64, copy=False))


class SparseOverlap:
    """overlap(i, j) on demand from the sparse frames x voxels incidence (see the module docstring).

    Kept: each frame's voxels as dense column numbers (int32) and the transpose, voxel -> frames, as a
    CSR matrix with int32 indices: about 9 bytes per (frame, voxel) incidence.
    """

    def __init__(self, voxels: FrameVoxels):
        self.frame_ids = voxels.frame_ids
        self.n_voxels = voxels.n_voxels
        self.indptr = voxels.indptr
        self.column = _dense_columns(voxels.voxels)
        F, n = len(self.frame_ids), len(self.column)
        index = np.int32 if max(n, F) < 2**31 else np.int64
        A = sp.csr_matrix((np.ones(n, dtype=bool), self.column, self.indptr.astype(index)),
                          shape=(F, int(self.column.max()) + 1 if n else 0))
        self.AT = A.T.tocsr()  # voxel -> the frames that see it

    def intersections(self, i: int) -> np.ndarray:
        """(F,) |V_i ∩ V_j| for every j: the frames of each voxel of frame i, counted."""
        columns = self.column[self.indptr[i]:self.indptr[i + 1]]
        return np.bincount(self.AT[columns].indices, minlength=len(self.frame_ids))

    def row(self, i: int) -> np.ndarray:
        return _iou(self.intersections(i), self.n_voxels[i] + self.n_voxels, i)

    def submatrix(self, idx: np.ndarray) -> np.ndarray:
        """The dense overlap matrix of the frames ``idx`` (one sparse product of their rows)."""
        idx = np.asarray(idx, dtype=np.int64)
        sizes = self.n_voxels[idx]
        columns = np.concatenate([self.column[self.indptr[i]:self.indptr[i + 1]] for i in idx]) if len(idx) else \
            np.zeros(0, np.int32)
        sub = sp.csr_matrix((np.ones(len(columns), dtype=np.int64), columns, np.concatenate([[0], np.cumsum(sizes)])),
                            shape=(len(idx), self.AT.shape[0]))
        inter = (sub @ sub.T).toarray()
        iou = _iou(inter, sizes[:, None] + sizes[None, :], None)
        np.fill_diagonal(iou, 1.0)
        return iou


def _dense_columns(ids: np.ndarray) -> np.ndarray:
    """Each id's rank among the distinct ids (int32): a lookup table when the ids are not too sparse, else a sort."""
    if len(ids) == 0:
        return np.zeros(0, np.int32)
    top = int(ids.max()) + 1
    if top > max(4 * len(ids), 2**22):
        return np.unique(ids, return_inverse=True)[1].astype(np.int32)
    present = np.zeros(top, dtype=bool)
    present[ids] = True
    return (np.cumsum(present, dtype=np.int32) - 1)[ids]


def _iou(inter: np.ndarray, size_sum: np.ndarray, diagonal: int | None) -> np.ndarray:
    """inter / (size_sum - inter) in float64, 0 where the union is empty; 1 at ``diagonal`` (a row's own frame)."""
    union = size_sum - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        iou = np.where(union > 0, inter / union, 0.0)
    if diagonal is not None:
        iou[diagonal] = 1.0
    return iou


def overlap_matrix(voxel_sets: list[np.ndarray]) -> np.ndarray:
    """IoU of every pair of voxel-id sets (each unique), dense: for small sets of frames (tests, plots)."""
    F = len(voxel_sets)
    return SparseOverlap(FrameVoxels.of([str(i) for i in range(F)], voxel_sets)).submatrix(np.arange(F))


def overlap_sample(overlap: Overlap, max_frames: int | None) -> FrameOverlap:
    """The dense overlap matrix of all frames, or of ``max_frames`` frames evenly spaced over the scene
    (first and last included) when there are more: what is written beside the view samples and plotted."""
    F = len(overlap.frame_ids)
    idx = np.arange(F) if max_frames is None or F <= max_frames else \
        np.unique(np.linspace(0, F - 1, max_frames).round().astype(np.int64))
    sizes = np.asarray(overlap.n_voxels)[idx]
    return FrameOverlap([overlap.frame_ids[i] for i in idx], sizes, overlap.submatrix(idx))


def cast_frame_voxels(scene: Scene, long_side: int, near: float, voxel_size: float,
                      progress: Callable[[int, int], None] | None = None,
                      caster: Caster | None = None) -> FrameVoxels:
    """V_i of every frame by a first-hit cast of its own: only where no visibility pass gave them.

    ``caster``: the scene's (``backend.make_caster``; None: Open3D's)."""
    if caster is None:
        from .raycast import MeshCaster
        caster = MeshCaster(scene)
    voxelizer = FrameVoxelizer(VoxelGrid.around(scene.vertices, voxel_size))
    sets = []
    for i, frame in enumerate(scene.frames):
        check_frame(scene, frame)
        cam = frame.camera.scaled_to_long_side(long_side)
        sets.append(voxelizer.frame_ids(cam, frame.world_to_cam, caster.first_hits(cam, frame.world_to_cam, near).depth))
        if progress:
            progress(i + 1, len(scene.frames))
    return FrameVoxels.of([f.frame_id for f in scene.frames], sets)


def compute_overlap(scene: Scene, long_side: int, near: float, voxel_size: float,
                    progress: Callable[[int, int], None] | None = None,
                    caster: Caster | None = None) -> SparseOverlap:
    """The overlaps of all frames of ``scene`` from their own first-hit casts (see :func:`cast_frame_voxels`)."""
    return SparseOverlap(cast_frame_voxels(scene, long_side, near, voxel_size, progress, caster))


def write_overlap(overlap: Overlap, path: Path, max_frames: int | None = None) -> None:
    """One row per frame of :func:`overlap_sample`: its id, |V_i| and its row of the matrix (same frame order)."""
    dense = overlap if isinstance(overlap, FrameOverlap) and max_frames is None else overlap_sample(overlap, max_frames)
    table = pa.table({"frame_id": dense.frame_ids, "n_voxels": dense.n_voxels,
                      "overlap": [row.tolist() for row in dense.matrix]}, schema=SCHEMA)
    with atomic_file(path) as tmp:
        pq.write_table(table, tmp)


def read_overlap(path: Path) -> FrameOverlap:
    t = pq.read_table(path, schema=SCHEMA).to_pydict()
    return FrameOverlap(t["frame_id"], np.asarray(t["n_voxels"], dtype=np.int64),
                        np.asarray(t["overlap"], dtype=np.float64).reshape(len(t["frame_id"]), -1))
