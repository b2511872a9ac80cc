"""Per frame, per instance visibility (docs/visibility.md), one Parquet table per scene.

For every frame, at the working resolution (long side ``visibility.long_side``):
- ``visible_px``: pixels whose first hit on the WHOLE mesh is a face of the instance (one cast);
- ``unoccluded_px``: pixels inside the image the instance covers when cast ALONE (its faces only);
- ``full_px``: pixels it covers alone on the unbounded image plane (see :mod:`coverage`).
Faces belong to instances by ``Scene.face_instance`` (vertex majority, after the smallest-instance
rule of the reader). The near plane clips all three counts, so visible <= unoccluded <= full.
Rows: every (frame, instance) with ``full_px > 0``, sorted by (frame_id, instance_id).

The same first-hit cast also gives the frame's visible-surface voxels (docs/views.md), which the
view sampler reads instead of casting the frame again (docs/labels_performance.md).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ..atomic import atomic_file
from ..params import VisibilityParams
from ..scene.geometry import transform_points
from ..scene.types import Frame, Scene
from .coverage import (
    ExtremePoints,
    FrameCast,
    InstanceParts,
    frame_coverage,
    meets_image,
    part_bounds,
    pixel_boxes,
    plan_rays,
    projected_extents,
)
from .frame_pool import cast_threads, frame_workers, label_frames
from .overlap import FrameVoxelizer, FrameVoxels, VoxelGrid
from .backend import make_caster
from .mesh import check_frame

_F64_LIST = pa.list_(pa.float64())
SCHEMA = pa.schema([
    ("scene_id", pa.string()), ("frame_id", pa.string()), ("instance_id", pa.int64()), ("label", pa.string()),
    ("label_orig", pa.string()),  # the raw annotation label; ``label`` is the mapped one (docs/scannetpp.md)
    ("visible_px", pa.int64()), ("unoccluded_px", pa.int64()), ("full_px", pa.int64()),
    ("occlusion_ratio", pa.float64()), ("fov_ratio", pa.float64()), ("visibility", pa.float64()),
    ("bbox_2d", _F64_LIST), ("image_width", pa.int64()), ("image_height", pa.int64()),
    ("render_width", pa.int64()), ("render_height", pa.int64()), ("depth_median", pa.float64()),
    ("center_cam", _F64_LIST), ("min_cam", _F64_LIST), ("max_cam", _F64_LIST), ("is_visible", pa.bool_()),
])


@dataclass(frozen=True)
class FirstHitStats:
    """Per instance (in the order of ``ids``): visible pixels, their pixel box and median depth."""

    visible_px: np.ndarray  # (K,) int64
    box: np.ndarray  # (K, 4) float64 [col_min, row_min, col_max + 1, row_max + 1] in render pixels; NaN if none
    depth_median: np.ndarray  # (K,) float64; NaN if none


@dataclass(frozen=True)
class VisibilityResult:
    table: pd.DataFrame  # columns of SCHEMA, as read back from Parquet (lists are numpy arrays, null bbox None)
    seconds_per_frame: np.ndarray  # (n_frames,) wall time of each frame
    cpu_seconds_per_frame: np.ndarray  # (n_frames,) CPU time of each frame (its process, all threads)
    voxels: FrameVoxels | None = None  # each frame's visible-surface voxels, when a voxel size was given


@dataclass(frozen=True)
class FrameRows:
    """The rows of one frame, column by column (:func:`rows_table` makes one table of a scene's)."""

    frame_id: str
    instance_id: np.ndarray  # (n,) int64, ascending
    image_size: tuple[int, int]  # (width, height) of the frame's camera
    render_size: tuple[int, int]  # (width, height) of the cast
    visible_px: np.ndarray  # (n,) int64
    unoccluded_px: np.ndarray  # (n,) int64
    full_px: np.ndarray  # (n,) int64
    bbox: np.ndarray  # (n, 4) float64 in image pixels; NaN where nothing is visible
    depth_median: np.ndarray  # (n,) float64
    center_cam: np.ndarray  # (n, 3)
    min_cam: np.ndarray  # (n, 3)
    max_cam: np.ndarray  # (n, 3)


@dataclass(frozen=True)
class FrameLabels:
    rows: FrameRows  # the frame's rows of the table
    voxels: np.ndarray | None  # sorted unique voxel ids of its first hits (None without a voxel grid)


def first_hit_stats(inst: np.ndarray, depth: np.ndarray, K: int) -> FirstHitStats:
    """Group the pixels of the first-hit map ``inst`` (positions 0..K-1; K is background) by instance.

    One stable sort by position (a radix sort where positions fit 16 bits) groups the pixels with their
    pixel indices ascending: group sizes give visible_px, the first and last rows and the column
    extremes the pixel box, and a partition of each group's depths its median depth.
    """
    flat = inst.ravel()
    visible = np.bincount(flat, minlength=K + 1)[:K].astype(np.int64)
    box = np.full((K, 4), np.nan)
    median = np.full(K, np.nan)
    n_fg = int(visible.sum())
    if n_fg == 0:
        return FirstHitStats(visible, box, median)
    order = np.argsort(flat, kind="stable")[:n_fg]
    rows, cols = np.divmod(order, inst.shape[1])
    d = depth.ravel()[order]
    present = np.flatnonzero(visible)
    n = visible[present]
    start = (np.cumsum(visible) - visible)[present]
    box[present, 0] = np.minimum.reduceat(cols, start)
    box[present, 1] = rows[start]
    box[present, 2] = np.maximum.reduceat(cols, start) + 1
    box[present, 3] = rows[start + n - 1] + 1
    for j, a, m in zip(present, start, n):
        lo, hi = (m - 1) // 2, m // 2
        part = np.partition(d[a:a + m], (lo, hi))
        median[j] = 0.5 * (np.float64(part[lo]) + np.float64(part[hi]))
    return FirstHitStats(visible, box, median)


class SceneVisibility:
    """Everything per scene that every frame reuses: the casters, instance meshes, boxes and labels."""

    def __init__(self, scene: Scene, params: VisibilityParams, voxel_size: float | None = None,
                 cast_threads: int = 0):
        if params.near_plane <= 0:
            raise ValueError(f"visibility.near_plane must be > 0, got {params.near_plane}")
        self.scene, self.params = scene, params
        self.caster = make_caster(scene, params, cast_threads)
        self.ids = self.caster.instances.ids
        self.extreme = ExtremePoints.of(self.caster.instances)
        self.parts = InstanceParts.of(self.caster.instances, params.coverage_part_size) \
            if params.coverage_part_size is not None else None
        K = len(self.ids)
        owner = self.caster.face_instance
        # face -> position k of its instance; unowned faces and "no hit" (face -1: the last entry) -> K.
        # 16 bits where they fit: the per-pixel lookup writes half the bytes and the grouping sorts by radix.
        self.face_position = np.full(len(owner) + 1, K, dtype=np.uint16 if K < 2**16 else np.int32)
        own = np.flatnonzero(owner >= 0)
        self.face_position[own] = np.searchsorted(self.ids, owner[own])
        self.voxelizer = FrameVoxelizer(VoxelGrid.around(scene.vertices, voxel_size)) if voxel_size is not None else None
        # instances that own faces AND have a label and a box (faces of unknown ids only occlude)
        self.annotated = np.isin(self.ids, np.array(list(scene.instances), dtype=np.int64))
        boxes = [scene.instances[int(i)].box if a else None for i, a in zip(self.ids, self.annotated)]
        self.corners = np.array([b.corners() if b else np.full((8, 3), np.nan) for b in boxes]).reshape(-1, 8, 3)
        self.centroids = np.array([b.centroid if b else np.full(3, np.nan) for b in boxes]).reshape(-1, 3)

    def frame(self, frame: Frame) -> FrameLabels:
        """The rows of one frame and its visible-surface voxels, from ONE cast of its pixels."""
        return self.labels(frame, self.cast(frame))

    def cast(self, frame: Frame) -> FrameCast:
        """The frame's one first-hit cast at the working resolution."""
        check_frame(self.scene, frame)
        p = self.params
        cam = frame.camera.scaled_to_long_side(p.long_side)
        hits = self.caster.first_hits(cam, frame.world_to_cam, p.near_plane)
        return FrameCast(cam, frame.world_to_cam, p.near_plane, self.face_position[hits.face], hits.depth)

    def labels(self, frame: Frame, cast: FrameCast) -> FrameLabels:
        """The rows and voxels of a frame from its cast: every other count rides on it."""
        p, cam = self.params, cast.camera
        stats = first_hit_stats(cast.instance, cast.depth, len(self.ids))
        extents = projected_extents(self.caster.instances, self.extreme, cam, frame.world_to_cam, p.near_plane)
        boxes, nonempty = pixel_boxes(extents.uv)
        k = np.flatnonzero(self.annotated & nonempty)
        budget = np.where(meets_image(boxes, cam.width, cam.height), p.full_px_max_outside_rays,
                          p.full_px_max_offscreen_rays or p.full_px_max_outside_rays)
        parts = None if self.parts is None else \
            (self.parts, part_bounds(self.parts, cam, frame.world_to_cam, p.near_plane))
        plan = plan_rays(k, boxes, extents.z_max, budget, cast, stats.visible_px, stats.box, parts)
        cov = frame_coverage(self.caster, cast, self.ids[k].tolist(), plan)
        keep = cov.full_px > 0
        rows = self._rows(frame, cam.width, cam.height, stats, k[keep], cov.unoccluded_px[keep], cov.full_px[keep])
        voxels = self.voxelizer.frame_ids(cam, frame.world_to_cam, cast.depth) if self.voxelizer else None
        return FrameLabels(rows, voxels)

    def _rows(self, frame: Frame, width: int, height: int, stats: FirstHitStats, k: np.ndarray,
              unoccluded: np.ndarray, full: np.ndarray) -> FrameRows:
        """Rows of instances ``ids[k]`` (ascending) from their pixel counts."""
        scale = np.array([frame.camera.width / width, frame.camera.height / height] * 2)
        corners = transform_points(frame.world_to_cam, self.corners[k].reshape(-1, 3)).reshape(-1, 8, 3)
        return FrameRows(frame.frame_id, self.ids[k], (frame.camera.width, frame.camera.height), (width, height),
                         stats.visible_px[k], unoccluded, full, stats.box[k] * scale, stats.depth_median[k],
                         transform_points(frame.world_to_cam, self.centroids[k]), corners.min(axis=1),
                         corners.max(axis=1))


def rows_table(scene: Scene, params: VisibilityParams, rows: list[FrameRows]) -> pa.Table:
    """One table (SCHEMA, rows in the order given) of the rows of a scene's frames: each column built once."""
    if not rows:
        return SCHEMA.empty_table()
    cat = {f: np.concatenate([getattr(r, f) for r in rows])
           for f in ("instance_id", "visible_px", "unoccluded_px", "full_px", "bbox", "depth_median",
                     "center_cam", "min_cam", "max_cam")}
    frame = np.repeat(np.arange(len(rows)), [len(r.instance_id) for r in rows])
    image_width, image_height, width, height = (
        np.array([getattr(r, size)[a] for r in rows], dtype=np.int64)[frame]
        for size in ("image_size", "render_size") for a in (0, 1))
    ids, visible, unoccluded, full = cat["instance_id"], cat["visible_px"], cat["unoccluded_px"], cat["full_px"]
    with np.errstate(divide="ignore", invalid="ignore"):
        occlusion = np.where(unoccluded > 0, 1.0 - visible / unoccluded, np.nan)
    threshold = np.maximum(params.min_visible_fraction * width * height, params.min_visible_px)
    present, position = np.unique(ids, return_inverse=True)
    instances = [scene.instances[int(i)] for i in present]
    return pa.Table.from_arrays([
        pa.array([scene.scene_id], pa.string()).take(np.zeros(len(ids), np.int64)),
        pa.array([r.frame_id for r in rows], pa.string()).take(frame),
        pa.array(ids), pa.array([x.label for x in instances], pa.string()).take(position),
        pa.array([x.label_orig for x in instances], pa.string()).take(position),
        pa.array(visible), pa.array(unoccluded), pa.array(full),
        pa.array(occlusion), pa.array(1.0 - unoccluded / full), pa.array(visible / full),
        _lists(cat["bbox"], np.isnan(cat["bbox"][:, 0])), pa.array(image_width), pa.array(image_height),
        pa.array(width), pa.array(height), pa.array(cat["depth_median"]),
        _lists(cat["center_cam"]), _lists(cat["min_cam"]), _lists(cat["max_cam"]),
        pa.array(visible >= threshold),
    ], schema=SCHEMA)


def _lists(values: np.ndarray, null: np.ndarray | None = None) -> pa.ListArray:
    """A list<float64> column of the rows of ``values`` (n, m); rows where ``null`` is True are null."""
    n, m = values.shape
    offsets = pa.array(np.arange(0, (n + 1) * m, m, dtype=np.int32))
    return pa.ListArray.from_arrays(offsets, pa.array(values.ravel()), mask=None if null is None else pa.array(null))


def compute_visibility(scene: Scene, params: VisibilityParams,
                       progress: Callable[[int, int], None] | None = None,
                       voxel_size: float | None = None) -> VisibilityResult:
    """The visibility table of every frame of ``scene``; ``progress(i, n)`` after each frame.

    With ``voxel_size`` (params.yaml ``views.voxel_size``) the result also holds every frame's
    visible-surface voxels from the same cast, for the view sampler. Frames stream through
    ``visibility.workers`` processes (:mod:`frame_pool`): of past frames only their rows and voxel
    ids are kept, never their images; the output does not depend on the number of workers.
    """
    workers = min(frame_workers(params.workers), max(1, len(scene.frames)))  # each worker builds an engine
    engine_args = (scene, params, voxel_size, cast_threads(workers))
    rows, voxels, seconds, cpu = [], [], [], []
    for i, timed in enumerate(label_frames(SceneVisibility, engine_args, scene.frames, workers)):
        rows.append(timed.result.rows)
        voxels.append(timed.result.voxels)
        seconds.append(timed.wall_seconds)
        cpu.append(timed.cpu_seconds)
        if progress:
            progress(i + 1, len(scene.frames))
    table = rows_table(scene, params, rows).sort_by([("frame_id", "ascending"), ("instance_id", "ascending")])
    frame_voxels = FrameVoxels.of([f.frame_id for f in scene.frames], voxels) if voxel_size is not None else None
    return VisibilityResult(table.to_pandas(), np.asarray(seconds), np.asarray(cpu), frame_voxels)


def write_visibility(table: pd.DataFrame, path: Path) -> None:
    """Write the table atomically with the exact column types of SCHEMA."""
    with atomic_file(path) as tmp:
        pq.write_table(pa.Table.from_pandas(table, schema=SCHEMA, preserve_index=False), tmp)


def read_visibility(path: Path) -> pd.DataFrame:
    return pq.read_table(path, schema=SCHEMA).to_pandas()
