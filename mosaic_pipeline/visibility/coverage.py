"""Instance coverage on the EXTENDED image plane: ``unoccluded_px`` and ``full_px`` of docs/visibility.md.

``full_px`` counts the pixel centres of an unbounded image plane (same intrinsics beyond the border)
that an instance, rendered alone, covers with geometry at or beyond the near plane. Rays are cast
only inside the instance's projected extent: the exact pixel bounding box of its faces clipped at
the near plane (vertices in front of it plus the points where edges cross it).

Inside the image every pixel of the extent is decided exactly: from the first hits on the whole mesh
where they prove the answer (see :func:`plan_rays`), else by a ray against the instance alone.
Outside the image the extent is cut into s x s blocks aligned with the image origin and ONE ray per
block is cast (its pixel nearest to the block centre), weighted by the block's pixels that lie in
the extent and outside the image; s = 1 (exact) while that area is at most ``max_outside_rays``
pixels, else the smallest stride that keeps the ray count near that budget. Only objects that reach
far outside the frame (e.g. straddling the camera plane) are estimated this way. An instance wholly
outside the image has the budget ``full_px_max_offscreen_rays`` (smaller): its row has
``unoccluded_px = visible_px = 0``, so ``fov_ratio = 1`` and ``visibility = 0`` whatever its
``full_px``, which only decides that the row exists (docs/labels_performance.md).

Cost (docs/labels_performance.md): the extents come from each instance's convex-hull points (the
extremes of a projection of points in front of the camera lie on their hull; only instances that
straddle the near plane use all their vertices and edges), and block samples are generated only for
blocks that reach outside the image.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial import ConvexHull, QhullError

from ..scene.geometry import transform_points
from ..scene.types import Camera
from .raycast import InstanceMeshes, MeshCaster


@dataclass(frozen=True)
class Extents:
    """Per instance (in ``InstanceMeshes.ids`` order): where its near-clipped faces project, how deep they reach."""

    uv: np.ndarray  # (K, 4) [u_min, v_min, u_max, v_max] in pixels; +inf/-inf where nothing is in front
    z_max: np.ndarray  # (K,) largest camera depth of its vertices


@dataclass(frozen=True)
class ExtremePoints:
    """Per instance, the points of ``InstanceMeshes.points`` that can be extreme in any projection: the
    vertices and boundary (coplanar) points of its convex hull; all its points where the hull is
    degenerate (flat or tiny instances)."""

    index: np.ndarray  # (P,) into InstanceMeshes.points, instance after instance
    start: np.ndarray  # (K,) first entry of each instance

    @classmethod
    def of(cls, meshes: InstanceMeshes) -> "ExtremePoints":
        ends = np.append(meshes.vertex_start[1:], len(meshes.points))
        parts = [_hull_points(meshes.points[a:b]) + a for a, b in zip(meshes.vertex_start, ends)]
        sizes = np.array([len(x) for x in parts], dtype=np.int64)
        return cls(np.concatenate(parts) if parts else np.zeros(0, np.int64), np.cumsum(sizes) - sizes)


def _hull_points(points: np.ndarray) -> np.ndarray:
    """Sorted local indices of the hull vertices and of the points qhull finds on the hull ("Qc")."""
    try:
        hull = ConvexHull(points)
    except (QhullError, ValueError):
        return np.arange(len(points))
    return np.unique(np.concatenate([hull.vertices, hull.coplanar[:, 0]]))


def projected_extents(meshes: InstanceMeshes, extreme: ExtremePoints, camera: Camera, world_to_cam: np.ndarray,
                      near: float) -> Extents:
    """The pixel extents of every instance's faces clipped at the near plane.

    The extent of a clipped mesh is spanned by its vertices in front of the near plane and by the
    points where its edges cross that plane. An instance wholly in front of (or wholly behind) the
    plane needs only its hull points: x/z and y/z take their extremes over a convex set with z > 0
    at its vertices. The few instances that straddle the plane use every vertex and edge.
    """
    K = len(meshes.ids)
    if K == 0:
        return Extents(np.zeros((0, 4)), np.zeros(0))
    p = transform_points(world_to_cam, meshes.points[extreme.index])
    z_min, z_max = (op.reduceat(p[:, 2], extreme.start) for op in (np.minimum, np.maximum))
    uv = _extents(camera, p, p[:, 2] >= near, extreme.start)
    for j in np.flatnonzero((z_min < near) & (z_max >= near)):
        uv[j] = _straddling_extent(meshes, j, camera, world_to_cam, near)
    return Extents(uv, z_max)


def _extents(camera: Camera, p: np.ndarray, front: np.ndarray, start: np.ndarray) -> np.ndarray:
    """(K, 4) [u_min, v_min, u_max, v_max] of the points in front, per segment of ``start``."""
    u, v = _project(camera, p)
    lo = [np.minimum.reduceat(np.where(front, x, np.inf), start) for x in (u, v)]
    hi = [np.maximum.reduceat(np.where(front, x, -np.inf), start) for x in (u, v)]
    return np.column_stack(lo + hi)


def _straddling_extent(meshes: InstanceMeshes, j: int, camera: Camera, world_to_cam: np.ndarray,
                       near: float) -> np.ndarray:
    """[u_min, v_min, u_max, v_max] of instance j's vertices in front of the plane and its edges' crossings."""
    v0 = meshes.vertex_start[j]
    v1 = meshes.vertex_start[j + 1] if j + 1 < len(meshes.ids) else len(meshes.points)
    e0, e1 = np.searchsorted(meshes.edge_instance, [j, j + 1])
    p = transform_points(world_to_cam, meshes.points[v0:v1])
    a, b = (meshes.edges[e0:e1] - v0).T
    crossing = (p[a, 2] - near) * (p[b, 2] - near) < 0
    pa, pb = p[a[crossing]], p[b[crossing]]
    cut = pa + ((near - pa[:, 2]) / (pb[:, 2] - pa[:, 2]))[:, None] * (pb - pa)
    points = np.concatenate([p, cut])
    front = np.concatenate([p[:, 2] >= near, np.ones(len(cut), bool)])
    return _extents(camera, points, front, np.zeros(1, np.int64))[0]


def _project(camera: Camera, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    with np.errstate(divide="ignore", invalid="ignore"):
        return camera.fx * p[:, 0] / p[:, 2] + camera.cx, camera.fy * p[:, 1] / p[:, 2] + camera.cy


def pixel_boxes(uv: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pixel index boxes (K, 4) [c0, r0, c1, r1], inclusive, of the pixel centres inside float extents
    [u_min, v_min, u_max, v_max]; and whether each box holds any pixel centre."""
    finite = np.isfinite(uv).all(axis=1)
    lo = np.ceil(np.where(finite[:, None], uv[:, :2], 0.0) - 0.5)
    hi = np.floor(np.where(finite[:, None], uv[:, 2:], -1.0) - 0.5)
    boxes = np.column_stack([lo, hi]).astype(np.int64)
    return boxes, finite & (boxes[:, 0] <= boxes[:, 2]) & (boxes[:, 1] <= boxes[:, 3])


def meets_image(boxes: np.ndarray, W: int, H: int) -> np.ndarray:
    """Whether each pixel box [c0, r0, c1, r1] (inclusive) shares a pixel with the W x H image."""
    return (boxes[:, 0] <= W - 1) & (boxes[:, 2] >= 0) & (boxes[:, 1] <= H - 1) & (boxes[:, 3] >= 0)


def _overlap(lo: np.ndarray, hi: np.ndarray, a: int, b: int) -> np.ndarray:
    """Length of [lo, hi] ∩ [a, b] in integers, elementwise (0 when disjoint)."""
    return np.maximum(0, np.minimum(hi, b) - np.maximum(lo, a) + 1)


def _blocks(lo: int, hi: int, size: int, stride: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Stride-aligned blocks covering [lo, hi] on one axis: sample index, pixels in [lo, hi], pixels also in [0, size)."""
    start = np.arange(stride * (lo // stride), hi + 1, stride)
    first, last = np.maximum(start, lo), np.minimum(start + stride - 1, hi)
    sample = (first + last) // 2
    return sample, last - first + 1, _overlap(first, last, 0, size - 1)


@dataclass(frozen=True)
class FrameCast:
    """One frame at the working resolution and its first hits on the whole mesh."""

    camera: Camera
    world_to_cam: np.ndarray
    near: float
    instance: np.ndarray  # (H, W) int32 position k in ``InstanceMeshes.ids`` of the first hit; K for background / no hit
    depth: np.ndarray  # (H, W) float32 camera depth of the first hit; NaN for no hit


@dataclass(frozen=True)
class RayPlan:
    """The rays one instance needs in one frame (pixel centres u, v) and what each ray stands for."""

    u: np.ndarray  # (n,) float32 (pixel index + 0.5: exact)
    v: np.ndarray  # (n,) float32
    inside: np.ndarray  # (n,) bool: a pixel inside the image (counts for unoccluded_px and full_px)
    weight: np.ndarray  # (n,) int64: extended-plane pixels outside the image the ray stands for (0 inside)
    seen: int  # pixels inside the image known to be covered without casting


@dataclass(frozen=True)
class Coverage:
    unoccluded_px: np.ndarray  # (m,) int64, one per planned instance
    full_px: np.ndarray  # (m,) int64


# Relative slack on the depth test that proves a pixel uncovered (float32 ray hits); keeps it conservative.
DEPTH_SLACK = 1e-4


def float32_at_most(x: float) -> np.float32:
    """The largest float32 <= x: for float32 d, ``d <= float32_at_most(x)`` decides ``d <= x`` exactly."""
    y = np.float32(x)
    return np.nextafter(y, np.float32(-np.inf)) if y > x else y


def _outside_samples(box: tuple[int, int, int, int], W: int, H: int,
                     max_outside_rays: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Block samples of the box's pixels outside the W x H image: columns, rows and pixels each stands for.

    Only blocks that reach outside the image are generated: those in a row band or a column band
    that does (a block lies wholly inside exactly when both of its bands do).
    """
    c0, r0, c1, r1 = box
    n_in = max(0, min(c1, W - 1) - max(c0, 0) + 1) * max(0, min(r1, H - 1) - max(r0, 0) + 1)
    outside_area = (c1 - c0 + 1) * (r1 - r0 + 1) - n_in
    if outside_area == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64)
    stride = max(1, int(np.ceil(np.sqrt(outside_area / max_outside_rays))))
    cs, cn, cn_img = _blocks(c0, c1, W, stride)
    rs, rn, rn_img = _blocks(r0, r1, H, stride)
    r_out, c_out = rn_img < rn, cn_img < cn
    ri = np.concatenate([np.repeat(np.flatnonzero(r_out), len(cs)), np.repeat(np.flatnonzero(~r_out), c_out.sum())])
    ci = np.concatenate([np.tile(np.arange(len(cs)), r_out.sum()), np.tile(np.flatnonzero(c_out), (~r_out).sum())])
    return cs[ci], rs[ri], rn[ri] * cn[ci] - rn_img[ri] * cn_img[ci]


def plan_rays(k: int, box: np.ndarray, z_max: float, frame: FrameCast, max_outside_rays: int,
              visible: int, visible_box: np.ndarray) -> RayPlan:
    """The rays that decide instance k's coverage within its pixel box ``box`` [c0, r0, c1, r1] (inclusive).

    Inside the image the first hits decide most pixels without casting: a pixel whose first hit is
    this instance is covered; a pixel with no hit, or whose first hit lies beyond the instance's
    deepest vertex ``z_max``, is not (the instance would have been hit first). Only the remaining
    pixels, where something nearer may hide it, need a ray. Outside the image: one ray per block.
    ``visible`` / ``visible_box`` (its first-hit pixels and their box [c0, r0, c1 + 1, r1 + 1], NaN if
    none) count the covered pixels without a pass when the window holds all of them.
    """
    c0, r0, c1, r1 = (int(x) for x in box)
    W, H = frame.camera.width, frame.camera.height
    ci0, ci1, ri0, ri1 = max(c0, 0), min(c1, W - 1), max(r0, 0), min(r1, H - 1)
    rr = cc = np.zeros(0, np.int64)
    seen = 0
    if ci0 <= ci1 and ri0 <= ri1:
        window = (slice(ri0, ri1 + 1), slice(ci0, ci1 + 1))
        inst = frame.instance[window]
        undecided = frame.depth[window] <= float32_at_most(z_max * (1 + DEPTH_SLACK))
        undecided &= inst != k
        rr, cc = np.nonzero(undecided)
        holds_all = visible == 0 or (visible_box[0] >= ci0 and visible_box[1] >= ri0
                                     and visible_box[2] <= ci1 + 1 and visible_box[3] <= ri1 + 1)
        seen = visible if holds_all else int(np.count_nonzero(inst == k))
    cols, rows, weight = _outside_samples((c0, r0, c1, r1), W, H, max_outside_rays)
    n_in = len(rr)
    return RayPlan(u=np.concatenate([cc + ci0, cols]).astype(np.float32) + np.float32(0.5),
                   v=np.concatenate([rr + ri0, rows]).astype(np.float32) + np.float32(0.5),
                   inside=np.arange(n_in + len(cols)) < n_in,
                   weight=np.concatenate([np.zeros(n_in, np.int64), weight]), seen=seen)


def _concat(plans: list[RayPlan], field: str, dtype: type) -> np.ndarray:
    return np.concatenate([getattr(p, field) for p in plans]) if plans else np.zeros(0, dtype)


def frame_coverage(caster: MeshCaster, frame: FrameCast, instance_ids: list[int], plans: list[RayPlan]) -> Coverage:
    """unoccluded_px and full_px of each planned instance: every plan's rays cast against its instance alone."""
    counts = np.array([len(p.u) for p in plans], dtype=np.int64)
    owner = np.repeat(np.arange(len(plans)), counts)
    hit = caster.covered(instance_ids, counts, frame.camera, frame.world_to_cam, frame.near,
                         _concat(plans, "u", np.float32), _concat(plans, "v", np.float32))
    seen = np.array([p.seen for p in plans], dtype=np.int64)
    inside_hits = np.bincount(owner[hit & _concat(plans, "inside", bool)], minlength=len(plans))
    outside = np.bincount(owner[hit], weights=_concat(plans, "weight", np.int64)[hit], minlength=len(plans))
    unoccluded = seen + inside_hits.astype(np.int64)
    return Coverage(unoccluded, unoccluded + np.rint(outside).astype(np.int64))
