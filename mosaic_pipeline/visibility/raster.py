"""The casts of :mod:`raycast` rasterized in PyTorch: the same first hits and coverage on a CUDA GPU (or the CPU).

Homogeneous rasterization (Olano & Greer 1997). In camera coordinates the ray through pixel centre
(u, v) leaves the origin along d = ((u - cx) / fx, (v - cy) / fy, 1), so a point at ray parameter t
has camera depth t, as in :mod:`raycast`. The ray meets triangle ABC iff its three edge functions
w_A = d . (B x C), w_B = d . (C x A), w_C = d . (A x B) share a sign (zero included: pixel centres on
an edge belong to both triangles), at depth z = det(A, B, C) / (d . n) with n = (B - A) x (C - A),
the ray meeting the triangle's plane. Nothing is divided by a vertex depth, so triangles crossing the
camera plane need no clipping; the near plane is the per-pixel test z >= near, which gives what the
Open3D path gives (first hits cast again from the near plane, coverage with ``tnear = near``): the
nearest surface at depth >= near. Per-triangle terms are formed in float64 (n from edge differences,
not as w_A + w_B + w_C, which cancels for small far triangles) and stored in float32; the per-pixel
work is float32, like Open3D's (Embree's) own test: both decide pixel centres within float32 rounding
of an edge differently, nothing else (the measured disagreement: docs/labels_performance.md).

- first hits: a triangle's candidate pixels are the pixel centres of the image inside the bounding
  box of its part in front of the near plane (its vertices in front and the points where its edges
  cross the plane, projected). All (triangle, pixel) candidates form one ragged range, processed in
  chunks of ``PAIRS_PER_CHUNK`` (a large triangle spans several chunks); the nearest per pixel is one
  ``scatter_reduce(amin)`` of an int64 key: the depth's float32 bits high (a float32 >= 0 orders as
  its bits), the face id low, so equal depths go to the lowest face id, deterministically.
- coverage: the rays of one instance are tested against its faces alone, each face only against the
  rays inside its bounding box: the rays sorted by (instance, row, column), a face's rows found by
  binary search among its instance's distinct ray rows, then the rays of each row within its columns.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch

from ..scene.types import Camera, Scene
from .mesh import FirstHits, InstanceMeshes, check_mesh

# (triangle, pixel) or (face, ray) candidates handled at once: each costs ~120 bytes of temporaries
# (int64 indices, the gathered edge terms, edge functions, keys), so a chunk needs ~0.5 GB: far inside a
# GPU's memory, and few chunks per frame (a 640x480 frame of the 373k-face benchmark room has 1.5-2.6M).
PAIRS_PER_CHUNK = 2**22
_NO_HIT = torch.iinfo(torch.int64).max  # the key of a pixel nothing covers
_FACE_BITS = 32  # the low 32 bits of a key hold the face id (int32: check_mesh)


def resolve_device(device: str) -> torch.device:
    """``visibility.device``: ``auto`` is the first CUDA device where one exists, else the CPU."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


@dataclass(frozen=True)
class FrameMesh:
    """The mesh seen from one camera: camera-frame vertices and where each face can cover pixels."""

    points: torch.Tensor  # (V, 3) float64 camera-frame vertices
    extent: torch.Tensor  # (F, 4) float64 [u_min, v_min, u_max, v_max] of its part at depth >= near; +inf/-inf if none


def ragged_chunks(counts: torch.Tensor, budget: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """The entries of the ragged range ``counts`` (item i owns counts[i] entries), at most ``budget`` at a time:
    per chunk each entry's item and its position within the item. An item may span several chunks."""
    if len(counts) == 0:
        return
    ends = torch.cumsum(counts, 0)
    starts = ends - counts
    total = int(ends[-1])
    cuts = torch.arange(0, total, budget, device=counts.device)
    first = torch.searchsorted(ends, cuts, right=True).tolist() + [len(counts) - 1]
    for i, s in enumerate(range(0, total, budget)):
        e = min(s + budget, total)
        items = torch.arange(first[i], min(first[i + 1] + 1, len(counts)), device=counts.device)
        n = (torch.clamp(ends[items], max=e) - torch.clamp(starts[items], min=s)).clamp(min=0)
        owner = torch.repeat_interleave(items, n, output_size=e - s)
        yield owner, torch.arange(s, e, device=counts.device) - starts[owner]


def frame_mesh(vertices: torch.Tensor, faces: torch.Tensor, camera: Camera, world_to_cam: np.ndarray,
               near: float) -> FrameMesh:
    """``vertices`` (float64, world) in the camera frame and the extent of every face's part in front of the
    near plane: its corners in front and the points where its edges cross the plane, projected (what
    ``coverage.projected_extents`` bounds per instance). Corners are projected once per vertex; only the
    few faces that cross the plane compute crossings."""
    T = torch.as_tensor(np.asarray(world_to_cam, dtype=np.float64), device=vertices.device)
    p = vertices @ T[:3, :3].T + T[:3, 3]
    front = p[:, 2] >= near
    uv = _project(camera, p, front)
    lo = torch.where(front[:, None], uv, torch.inf)[faces].amin(dim=1)
    hi = torch.where(front[:, None], uv, -torch.inf)[faces].amax(dim=1)
    n_front = front[faces].sum(dim=1)
    cross = torch.nonzero((n_front > 0) & (n_front < 3)).squeeze(1)
    if len(cross):
        corners = p[faces[cross]]  # (S, 3, 3)
        a, b = corners, corners.roll(-1, dims=1)  # the edges (0, 1), (1, 2), (2, 0)
        crossing = (a[..., 2] - near) * (b[..., 2] - near) < 0
        s = (near - a[..., 2]) / torch.where(crossing, b[..., 2] - a[..., 2], 1.0)
        cut = a + s[..., None] * (b - a)
        cut[..., 2] = near  # on the plane exactly: in front
        cut_uv = _project(camera, cut.reshape(-1, 3), crossing.reshape(-1)).reshape(-1, 3, 2)
        lo[cross] = torch.minimum(lo[cross], torch.where(crossing[..., None], cut_uv, torch.inf).amin(dim=1))
        hi[cross] = torch.maximum(hi[cross], torch.where(crossing[..., None], cut_uv, -torch.inf).amax(dim=1))
    return FrameMesh(p, torch.cat([lo, hi], dim=1))


def _project(camera: Camera, p: torch.Tensor, front: torch.Tensor) -> torch.Tensor:
    """(n, 2) pixel coordinates of camera-frame points; those not in ``front`` get a finite placeholder."""
    z = torch.where(front, p[:, 2], 1.0)
    return torch.stack([camera.fx * p[:, 0] / z + camera.cx, camera.fy * p[:, 1] / z + camera.cy], dim=1)


@dataclass(frozen=True)
class Triangles:
    """Rasterization terms of some faces in one camera frame (float32, formed in float64)."""

    edges: torch.Tensor  # (n, 3, 3) the edge normals B x C, C x A, A x B (rows)
    plane: torch.Tensor  # (n, 4) the plane normal (B - A) x (C - A) and det(A, B, C)

    @classmethod
    def of(cls, points: torch.Tensor, faces: torch.Tensor) -> "Triangles":
        """The terms of ``faces`` (n, 3) over camera-frame ``points`` (float64)."""
        a, b, c = points[faces[:, 0]], points[faces[:, 1]], points[faces[:, 2]]
        e_a = torch.linalg.cross(b, c)
        edges = torch.stack([e_a, torch.linalg.cross(c, a), torch.linalg.cross(a, b)], dim=1)
        plane = torch.cat([torch.linalg.cross(b - a, c - a), (a * e_a).sum(dim=1, keepdim=True)], dim=1)
        return cls(edges.to(torch.float32), plane.to(torch.float32))

    def hits(self, tri: torch.Tensor, dx: torch.Tensor, dy: torch.Tensor,
             near: float) -> tuple[torch.Tensor, torch.Tensor]:
        """Which (triangle ``tri[i]``, ray (dx[i], dy[i], 1)) pairs hit at depth >= ``near``: their indices i and
        depths. The inside test first (edge terms only), the depth for the pairs inside."""
        e = self.edges[tri]
        w = e[..., 0] * dx[:, None] + e[..., 1] * dy[:, None] + e[..., 2]
        inside = torch.nonzero(((w >= 0).all(dim=1)) | ((w <= 0).all(dim=1))).squeeze(1)
        q = self.plane[tri[inside]]
        z = q[:, 3] / (q[:, 0] * dx[inside] + q[:, 1] * dy[inside] + q[:, 2])
        ok = (z >= near) & torch.isfinite(z)
        return inside[ok], z[ok]


def pixel_box(extent: torch.Tensor, lo: tuple[int, int], hi: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Inclusive pixel index boxes [c0, r0, c1, r1] (int64) of the pixel centres inside float extents, cut to
    columns lo[0]..hi[0] and rows lo[1]..hi[1]; and each box's pixel count (0 when empty)."""
    box_lo = torch.ceil(extent[:, :2] - 0.5)
    box_hi = torch.floor(extent[:, 2:] - 0.5)
    low = torch.tensor(lo, dtype=extent.dtype, device=extent.device)
    high = torch.tensor(hi, dtype=extent.dtype, device=extent.device)
    box = torch.cat([torch.maximum(box_lo, low).clamp(max=high + 1), torch.minimum(box_hi, high).clamp(min=low - 1)],
                    dim=1)
    box = torch.nan_to_num(box, nan=0.0).to(torch.int64)
    size = (box[:, 2:] - box[:, :2] + 1).clamp(min=0)
    return box, size[:, 0] * size[:, 1]


class TorchCaster:
    """The whole scene mesh on one torch device, ready for rasterized first hits and coverage tests.

    The :class:`mesh.Caster` of :mod:`raycast`'s ``MeshCaster``, same outputs up to float32 rounding at
    triangle edges. ``threads`` > 0 sets torch's CPU threads (the cores shared out among frame workers).
    """

    def __init__(self, scene: Scene, device: str = "auto", threads: int = 0):
        check_mesh(scene)
        self.device = resolve_device(device)
        if threads > 0 and self.device.type == "cpu":
            torch.set_num_threads(threads)
        self.face_instance = scene.face_instance()
        self.instances = InstanceMeshes.from_scene(scene, self.face_instance)
        self._vertices = torch.as_tensor(np.asarray(scene.vertices, dtype=np.float64), device=self.device)
        self._faces = torch.as_tensor(np.asarray(scene.faces, dtype=np.int64), device=self.device)
        own = np.flatnonzero(self.face_instance >= 0)
        position = np.searchsorted(self.instances.ids, self.face_instance[own])
        order = np.argsort(position, kind="stable")  # faces instance after instance (InstanceMeshes' order)
        self._instance_faces = torch.as_tensor(own[order], device=self.device)
        self._instance_first = np.searchsorted(position[order], np.arange(len(self.instances.ids) + 1))
        self._frame_key: tuple | None = None
        self._frame: FrameMesh | None = None

    def frame_mesh(self, camera: Camera, world_to_cam: np.ndarray, near: float) -> FrameMesh:
        """The mesh in the frame's camera, kept for the next call (a frame's coverage tests follow its first hits)."""
        key = (camera, np.asarray(world_to_cam, dtype=np.float64).tobytes(), near)
        if key != self._frame_key:
            self._frame = frame_mesh(self._vertices, self._faces, camera, world_to_cam, near)
            self._frame_key = key
        return self._frame

    def _ray_dirs(self, camera: Camera, cols: torch.Tensor, rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Camera-frame (x, y) of the rays through pixel centres (cols + 0.5, rows + 0.5); z is 1."""
        return (((cols.to(torch.float64) + 0.5 - camera.cx) / camera.fx).to(torch.float32),
                ((rows.to(torch.float64) + 0.5 - camera.cy) / camera.fy).to(torch.float32))

    def first_hits(self, camera: Camera, world_to_cam: np.ndarray, near: float) -> FirstHits:
        """Depth-tested raster of the whole mesh at ``camera``'s resolution, clipped at the near plane."""
        W, H = camera.width, camera.height
        frame = self.frame_mesh(camera, world_to_cam, near)
        box, count = pixel_box(frame.extent, (0, 0), (W - 1, H - 1))
        face = torch.nonzero(count).squeeze(1)  # the faces that may cover a pixel centre of the image
        box, count = box[face], count[face]
        triangles = Triangles.of(frame.points, self._faces[face])
        dx, dy = self._ray_dirs(camera, torch.arange(W, device=self.device), torch.arange(H, device=self.device))
        corner = box[:, 1] * W + box[:, 0]  # the pixel index of each box's first pixel
        width = box[:, 2] - box[:, 0] + 1
        best = torch.full((H * W,), _NO_HIT, dtype=torch.int64, device=self.device)
        for tri, local in ragged_chunks(count, PAIRS_PER_CHUNK):
            rows, col = torch.div(local, width[tri], rounding_mode="floor"), local % width[tri]
            pixel = corner[tri] + rows * W + col
            i, z = triangles.hits(tri, dx[pixel % W], dy[pixel // W], near)
            key = (z.view(torch.int32).to(torch.int64) << _FACE_BITS) | face[tri[i]]
            best.scatter_reduce_(0, pixel[i], key, "amin")
        return self._decode(best.view(H, W))

    @staticmethod
    def _decode(best: torch.Tensor) -> FirstHits:
        miss = best == _NO_HIT
        face = torch.where(miss, -1, best & (2**_FACE_BITS - 1)).to(torch.int32)
        depth = (best >> _FACE_BITS).to(torch.int32).view(torch.float32)
        depth = torch.where(miss, torch.nan, depth)
        return FirstHits(depth.cpu().numpy(), face.cpu().numpy())

    def covered(self, instance_ids: list[int], counts: np.ndarray, camera: Camera, world_to_cam: np.ndarray,
                near: float, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        """Whether each pixel centre (u, v) is covered by its instance ALONE at depth >= ``near`` (bool, (n,)).

        The rays come instance after instance: ``counts[i]`` rays for ``instance_ids[i]``.
        """
        if len(u) == 0:
            return np.zeros(0, dtype=bool)
        rays = _SortedRays.of(counts, u, v, self.device)
        position = np.searchsorted(self.instances.ids, np.asarray(instance_ids, dtype=np.int64))
        n_faces = torch.as_tensor(self._instance_first[position + 1] - self._instance_first[position],
                                  device=self.device)
        first = torch.as_tensor(self._instance_first[position], device=self.device)
        frame = self.frame_mesh(camera, world_to_cam, near)
        dx, dy = self._ray_dirs(camera, rays.col, rays.row)
        hit = torch.zeros(len(u), dtype=torch.bool, device=self.device)
        for group, local in ragged_chunks(n_faces, PAIRS_PER_CHUNK):  # every face of every requested instance
            face = self._instance_faces[first[group] + local]
            box, count = pixel_box(frame.extent[face], rays.lo, rays.hi)
            triangles = Triangles.of(frame.points, self._faces[face])
            for f, ray in rays.in_boxes(group, box, count):
                i, _ = triangles.hits(f, dx[ray], dy[ray], near)
                hit[ray[i]] = True
        out = torch.zeros(len(u), dtype=torch.bool, device=self.device)
        out[rays.order] = hit
        return out.cpu().numpy()


@dataclass(frozen=True)
class _SortedRays:
    """Coverage rays sorted by (group, row, column), the group being the request's instance i; the distinct
    (group, row) pairs for finding the rays of a face's rows by binary search."""

    order: torch.Tensor  # (n,) the input position of each sorted ray
    col: torch.Tensor  # (n,) int64 pixel column (u - 0.5), sorted order
    row: torch.Tensor  # (n,) int64
    key: torch.Tensor  # (n,) ascending int64 (group, row, column) key
    row_key: torch.Tensor  # (m,) ascending distinct (group, row) keys
    lo: tuple[int, int]  # smallest column and row
    hi: tuple[int, int]  # largest column and row

    @classmethod
    def of(cls, counts: np.ndarray, u: np.ndarray, v: np.ndarray, device: torch.device) -> "_SortedRays":
        col = torch.floor(torch.as_tensor(u, device=device)).to(torch.int64)  # u = column + 0.5 exactly
        row = torch.floor(torch.as_tensor(v, device=device)).to(torch.int64)
        lo, hi = (int(col.min()), int(row.min())), (int(col.max()), int(row.max()))
        n_cols, n_rows = hi[0] - lo[0] + 1, hi[1] - lo[1] + 1
        if len(counts) * n_rows * n_cols >= 2**62:
            raise ValueError(f"coverage rays over {n_cols} x {n_rows} pixels: (group, row, column) keys overflow")
        group = torch.repeat_interleave(torch.arange(len(counts), device=device),
                                        torch.as_tensor(counts, device=device), output_size=len(u))
        row_key = group * n_rows + (row - lo[1])
        key, order = torch.sort(row_key * n_cols + (col - lo[0]), stable=True)
        return cls(order, col[order], row[order], key, torch.unique(row_key), lo, hi)

    def in_boxes(self, group: torch.Tensor, box: torch.Tensor,
                 count: torch.Tensor) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """(face, ray) candidates, chunked: every ray of face f's group inside its box [c0, r0, c1, r1]
        (``count`` 0: an empty box), as (index into ``group``, sorted ray index)."""
        n_rows, n_cols = self.hi[1] - self.lo[1] + 1, self.hi[0] - self.lo[0] + 1
        base = group * n_rows - self.lo[1]
        first_row = torch.searchsorted(self.row_key, base + box[:, 1])
        rows = torch.where(count > 0, torch.searchsorted(self.row_key, base + box[:, 3], right=True) - first_row, 0)
        for f, k in ragged_chunks(rows, PAIRS_PER_CHUNK):  # (face, distinct ray row of its group in its box)
            at = self.row_key[first_row[f] + k] * n_cols - self.lo[0]
            start = torch.searchsorted(self.key, at + box[f, 0])
            n = torch.searchsorted(self.key, at + box[f, 2], right=True) - start
            for i, j in ragged_chunks(n, PAIRS_PER_CHUNK):
                yield f[i], start[i] + j
