"""The questions of a review page: a deterministic sample of a shard, and what to draw on their frames.

A reviewer judges a question by eye (docs/review.md): the frames of its view sample with the query frame
marked, the objects it is about boxed where they are visible (``bbox_2d`` of the visibility table, original
pixels scaled to the frames' working resolution), the 3D box projected and dashed where the target is
hidden (occluded, or cut by the image border) in a frame, and the pixel points that questions and options
name ("the chair(217,122)", localization centres), which are in the query frame's original pixels.
"""
from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .tables import LETTERS

TARGET, SOURCE, COUNTED = "target", "source", "counted"  # roles of the boxed objects (colours in the figure)
NEAR = 0.05  # metres: box corners closer to the camera plane are not projected (docs/visibility.md near plane)
POINT = re.compile(r"\((-?\d+(?:\.\d+)?),\s*(-?\d+(?:\.\d+)?)\)")  # "(217,122)", "Yes; (172, 77)"
_ROLE_KEYS = ((TARGET, "target_instance_id"), (SOURCE, "source_instance_id"))
NO_FRAMES = "frames not found: the frames asset of this scene is not materialized"
FACTS = ("task_type", "subtask", "split", "occ_level", "overlap_level", "vis_level", "gt_scenario")


@dataclass(frozen=True)
class Box:
    label: str  # the instance's name, e.g. "lamp_07"
    role: str  # TARGET, SOURCE or COUNTED
    xyxy: tuple[float, float, float, float]  # working-resolution pixels of the frame's image
    hidden: bool = False  # the projected 3D box of an object not visible in this frame


@dataclass(frozen=True)
class Point:
    label: str  # an option letter, or "Q" for a point of the question
    xy: tuple[float, float]  # working-resolution pixels


@dataclass(frozen=True)
class FrameView:
    position: int  # Frame k of the question
    frame_id: str
    image: Path | None  # the working-resolution JPEG of the frames asset (None: not found)
    is_query: bool
    boxes: tuple[Box, ...] = ()
    points: tuple[Point, ...] = ()


@dataclass(frozen=True)
class QuestionView:
    qa_id: str
    question_type: str
    question: str
    options: tuple[tuple[str, str, bool], ...]  # (letter, text, is the answer)
    answer: str
    frames: tuple[FrameView, ...]
    facts: tuple[tuple[str, str], ...]  # diagnostic fields shown beside the question
    notes: tuple[str, ...]  # what could not be drawn, and why


def sample_questions(qa: pd.DataFrame, n: int) -> pd.DataFrame:
    """``n`` questions spread over the question types: round robin over the types (sorted), each type's
    questions in ``qa_id`` order (a UUID5 hash: stable, and unrelated to the order of generation)."""
    ordered = qa.sort_values(["question_type", "qa_id"], kind="stable")
    rank = ordered.groupby("question_type", sort=False).cumcount()
    return ordered.assign(_rank=rank.to_numpy()).sort_values(["_rank", "question_type"], kind="stable").head(
        n).drop(columns="_rank").reset_index(drop=True)


def _instances(md: Mapping) -> list[tuple[str, int, str]]:
    """(role, instance id, name) of the objects a question is about: target and source, or the counted ones."""
    found = [(role, int(md[key]), str(md.get(key.replace("_id", ""), md[key]))) for role, key in _ROLE_KEYS
             if md.get(key) is not None]
    names = md.get("visible_instances") or []
    ids = md.get("visible_instance_ids") or []
    return found + [(COUNTED, int(i), str(names[j]) if j < len(names) else str(i)) for j, i in enumerate(ids)]


def _projected(row: pd.Series, camera: pd.Series) -> tuple[float, float, float, float] | None:
    """The image rectangle of the instance's camera-frame box (corners in front of the camera), clipped
    to the image; None when none of it is in view."""
    lo, hi = np.asarray(row["min_cam"], float), np.asarray(row["max_cam"], float)
    corners = np.array([[x, y, z] for x in (lo[0], hi[0]) for y in (lo[1], hi[1]) for z in (lo[2], hi[2])])
    corners = corners[corners[:, 2] > NEAR]
    if not len(corners):
        return None
    u = camera["fx"] * corners[:, 0] / corners[:, 2] + camera["cx"]
    v = camera["fy"] * corners[:, 1] / corners[:, 2] + camera["cy"]
    x0, y0 = max(u.min(), 0.0), max(v.min(), 0.0)
    x1, y1 = min(u.max(), float(camera["width"])), min(v.max(), float(camera["height"]))
    return (float(x0), float(y0), float(x1), float(y1)) if x1 > x0 and y1 > y0 else None


def _box(vis_row: pd.Series, camera: pd.Series | None, role: str, name: str) -> Box | None:
    bbox = vis_row["bbox_2d"]
    if bbox is not None and len(bbox) == 4 and camera is not None:
        scale = float(camera["width"]) / float(vis_row["image_width"])
        return Box(name, role, tuple(float(c) * scale for c in bbox))
    if role == TARGET and camera is not None and "min_cam" in vis_row:
        rect = _projected(vis_row, camera)
        return Box(name, role, rect, hidden=True) if rect else None
    return None


def _points(question: str, options: Sequence[str], scale: float) -> tuple[Point, ...]:
    texts = [("Q", question)] + [(LETTERS[i], o) for i, o in enumerate(options)]
    return tuple(Point(label, (float(x) * scale, float(y) * scale))
                 for label, text in texts for x, y in POINT.findall(text))


def _query_position(value: object) -> int | None:
    return None if value is None or pd.isna(value) else int(value)


@dataclass(frozen=True)
class SceneFrames:
    """A scene's visibility table by (frame_id, instance_id), and its frames asset: the camera table by
    frame_id and the images folder (both None when the frames are not there)."""

    visibility: pd.DataFrame
    cameras: pd.DataFrame | None
    images: Path | None

    @classmethod
    def load(cls, visibility: pd.DataFrame, frames_dir: Path) -> SceneFrames:
        table = frames_dir / "cameras.parquet"
        cameras = pd.read_parquet(table).set_index("frame_id") if table.is_file() else None
        return cls(visibility.set_index(["frame_id", "instance_id"]).sort_index(), cameras,
                   frames_dir / "images" if cameras is not None else None)


def _frame_view(q: pd.Series, md: Mapping, k: int, frame_id: str, query: int | None, scene: SceneFrames,
                notes: list[str]) -> FrameView:
    cams = scene.cameras
    camera = cams.loc[frame_id] if cams is not None and frame_id in cams.index else None
    boxes = []
    for role, iid, name in _instances(md):
        box = _box(scene.visibility.loc[(frame_id, iid)], camera, role, name) \
            if (frame_id, iid) in scene.visibility.index else None
        if box:
            boxes.append(box)
        elif role == TARGET and k == query:
            notes.append(f"the target {name} is not in view in Frame {k} ({frame_id})")
    scale = float(camera["width"]) / float(camera["image_width"]) if camera is not None else 1.0
    path = scene.images / f"{frame_id}.jpg" if scene.images is not None else None
    return FrameView(k, frame_id, path if path is not None and path.is_file() else None, k == query, tuple(boxes),
                     _points(q["question"], q["options"], scale) if k == query else ())


def question_view(q: pd.Series, scene: SceneFrames) -> QuestionView:
    """What a review page shows of one QA row of the scene."""
    md = json.loads(q["metadata"]) if isinstance(q["metadata"], str) and q["metadata"] else {}
    query = _query_position(q["query_frame_id"])
    notes = [] if scene.cameras is not None else [NO_FRAMES]
    frames = tuple(_frame_view(q, md, k, f, query, scene, notes) for k, f in enumerate(q["source_frame_ids"]))
    index = q["correct_option_index"]
    options = tuple((LETTERS[i], str(o), not pd.isna(index) and i == int(index)) for i, o in enumerate(q["options"]))
    facts = [(f, str(q[f])) for f in FACTS if isinstance(q.get(f), str)]
    facts += [(f, f"{q[f]:.2f}") for f in ("occlusion_avg", "overlap_avg") if pd.notna(q.get(f))]
    return QuestionView(str(q["qa_id"]), str(q["question_type"]), str(q["question"]), options, str(q["answer"]),
                        frames, tuple(facts), tuple(notes))
