"""Read the instance annotation of a scene: ``segments.json`` and ``segments_anno.json``.

Each segGroup becomes an Instance (id = ``objectId``) with its oriented box; its vertices are the
vertices whose ``segIndices`` value is one of the group's ``segments`` (in the current ScanNet++
release segIndices is 0..N-1, so segments are vertex ids; older ScanNet-style files group vertices
into segments, and both read the same way).

Labels go through the release's label mapping (:mod:`.labels`): a segGroup the mapping drops is no
instance (``Scene.dropped``) and takes no part in the rule below, as in the toolkit, whose vertex labels
skip ignored groups; its vertices are background unless another group lists them.

Overlaps: a vertex listed by several segGroups goes to the SMALLEST of them, the one with the fewest
vertices before resolution; ties go to the lower objectId. (Small objects lying on large ones, e.g. a
book on a table, would otherwise lose their contact vertices.) Instance.vertex_ids holds the vertices
after this rule, so the instances partition the annotated vertices.
"""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import SceneError
from .labels import LabelMapping
from .types import DroppedInstance, Instance, OrientedBox

OBB_FIELDS = {"centroid": 3, "axesLengths": 3, "normalizedAxes": 9}


def read_json(path: Path, scene_id: str) -> Any:
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise SceneError(scene_id, path, f"unreadable JSON ({exc.msg})", field=f"line {exc.lineno} column {exc.colno}"
                         ) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise SceneError(scene_id, path, f"unreadable JSON ({exc})", field="content") from exc


def read_segments(path: Path, scene_id: str, n_vertices: int) -> np.ndarray:
    """``segIndices``: one integer segment id per mesh vertex."""
    data = read_json(path, scene_id)
    raw = data.get("segIndices") if isinstance(data, dict) else None
    if not isinstance(raw, list):
        raise SceneError(scene_id, path, "missing or not a list", field="segIndices")
    seg = np.asarray(raw)
    if seg.ndim != 1 or (seg.size and not np.issubdtype(seg.dtype, np.integer)):
        raise SceneError(scene_id, path, "must be a flat list of integers", field="segIndices")
    if seg.size != n_vertices:
        raise SceneError(scene_id, path, f"has {seg.size} entries but the mesh has {n_vertices} vertices",
                         field="segIndices")
    return seg.astype(np.int64)


def read_instances(path: Path, scene_id: str, seg_indices: np.ndarray, mapping: LabelMapping, axes_tolerance: float
                   ) -> tuple[dict[int, Instance], np.ndarray, dict[int, DroppedInstance]]:
    """Instances by objectId, the per-vertex instance id (-1 = none) after the smallest-instance rule, and
    the segGroups the label mapping drops (only their objectId and label are read: nothing else is used)."""
    data = read_json(path, scene_id)
    groups = data.get("segGroups") if isinstance(data, dict) else None
    if not isinstance(groups, list):
        raise SceneError(scene_id, path, "missing or not a list", field="segGroups")
    if not groups:
        raise SceneError(scene_id, path, "empty scene: no segGroups", field="segGroups")
    segment_index = _SegmentIndex(seg_indices)
    parsed: dict[int, Instance] = {}
    dropped: dict[int, DroppedInstance] = {}
    members: list[np.ndarray] = []
    for i, group in enumerate(groups):
        oid, raw, where = _parse_identity(group, i, path, scene_id)
        if oid in parsed or oid in dropped:
            raise SceneError(scene_id, path, f"objectId {oid} appears twice", field=f"segGroups[{i}].objectId")
        label, status = mapping.resolve(raw)
        if label is None:  # not an instance: its box and segments are never used, so not checked either
            dropped[oid] = DroppedInstance(oid, raw, status)
            continue
        if not label.strip():
            raise SceneError(scene_id, path, f"empty label {raw!r}", field=f"{where}.label")
        box, segments = _parse_geometry(group, where, path, scene_id, axes_tolerance)
        try:
            vertices = segment_index.vertices(segments)
        except KeyError as exc:
            raise SceneError(scene_id, path, f"segment/vertex ids out of range: {exc.args[0]} "
                             f"(the mesh has {len(seg_indices)} vertices)", field=f"{where}.segments") from exc
        members.append(vertices)
        parsed[oid] = Instance(oid, label, box, vertices, label_orig=raw, status=status)
    if not parsed:
        raise SceneError(scene_id, path, f"empty scene: the label mapping drops all {len(groups)} segGroups "
                         f"({mapping.describe()})", field="segGroups")
    vertex_instance = assign_smallest(len(seg_indices), np.fromiter(parsed, dtype=np.int64), members)
    if (vertex_instance < 0).all():
        raise SceneError(scene_id, path, "empty scene: no segGroup covers any vertex", field="segGroups")
    instances = {oid: replace(inst, vertex_ids=np.flatnonzero(vertex_instance == oid))
                 for oid, inst in parsed.items()}
    return instances, vertex_instance, dropped


def assign_smallest(n_vertices: int, object_ids: np.ndarray, members: list[np.ndarray]) -> np.ndarray:
    """Per-vertex object id: among the groups listing a vertex, the one with fewest vertices (tie: lower id)."""
    sizes = np.array([len(np.unique(m)) for m in members], dtype=np.int64)
    rank_order = np.lexsort((object_ids, sizes))  # rank 0 = smallest group, then lowest id
    rank = np.empty_like(rank_order)
    rank[rank_order] = np.arange(len(rank_order))
    best = np.full(n_vertices, len(members), dtype=np.int64)  # len(members) = no group
    np.minimum.at(best, np.concatenate(members), np.repeat(rank, [len(m) for m in members]))
    ranked_ids = np.append(object_ids[rank_order], -1)
    return ranked_ids[best]


class _SegmentIndex:
    """Vertices of each segment id, for turning a segGroup's ``segments`` into vertex ids (vectorized)."""

    def __init__(self, seg_indices: np.ndarray):
        self.order = np.argsort(seg_indices, kind="stable")
        self.ids, self.starts, self.counts = np.unique(seg_indices[self.order], return_index=True,
                                                       return_counts=True)

    def vertices(self, segments: np.ndarray) -> np.ndarray:
        pos = np.searchsorted(self.ids, segments)
        pos_clipped = np.minimum(pos, len(self.ids) - 1)
        missing = (pos >= len(self.ids)) | (self.ids[pos_clipped] != segments)
        if missing.any():
            raise KeyError(f"{int(missing.sum())} unknown, first {int(segments[missing][0])}")
        counts, starts = self.counts[pos], self.starts[pos]
        offsets = np.repeat(starts - np.cumsum(counts) + counts, counts) + np.arange(counts.sum())
        return self.order[offsets]


def _parse_identity(group: Any, i: int, path: Path, scene_id: str) -> tuple[int, str, str]:
    """objectId, raw label and the group's name in messages (``segGroups[3] (objectId 12)``)."""
    where = f"segGroups[{i}]"
    if not isinstance(group, dict):
        raise SceneError(scene_id, path, "not an object", field=where)
    oid = group.get("objectId")
    if not isinstance(oid, int) or isinstance(oid, bool):
        raise SceneError(scene_id, path, f"missing or not an integer: {oid!r}", field=f"{where}.objectId")
    where = f"{where} (objectId {oid})"
    label = group.get("label")
    if not isinstance(label, str):
        raise SceneError(scene_id, path, f"missing or not a string: {label!r}", field=f"{where}.label")
    return oid, label, where


def _parse_geometry(group: dict, where: str, path: Path, scene_id: str, axes_tolerance: float
                    ) -> tuple[OrientedBox, np.ndarray]:
    """The group's oriented box and its segment ids."""
    segments = np.asarray(group.get("segments"))
    if segments.ndim != 1 or (segments.size and not np.issubdtype(segments.dtype, np.integer)):
        raise SceneError(scene_id, path, "missing or not a list of integers", field=f"{where}.segments")
    return _parse_obb(group.get("obb"), where, path, scene_id, axes_tolerance), segments.astype(np.int64)


def _parse_obb(obb: Any, where: str, path: Path, scene_id: str, axes_tolerance: float) -> OrientedBox:
    if not isinstance(obb, dict):
        raise SceneError(scene_id, path, "missing oriented box", field=f"{where}.obb")
    values = {}
    for name, size in OBB_FIELDS.items():
        if name not in obb:
            raise SceneError(scene_id, path, "missing", field=f"{where}.obb.{name}")
        try:
            values[name] = np.asarray(obb[name], dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise SceneError(scene_id, path, f"not numbers: {obb[name]!r}", field=f"{where}.obb.{name}") from exc
        if values[name].shape != (size,) or not np.isfinite(values[name]).all():
            raise SceneError(scene_id, path, f"needs {size} finite numbers, got {obb[name]!r}",
                             field=f"{where}.obb.{name}")
    if (values["axesLengths"] < 0).any():
        raise SceneError(scene_id, path, f"negative side length {values['axesLengths'].tolist()}",
                         field=f"{where}.obb.axesLengths")
    rotation = values["normalizedAxes"].reshape(3, 3).T  # rows of normalizedAxes are the box axes
    if not np.allclose(rotation.T @ rotation, np.eye(3), atol=axes_tolerance):
        raise SceneError(scene_id, path, "axes are not orthonormal", field=f"{where}.obb.normalizedAxes")
    return OrientedBox(values["centroid"], values["axesLengths"], rotation)
