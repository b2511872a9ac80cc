"""Per frame, per instance visibility (docs/visibility.md), one Parquet table per scene.

For every frame, at the working resolution (long side ``visibility.long_side``):
- ``visible_px``: pixels whose first hit on the WHOLE mesh is a face of the instance (one Open3D cast);
- ``unoccluded_px``: pixels inside the image the instance covers when cast ALONE (its own Open3D scene);
- ``full_px``: pixels it covers alone on the unbounded image plane (see :mod:`coverage`).
Faces belong to instances by ``Scene.face_instance`` (vertex majority, after the smallest-instance
rule of the reader). The near plane clips all three counts, so visible <= unoccluded <= full.
Rows: every (frame, instance) with ``full_px > 0``, sorted by (frame_id, instance_id).
"""
from __future__ import annotations

import time
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
from .coverage import FrameCast, frame_coverage, pixel_boxes, plan_rays, projected_extents
from .raycast import FirstHits, MeshCaster, check_frame

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


def first_hit_instance(hits: FirstHits, face_instance: np.ndarray) -> np.ndarray:
    """(H, W) instance id of each pixel's first hit; -1 for background or no hit."""
    return np.append(face_instance, -1)[hits.face]  # face -1 (no hit) picks the appended -1


def first_hit_stats(inst: np.ndarray, depth: np.ndarray, ids: np.ndarray) -> FirstHitStats:
    """Group the pixels of the first-hit instance map by instance (``ids``: every id of the map, ascending).

    One sort orders the instance pixels by (instance, depth): group sizes give visible_px, the middle
    elements the median depth, and segment-wise min/max the pixel box.
    """
    K = len(ids)
    pix = np.flatnonzero(inst.ravel() >= 0)
    k = np.searchsorted(ids, inst.ravel()[pix])
    d = depth.ravel()[pix]
    visible = np.bincount(k, minlength=K).astype(np.int64)
    box = np.full((K, 4), np.nan)
    median = np.full(K, np.nan)
    if len(pix) == 0:
        return FirstHitStats(visible, box, median)
    order = np.argsort(k + d / (2.0 * d.max()))  # depth / (2 max) lies in (0, 0.5]: sorts by k, then depth
    rows, cols = np.divmod(pix[order], inst.shape[1])
    d = d[order]
    present = visible > 0
    start = (np.cumsum(visible) - visible)[present]
    n = visible[present]
    for j, (op, values, shift) in enumerate(((np.minimum, cols, 0), (np.minimum, rows, 0),
                                             (np.maximum, cols, 1), (np.maximum, rows, 1))):
        box[present, j] = op.reduceat(values, start) + shift
    median[present] = 0.5 * (d[start + (n - 1) // 2] + d[start + n // 2])
    return FirstHitStats(visible, box, median)


class SceneVisibility:
    """Everything per scene that every frame reuses: the casters, instance meshes, boxes and labels."""

    def __init__(self, scene: Scene, params: VisibilityParams):
        if params.near_plane <= 0:
            raise ValueError(f"visibility.near_plane must be > 0, got {params.near_plane}")
        self.scene, self.params = scene, params
        self.caster = MeshCaster(scene)
        self.ids = self.caster.instances.ids
        # instances that own faces AND have a label and a box (faces of unknown ids only occlude)
        self.annotated = np.isin(self.ids, np.array(list(scene.instances), dtype=np.int64))
        boxes = [scene.instances[int(i)].box if a else None for i, a in zip(self.ids, self.annotated)]
        self.corners = np.array([b.corners() if b else np.full((8, 3), np.nan) for b in boxes]).reshape(-1, 8, 3)
        self.centroids = np.array([b.centroid if b else np.full(3, np.nan) for b in boxes]).reshape(-1, 3)

    def frame(self, frame: Frame) -> pd.DataFrame:
        """The rows of one frame."""
        check_frame(self.scene, frame)
        p = self.params
        cam = frame.camera.scaled_to_long_side(p.long_side)
        hits = self.caster.first_hits(cam, frame.world_to_cam, p.near_plane)
        cast = FrameCast(cam, frame.world_to_cam, p.near_plane, first_hit_instance(hits, self.caster.face_instance),
                         hits.depth)
        stats = first_hit_stats(cast.instance, hits.depth, self.ids)
        extents = projected_extents(self.caster.instances, cam, frame.world_to_cam, p.near_plane)
        boxes, nonempty = pixel_boxes(extents.uv)
        k = np.flatnonzero(self.annotated & nonempty)
        plans = [plan_rays(int(self.ids[j]), boxes[j], float(extents.z_max[j]), cast, p.full_px_max_outside_rays)
                 for j in k]
        cov = frame_coverage(self.caster, cast, self.ids[k].tolist(), plans)
        keep = cov.full_px > 0
        return self._rows(frame, cam.width, cam.height, stats, k[keep], cov.unoccluded_px[keep], cov.full_px[keep])

    def _rows(self, frame: Frame, width: int, height: int, stats: FirstHitStats, k: np.ndarray,
              unoccluded: np.ndarray, full: np.ndarray) -> pd.DataFrame:
        """Table rows of instances ``ids[k]`` (ascending) from their pixel counts."""
        ids = self.ids[k].tolist()
        visible = stats.visible_px[k]
        with np.errstate(divide="ignore", invalid="ignore"):
            occlusion = np.where(unoccluded > 0, 1.0 - visible / unoccluded, np.nan)
        scale = np.array([frame.camera.width / width, frame.camera.height / height] * 2)
        bbox = stats.box[k] * scale
        corners = transform_points(frame.world_to_cam, self.corners[k].reshape(-1, 3)).reshape(-1, 8, 3)
        threshold = max(self.params.min_visible_fraction * width * height, self.params.min_visible_px)
        n = len(ids)
        return pd.DataFrame({
            "scene_id": [self.scene.scene_id] * n, "frame_id": [frame.frame_id] * n,
            "instance_id": np.array(ids, dtype=np.int64), "label": [self.scene.instances[i].label for i in ids],
            "label_orig": [self.scene.instances[i].label_orig for i in ids],
            "visible_px": visible, "unoccluded_px": unoccluded, "full_px": full,
            "occlusion_ratio": occlusion, "fov_ratio": 1.0 - unoccluded / full, "visibility": visible / full,
            "bbox_2d": [None if np.isnan(b[0]) else b.tolist() for b in bbox],
            "image_width": np.full(n, frame.camera.width, dtype=np.int64),
            "image_height": np.full(n, frame.camera.height, dtype=np.int64),
            "render_width": np.full(n, width, dtype=np.int64), "render_height": np.full(n, height, dtype=np.int64),
            "depth_median": stats.depth_median[k],
            "center_cam": transform_points(frame.world_to_cam, self.centroids[k]).tolist(),
            "min_cam": corners.min(axis=1).tolist(), "max_cam": corners.max(axis=1).tolist(),
            "is_visible": visible >= threshold,
        })


def compute_visibility(scene: Scene, params: VisibilityParams,
                       progress: Callable[[int, int], None] | None = None) -> VisibilityResult:
    """The visibility table of every frame of ``scene``; ``progress(i, n)`` after each frame."""
    engine = SceneVisibility(scene, params)
    parts, seconds = [], []
    for i, frame in enumerate(scene.frames):
        t0 = time.perf_counter()
        rows = engine.frame(frame)
        seconds.append(time.perf_counter() - t0)
        if len(rows):
            parts.append(pa.Table.from_pandas(rows, schema=SCHEMA, preserve_index=False))
        if progress:
            progress(i + 1, len(scene.frames))
    table = pa.concat_tables(parts) if parts else SCHEMA.empty_table()
    table = table.sort_by([("frame_id", "ascending"), ("instance_id", "ascending")])
    return VisibilityResult(table.to_pandas(), np.asarray(seconds))


def write_visibility(table: pd.DataFrame, path: Path) -> None:
    """Write the table atomically with the exact column types of SCHEMA."""
    with atomic_file(path) as tmp:
        pq.write_table(pa.Table.from_pandas(table, schema=SCHEMA, preserve_index=False), tmp)


def read_visibility(path: Path) -> pd.DataFrame:
    return pq.read_table(path, schema=SCHEMA).to_pandas()
