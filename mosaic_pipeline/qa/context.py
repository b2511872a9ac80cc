"""What the task generators see: one scene's lookups (``SceneIndex``) and one view sample (``SampleContext``).

Vocabulary used by every family:
- *seen* in a frame: the instance has ``visible_px > 0`` there; *visible*: ``is_visible`` (the
  visibility stage's min-visible threshold); *counted*: visible with at least ``count_min_visible_px``
  visible pixels (given at ``count_reference_size``, scaled by the render area of the table), what
  the count questions count (docs/tasks.md);
- *marginal* in a sample: seen in some frame of the sample but visible in none (questions whose
  answer would hinge on such an instance are not asked);
- *occluded target* in frame k: ``occlusion_ratio >= occluded_ratio`` or ``fov_ratio >= occluded_ratio``
  or not visible in frame k, while visible in another frame of the sample, and *in view* of frame k:
  its box in front of the camera and projecting into the image (hidden or cut by the border, never
  entirely outside the frame; docs/tasks.md);
- *reference* of an instance: ``the {label}`` when no other instance of its label is seen in the
  sample, else ``the {label}(x,y)`` with the centre of its visible box in the query frame (original
  image pixels), else no reference (the question is skipped);
- *in front* of a camera: all 8 box corners beyond the near plane (relations need it).
Structural labels (``qa.excluded_labels``) and instances outside the release's class list
(``Instance.qa_eligible``, docs/scannetpp.md) are dropped here, so no family ever asks about them.
"""
from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd

from ..params import QAParams
from ..scene.types import Frame, Scene
from ..scene.geometry import project
from .relations import box_in_view, camera_extents

Extent = tuple[tuple[float, float, float], tuple[float, float, float]]  # (min, max) in camera coordinates


@dataclass(frozen=True)
class Observation:
    """One instance in one frame (a row of the visibility table)."""

    visible_px: int
    occlusion_ratio: float
    fov_ratio: float
    visibility: float
    bbox_2d: tuple[float, float, float, float] | None
    is_visible: bool
    render_area: int  # pixels of the image visible_px was counted on

    @property
    def bbox_center(self) -> tuple[int, int]:
        """Centre of the visible-pixel box, rounded half up to integer original-image pixels."""
        x0, y0, x1, y1 = self.bbox_2d
        return math.floor((x0 + x1) / 2 + 0.5), math.floor((y0 + y1) / 2 + 0.5)

    @property
    def bbox_diag(self) -> float:
        x0, y0, x1, y1 = self.bbox_2d
        return math.hypot(x1 - x0, y1 - y0)


def _observation(row: dict) -> Observation:
    box = row["bbox_2d"]
    return Observation(
        int(row["visible_px"]), float(row["occlusion_ratio"]), float(row["fov_ratio"]), float(row["visibility"]),
        None if box is None else tuple(float(v) for v in box), bool(row["is_visible"]),
        int(row["render_width"]) * int(row["render_height"]))


class SceneIndex:
    """Per-scene lookups shared by all samples: labels, boxes, observations, camera-frame extents."""

    def __init__(self, scene: Scene, visibility: pd.DataFrame, params: QAParams, near_plane: float):
        self.scene = scene
        self.params = params
        self.near_plane = near_plane
        excluded = set(params.excluded_labels)
        self.labels = {iid: inst.label for iid, inst in sorted(scene.instances.items())
                       if inst.label not in excluded and inst.qa_eligible}
        self.ids = np.array(sorted(self.labels), dtype=np.int64)
        self.corners = np.stack([scene.instances[i].box.corners() for i in self.ids]) if len(self.ids) else \
            np.zeros((0, 8, 3))
        self.frames: dict[str, Frame] = {f.frame_id: f for f in scene.frames}
        self.scene_ids_by_label: dict[str, tuple[int, ...]] = _group(self.labels)
        self.obs: dict[str, dict[int, Observation]] = defaultdict(dict)
        columns = ["frame_id", "instance_id", "visible_px", "occlusion_ratio", "fov_ratio", "visibility",
                   "bbox_2d", "is_visible", "render_width", "render_height"]
        for row in visibility[columns].to_dict("records"):
            if int(row["instance_id"]) in self.labels:
                self.obs[row["frame_id"]][int(row["instance_id"])] = _observation(row)
        self._extents: dict[str, dict[int, Extent]] = {}
        self._in_view: dict[str, dict[int, bool]] = {}
        self._row = {int(i): n for n, i in enumerate(self.ids)}

    def extents(self, frame_id: str) -> dict[int, Extent]:
        """Camera-frame box extents of every instance in ``frame_id``."""
        if frame_id not in self._extents:
            lo, hi = camera_extents(self.corners, self.frames[frame_id].world_to_cam)
            self._extents[frame_id] = {int(i): (tuple(a), tuple(b)) for i, a, b in zip(self.ids, lo.tolist(), hi.tolist())}
        return self._extents[frame_id]


    def in_view(self, frame_id: str, iid: int) -> bool:
        """The instance's box lies in front of camera ``frame_id`` and projects into the image."""
        memo = self._in_view.setdefault(frame_id, {})
        if iid not in memo:
            frame = self.frames[frame_id]
            uv, z = project(frame.camera, frame.world_to_cam, self.corners[self._row[iid]])
            memo[iid] = bool(z.min() > self.near_plane) and box_in_view(uv, frame.camera.width, frame.camera.height)
        return memo[iid]


def _group(labels: dict[int, str]) -> dict[str, tuple[int, ...]]:
    out: dict[str, list[int]] = defaultdict(list)
    for iid, label in sorted(labels.items()):
        out[label].append(iid)
    return {label: tuple(ids) for label, ids in sorted(out.items())}


@dataclass
class SampleContext:
    """One view sample: frames at positions 0..n-1 and everything the families ask about them."""

    index: SceneIndex
    sample_id: int
    frame_ids: tuple[str, ...]
    pairwise_overlaps: tuple[float, ...]
    max_overlap: float
    mean_overlap: float
    overlap_level: str
    memo: dict = field(default_factory=dict)  # per-sample results shared by the families (references, pairs)

    @property
    def n(self) -> int:
        return len(self.frame_ids)

    @property
    def params(self) -> QAParams:
        return self.index.params

    def label(self, iid: int) -> str:
        return self.index.labels[iid]

    def frame(self, k: int) -> Frame:
        return self.index.frames[self.frame_ids[k]]

    @cached_property
    def obs(self) -> tuple[dict[int, Observation], ...]:
        return tuple(self.index.obs.get(f, {}) for f in self.frame_ids)

    def observation(self, k: int, iid: int) -> Observation | None:
        return self.obs[k].get(iid)

    def visible_in(self, k: int, iid: int) -> bool:
        o = self.obs[k].get(iid)
        return o is not None and o.is_visible

    def counted_in(self, k: int, iid: int) -> bool:
        """Visible in frame k with at least the count threshold of visible pixels (module docstring)."""
        o = self.obs[k].get(iid)
        if o is None or not o.is_visible:
            return False
        ref_w, ref_h = self.params.count_reference_size
        return o.visible_px >= self.params.count_min_visible_px * o.render_area / (ref_w * ref_h)

    def seen_in(self, k: int, iid: int) -> bool:
        o = self.obs[k].get(iid)
        return o is not None and o.visible_px > 0

    @cached_property
    def seen_by_label(self) -> dict[str, tuple[int, ...]]:
        seen = {iid: self.label(iid) for k in range(self.n) for iid, o in self.obs[k].items() if o.visible_px > 0}
        return _group(seen)

    @cached_property
    def visible_by_label(self) -> dict[str, tuple[int, ...]]:
        vis = {iid: self.label(iid) for k in range(self.n) for iid, o in self.obs[k].items() if o.is_visible}
        return _group(vis)

    @cached_property
    def counted_by_label(self) -> dict[str, tuple[int, ...]]:
        counted = {iid: self.label(iid) for k in range(self.n) for iid in self.obs[k] if self.counted_in(k, iid)}
        return _group(counted)

    @cached_property
    def visible_ids(self) -> tuple[int, ...]:
        return tuple(sorted(i for ids in self.visible_by_label.values() for i in ids))

    def visible_ids_in(self, k: int) -> tuple[int, ...]:
        return tuple(sorted(i for i, o in self.obs[k].items() if o.is_visible))

    def has_marginal(self, label: str) -> bool:
        """An instance of ``label`` is seen in the sample but visible in no frame of it."""
        return len(self.seen_by_label.get(label, ())) != len(self.visible_by_label.get(label, ()))

    def has_uncounted(self, label: str) -> bool:
        """An instance of ``label`` is seen in the sample but counted in no frame of it (too small to count)."""
        return len(self.seen_by_label.get(label, ())) != len(self.counted_by_label.get(label, ()))

    def occluded_target(self, k: int, iid: int) -> bool:
        """Occluded or truncated (or not visible) in frame k but in view there, visible in another frame."""
        elsewhere = any(self.visible_in(j, iid) for j in range(self.n) if j != k)
        o = self.obs[k].get(iid)
        limit = self.params.occluded_ratio
        hidden = o is None or not o.is_visible or o.occlusion_ratio >= limit or o.fov_ratio >= limit
        return elsewhere and hidden and self.index.in_view(self.frame_ids[k], iid)

    def extent(self, k: int, iid: int) -> Extent:
        return self.index.extents(self.frame_ids[k])[iid]

    def in_front(self, k: int, iid: int) -> bool:
        return bool(self.extent(k, iid)[0][2] > self.index.near_plane)

    def reference(self, iid: int, k: int | None) -> str | None:
        """``label`` if unique among the instances seen in the sample, else ``label(x,y)`` in frame k
        (when no other instance of the label visible there has the same point), else None."""
        key = ("reference", iid, k)
        if key not in self.memo:
            self.memo[key] = self._reference(iid, k)
        return self.memo[key]

    def _reference(self, iid: int, k: int | None) -> str | None:
        label = self.label(iid)
        if self.seen_by_label.get(label) == (iid,):
            return label
        if k is None or not self.visible_in(k, iid):
            return None
        point = self.obs[k][iid].bbox_center
        twins = [j for j in self.seen_by_label[label] if j != iid and self.visible_in(k, j)
                 and self.obs[k][j].bbox_center == point]
        return None if twins else f"{label}({point[0]},{point[1]})"

    def named_in_front(self, k: int) -> tuple[int, ...]:
        """Instances visible in the sample, in front of camera k, with a reference in frame k."""
        key = ("named_in_front", k)
        if key not in self.memo:
            self.memo[key] = tuple(i for i in self.visible_ids if self.in_front(k, i) and self.reference(i, k))
        return self.memo[key]

    def image_size(self, k: int) -> tuple[int, int]:
        cam = self.frame(k).camera
        return cam.width, cam.height


def sample_contexts(index: SceneIndex, views: pd.DataFrame) -> list[SampleContext]:
    """One context per view sample, in sample_id order."""
    out = []
    for row in views.sort_values("sample_id").to_dict("records"):
        out.append(SampleContext(
            index, int(row["sample_id"]), tuple(str(f) for f in row["frame_ids"]),
            tuple(float(v) for v in row["pairwise_overlaps"]), float(row["max_overlap"]),
            float(row["mean_overlap"]), str(row["overlap_level"])))
    return out
