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
from .mesh import Caster, InstanceMeshes


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
    points: np.ndarray  # (P, 3) their coordinates, gathered once (every frame transforms them)

    @classmethod
    def of(cls, meshes: InstanceMeshes) -> "ExtremePoints":
        ends = np.append(meshes.vertex_start[1:], len(meshes.points))
        return cls.gathered(meshes, [_hull_points(meshes.points[a:b]) + a for a, b in zip(meshes.vertex_start, ends)])

    @classmethod
    def gathered(cls, meshes: InstanceMeshes, groups: list[np.ndarray]) -> "ExtremePoints":
        """The points of ``groups`` (indices into ``meshes.points``), group after group."""
        sizes = np.array([len(x) for x in groups], dtype=np.int64)
        index = np.concatenate(groups) if groups else np.zeros(0, np.int64)
        return cls(index, np.cumsum(sizes) - sizes, meshes.points[index])


def _hull_points(points: np.ndarray) -> np.ndarray:
    """Sorted local indices of the hull vertices and of the points qhull finds on the hull ("Qc")."""
    try:
        hull = ConvexHull(points)
    except (QhullError, ValueError):
        return np.arange(len(points))
    return np.unique(np.concatenate([hull.vertices, hull.coplanar[:, 0]]))


@dataclass(frozen=True)
class InstanceParts:
    """Each instance's faces grouped by the cell of ``size`` metres that holds their centroid.

    Per frame, a part's projected box and deepest point bound where its instance can lie behind a
    nearer first hit far more tightly than the whole instance's box and deepest vertex (a table's
    far end no longer makes every pixel in front of its near end undecided).
    """

    owner: np.ndarray  # (P,) position of each part's instance, ascending
    first: np.ndarray  # (K + 1,) the parts of instance j are first[j]:first[j + 1]
    extreme: ExtremePoints  # hull points of each part (its ``start`` is per part)

    @classmethod
    def of(cls, meshes: InstanceMeshes, size: float) -> "InstanceParts":
        if not size > 0:
            raise ValueError(f"visibility.coverage_part_size must be > 0 (or null), got {size}")
        K = len(meshes.ids)
        face_end = np.append(meshes.face_start[1:], len(meshes.faces))
        owner, points = [], []
        for j in range(K):
            faces = meshes.faces[meshes.face_start[j]:face_end[j]]
            cell = np.floor(meshes.points[faces].mean(axis=1) / size).astype(np.int64)
            _, group = np.unique(cell, axis=0, return_inverse=True)
            for g in range(int(group.max()) + 1 if len(faces) else 0):
                vertices = np.unique(faces[group.ravel() == g])
                points.append(vertices[_hull_points(meshes.points[vertices])])
                owner.append(j)
        owner = np.array(owner, dtype=np.int64)
        return cls(owner, np.searchsorted(owner, np.arange(K + 1)), ExtremePoints.gathered(meshes, points))


@dataclass(frozen=True)
class PartBounds:
    """The parts of one frame: pixel box [c0, r0, c1, r1] grown by one pixel (``box_ok`` False: none),
    deepest camera depth, and whether the part crosses the near plane (then it may cover any pixel
    of its instance's box)."""

    box: np.ndarray  # (P, 4) int64
    box_ok: np.ndarray  # (P,) bool
    z_max: np.ndarray  # (P,)
    straddles: np.ndarray  # (P,) bool


def part_bounds(parts: InstanceParts, camera: Camera, world_to_cam: np.ndarray, near: float) -> PartBounds:
    if len(parts.owner) == 0:
        return PartBounds(np.zeros((0, 4), np.int64), np.zeros(0, bool), np.zeros(0), np.zeros(0, bool))
    p = transform_points(world_to_cam, parts.extreme.points)
    z_min, z_max = (op.reduceat(p[:, 2], parts.extreme.start) for op in (np.minimum, np.maximum))
    box, ok = pixel_boxes(_extents(camera, p, p[:, 2] >= near, parts.extreme.start))
    box[:, :2] -= 1
    box[:, 2:] += 1  # a pixel of margin: the box only spares rays, it never decides a hit
    return PartBounds(box, ok, z_max, (z_min < near) & (z_max >= near))


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
    p = transform_points(world_to_cam, extreme.points)
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


def _ragged_arange(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For segments of ``counts`` entries: each entry's segment and its position 0..count-1 in it."""
    segment = np.repeat(np.arange(len(counts)), counts)
    return segment, np.arange(len(segment)) - np.repeat(np.cumsum(counts) - counts, counts)


@dataclass(frozen=True)
class _Blocks:
    """Stride-aligned blocks along one axis of several boxes, box after box."""

    owner: np.ndarray  # box of each block
    sample: np.ndarray  # pixel index of the block's ray (nearest its centre)
    n: np.ndarray  # pixels of the block inside the box
    n_img: np.ndarray  # ... that also lie inside the image

    @classmethod
    def along(cls, lo: np.ndarray, hi: np.ndarray, size: int, stride: np.ndarray) -> "_Blocks":
        owner, b = _ragged_arange(hi // stride - lo // stride + 1)
        s = stride[owner]
        start = s * (lo[owner] // s + b)
        first, last = np.maximum(start, lo[owner]), np.minimum(start + s - 1, hi[owner])
        return cls(owner, (first + last) // 2, last - first + 1, _overlap(first, last, 0, size - 1))


def _pairs(rows: np.ndarray, row_owner: np.ndarray, cols: np.ndarray, col_owner: np.ndarray,
           n_boxes: int) -> tuple[np.ndarray, np.ndarray]:
    """Every (row block, column block) of the same box: indices into ``rows`` and ``cols`` (owners ascending)."""
    per_box = np.bincount(col_owner, minlength=n_boxes)
    first = np.cumsum(per_box) - per_box
    r, k = _ragged_arange(per_box[row_owner])
    return rows[r], cols[first[row_owner[r]] + k]


def outside_samples(boxes: np.ndarray, budget: np.ndarray, W: int, H: int) -> tuple[np.ndarray, ...]:
    """Block samples of the boxes' pixels outside the W x H image, for all boxes [c0, r0, c1, r1] at once:
    each sample's box, column, row and the pixels outside the image it stands for.

    Per box, the stride is the smallest that keeps the samples of its outside area near ``budget``;
    only blocks that reach outside the image are generated: those of a row band that does, with every
    column band, and those of the other row bands with a column band that does.
    """
    c0, r0, c1, r1 = (boxes[:, i] for i in range(4))
    outside_area = (c1 - c0 + 1) * (r1 - r0 + 1) - _overlap(c0, c1, 0, W - 1) * _overlap(r0, r1, 0, H - 1)
    some = np.flatnonzero(outside_area > 0)
    stride = np.maximum(1, np.ceil(np.sqrt(outside_area[some] / budget[some]))).astype(np.int64)
    col = _Blocks.along(c0[some], c1[some], W, stride)
    row = _Blocks.along(r0[some], r1[some], H, stride)
    r_out, c_out = row.n_img < row.n, col.n_img < col.n
    ra, ca = _pairs(np.flatnonzero(r_out), row.owner[r_out], np.arange(len(col.owner)), col.owner, len(some))
    rb, cb = _pairs(np.flatnonzero(~r_out), row.owner[~r_out], np.flatnonzero(c_out), col.owner[c_out], len(some))
    ri, ci = np.concatenate([ra, rb]), np.concatenate([ca, cb])
    weight = row.n[ri] * col.n[ci] - row.n_img[ri] * col.n_img[ci]
    return some[row.owner[ri]], col.sample[ci], row.sample[ri], weight


@dataclass(frozen=True)
class FrameCast:
    """One frame at the working resolution and its first hits on the whole mesh."""

    camera: Camera
    world_to_cam: np.ndarray
    near: float
    instance: np.ndarray  # (H, W) position k in ``InstanceMeshes.ids`` of the first hit (uint16 below 2**16
    # instances, else int32); K for background / no hit
    depth: np.ndarray  # (H, W) float32 camera depth of the first hit; NaN for no hit


@dataclass(frozen=True)
class RayPlan:
    """The rays that decide the coverage of m instances in one frame, instance after instance."""

    counts: np.ndarray  # (m,) rays of each instance
    u: np.ndarray  # (n,) float32 pixel centre (pixel index + 0.5: exact)
    v: np.ndarray  # (n,) float32
    inside: np.ndarray  # (n,) bool: a pixel inside the image (counts for unoccluded_px and full_px)
    weight: np.ndarray  # (n,) int64: extended-plane pixels outside the image the ray stands for (0 inside)
    seen: np.ndarray  # (m,) pixels inside the image known to be covered without casting


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


def _inside_rays(k: int, box: np.ndarray, z_max: float, frame: FrameCast, visible: int,
                 visible_box: np.ndarray, parts: tuple[InstanceParts, PartBounds] | None) -> tuple[np.ndarray, ...]:
    """The pixels of instance k's box inside the image that need a ray (columns, rows) and the pixels
    known to be covered.

    The first hits decide most pixels without casting: a pixel whose first hit is this instance is
    covered; a pixel with no hit, or whose first hit lies beyond the instance's deepest vertex
    ``z_max`` (with ``parts``: beyond the deepest point of every part whose box holds the pixel), is
    not: the instance would have been hit first. Only the remaining pixels, where something nearer
    may hide it, need a ray. ``visible`` / ``visible_box`` (its first-hit pixels and their box
    [c0, r0, c1 + 1, r1 + 1]) count the covered pixels without a pass when the window holds all of them.
    """
    H, W = frame.instance.shape
    ci0, ri0, ci1, ri1 = max(int(box[0]), 0), max(int(box[1]), 0), min(int(box[2]), W - 1), min(int(box[3]), H - 1)
    window = (slice(ri0, ri1 + 1), slice(ci0, ci1 + 1))
    inst = frame.instance[window]
    if parts is None:
        undecided = frame.depth[window] <= float32_at_most(z_max * (1 + DEPTH_SLACK))
    else:
        undecided = frame.depth[window] <= _part_depths(k, (ci0, ri0, ci1, ri1), frame.near, *parts)
    undecided &= inst != k
    rr, cc = np.nonzero(undecided)
    holds_all = visible == 0 or (visible_box[0] >= ci0 and visible_box[1] >= ri0
                                 and visible_box[2] <= ci1 + 1 and visible_box[3] <= ri1 + 1)
    return cc + ci0, rr + ri0, visible if holds_all else int(np.count_nonzero(inst == k))


def _part_depths(k: int, window: tuple[int, int, int, int], near: float, parts: InstanceParts,
                 bounds: PartBounds) -> np.ndarray:
    """(rows, cols) of the window: the largest float32 bound on the depth at which a part of instance k
    covering the pixel could lie (-inf where no part's box holds it)."""
    c0, r0, c1, r1 = window
    bound = np.full((r1 - r0 + 1, c1 - c0 + 1), -np.inf, dtype=np.float32)
    for c in range(parts.first[k], parts.first[k + 1]):
        if bounds.z_max[c] < near:
            continue  # wholly inside the near plane: never hit
        if bounds.straddles[c]:
            a0, b0, a1, b1 = c0, r0, c1, r1
        elif bounds.box_ok[c]:
            a0, b0, a1, b1 = max(bounds.box[c, 0], c0), max(bounds.box[c, 1], r0), \
                min(bounds.box[c, 2], c1), min(bounds.box[c, 3], r1)
        else:
            continue
        if a0 <= a1 and b0 <= b1:
            region = bound[b0 - r0:b1 - r0 + 1, a0 - c0:a1 - c0 + 1]
            np.maximum(region, float32_at_most(bounds.z_max[c] * (1 + DEPTH_SLACK)), out=region)
    return bound


def plan_rays(ks: np.ndarray, boxes: np.ndarray, z_max: np.ndarray, budget: np.ndarray, frame: FrameCast,
              visible: np.ndarray, visible_box: np.ndarray,
              parts: tuple[InstanceParts, PartBounds] | None = None) -> RayPlan:
    """The rays of instances ``ks`` (positions; their pixel boxes ``boxes`` [c0, r0, c1, r1] inclusive,
    deepest vertices ``z_max`` and outside-ray budgets, all indexed by position): inside the image the
    undecided pixels (:func:`_inside_rays`), outside one ray per block (:func:`outside_samples`)."""
    W, H = frame.camera.width, frame.camera.height
    m = len(ks)
    seen = np.zeros(m, np.int64)
    cols, rows, owner = [], [], []
    for i in np.flatnonzero(meets_image(boxes[ks], W, H)):
        j = int(ks[i])
        c, r, seen[i] = _inside_rays(j, boxes[j], float(z_max[j]), frame, int(visible[j]), visible_box[j], parts)
        cols.append(c)
        rows.append(r)
        owner.append(np.full(len(c), i))
    n_inside = sum(len(c) for c in cols)
    o_owner, o_cols, o_rows, o_weight = outside_samples(boxes[ks], budget[ks], W, H)
    owner = np.concatenate(owner + [o_owner]).astype(np.int64)
    order = np.argsort(owner.astype(np.uint16) if m < 2**16 else owner, kind="stable")  # instance after instance
    inside = np.arange(len(owner)) < n_inside
    weight = np.concatenate([np.zeros(n_inside, np.int64), o_weight])
    u = np.concatenate(cols + [o_cols])[order].astype(np.float32) + np.float32(0.5)
    v = np.concatenate(rows + [o_rows])[order].astype(np.float32) + np.float32(0.5)
    return RayPlan(np.bincount(owner, minlength=m), u, v, inside[order], weight[order], seen)


def frame_coverage(caster: Caster, frame: FrameCast, instance_ids: list[int], plan: RayPlan) -> Coverage:
    """unoccluded_px and full_px of each planned instance: its rays cast against the instance alone."""
    owner = np.repeat(np.arange(len(plan.counts)), plan.counts)
    hit = caster.covered(instance_ids, plan.counts, frame.camera, frame.world_to_cam, frame.near, plan.u, plan.v)
    inside_hits = np.bincount(owner[hit & plan.inside], minlength=len(plan.counts))
    outside = np.bincount(owner[hit], weights=plan.weight[hit], minlength=len(plan.counts))
    unoccluded = plan.seen + inside_hits.astype(np.int64)
    return Coverage(unoccluded, unoccluded + np.rint(outside).astype(np.int64))
