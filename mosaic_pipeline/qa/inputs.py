"""Checks on the two tables QA generation reads (visibility, view samples): a bad table fails with a
SceneError naming the scene, the file (when known) and the field."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import SceneError
from ..scene.types import Scene

VISIBILITY_COLUMNS = {
    "scene_id": "string", "frame_id": "string", "instance_id": "integer", "label": "string",
    "visible_px": "integer", "unoccluded_px": "integer", "full_px": "integer",
    "occlusion_ratio": "float", "fov_ratio": "float", "visibility": "float", "bbox_2d": "list",
    "is_visible": "bool", "render_width": "integer", "render_height": "integer",
}
VIEWS_COLUMNS = {
    "scene_id": "string", "sample_id": "integer", "frame_ids": "list", "pairwise_overlaps": "list",
    "max_overlap": "float", "mean_overlap": "float", "overlap_level": "string",
}
_KIND_CHECKS = {
    "string": lambda s: pd.api.types.is_string_dtype(s) or pd.api.types.is_object_dtype(s),
    "integer": pd.api.types.is_integer_dtype,
    "float": pd.api.types.is_float_dtype,
    "bool": pd.api.types.is_bool_dtype,
    "list": pd.api.types.is_object_dtype,
}


def _check_columns(df: pd.DataFrame, columns: dict[str, str], scene_id: str, source: Path | None) -> None:
    for name, kind in columns.items():
        if name not in df.columns:
            raise SceneError(scene_id, source, "missing column", field=name)
        if len(df) and not _KIND_CHECKS[kind](df[name]):  # an empty table (no sample) has no dtype to judge
            raise SceneError(scene_id, source, f"expected {kind} values, got dtype {df[name].dtype}", field=name)


def _check_scene_column(df: pd.DataFrame, scene_id: str, source: Path | None) -> None:
    others = sorted(set(df["scene_id"]) - {scene_id})
    if others:
        raise SceneError(scene_id, source, f"rows of other scenes {others[:3]}", field="scene_id")


def check_visibility(df: pd.DataFrame, scene: Scene, source: Path | None = None) -> None:
    """The visibility table matches the scene: its frames, instance ids and labels."""
    sid = scene.scene_id
    _check_columns(df, VISIBILITY_COLUMNS, sid, source)
    _check_scene_column(df, sid, source)
    unknown_frames = sorted(set(df["frame_id"]) - {f.frame_id for f in scene.frames})
    if unknown_frames:
        raise SceneError(sid, source, f"frames not in the scene: {unknown_frames[:3]}", field="frame_id")
    labels = {iid: inst.label for iid, inst in scene.instances.items()}
    bad = [(int(i), lab) for i, lab in zip(df["instance_id"], df["label"]) if labels.get(int(i)) != lab]
    if bad:
        raise SceneError(sid, source, f"instance id/label not in the scene: {bad[:3]}", field="instance_id")
    if df.duplicated(["frame_id", "instance_id"]).any():
        raise SceneError(sid, source, "duplicate (frame_id, instance_id) rows", field="instance_id")
    visible = df["is_visible"].to_numpy(bool)
    if (df["visible_px"].to_numpy()[visible] <= 0).any():
        raise SceneError(sid, source, "is_visible with visible_px <= 0", field="is_visible")
    boxes = df["bbox_2d"].to_numpy()[visible]
    if any(b is None or len(b) != 4 or not np.all(np.isfinite(np.asarray(b, float))) for b in boxes):
        raise SceneError(sid, source, "visible rows need [x_min, y_min, x_max, y_max]", field="bbox_2d")


def check_views(df: pd.DataFrame, scene: Scene, source: Path | None = None) -> None:
    """The view-samples table names frames of the scene, 2+ distinct frames per sample, unique sample ids."""
    sid = scene.scene_id
    _check_columns(df, VIEWS_COLUMNS, sid, source)
    _check_scene_column(df, sid, source)
    if df["sample_id"].duplicated().any():
        raise SceneError(sid, source, "duplicate sample ids", field="sample_id")
    frame_ids = {f.frame_id for f in scene.frames}
    for sample_id, frames in zip(df["sample_id"], df["frame_ids"]):
        frames = list(frames)
        if len(frames) < 2 or len(set(frames)) != len(frames):
            raise SceneError(sid, source, f"sample {sample_id}: needs 2+ distinct frames, got {frames}",
                             field="frame_ids")
        missing = sorted(set(frames) - frame_ids)
        if missing:
            raise SceneError(sid, source, f"sample {sample_id}: frames not in the scene {missing[:3]}",
                             field="frame_ids")
