"""Spatial relations in a query camera's frame, decided on 3D box extents with a margin (docs/tasks.md).

Camera frame (OpenCV): x right, y down, z forward. Per axis the target's box and the source's box
(axis-aligned extents of their 8 corners in camera coordinates) must be separated by at least the
margin, else the axis has no relation and nothing is asked about it:
- x: ``right`` when target.min_x - source.max_x >= margin, ``left`` when source.min_x - target.max_x >= margin;
- y (up is -y): ``higher`` when source.min_y - target.max_y >= margin, ``lower`` when target.min_y - source.max_y >= margin;
- z (depth): ``farther`` when target.min_z - source.max_z >= margin, ``closer`` when source.min_z - target.max_z >= margin.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

AXES = ("x", "y", "z")
AXIS_INDEX = {"x": 0, "y": 1, "z": 2}
# (direction when the target's coordinates are the smaller ones, direction when they are larger)
DIRECTIONS = {"x": ("left", "right"), "y": ("higher", "lower"), "z": ("closer", "farther")}
OPPOSITE = {a: b for pair in DIRECTIONS.values() for a, b in (pair, pair[::-1])}
AXIS_OF = {d: axis for axis, pair in DIRECTIONS.items() for d in pair}
# docs/tasks.md subtask names and the official question-type suffixes per axis
SUBTASK = {"x": "left_right", "y": "above_below", "z": "farther_closer"}
QTYPE_SUFFIX = {"x": "lr", "y": "ab", "z": "fb"}
# "... {phrase} the {source}": attribute questions, spatial-relation options
PHRASE = {
    "left": "to the left of", "right": "to the right of", "higher": "higher than", "lower": "lower than",
    "closer": "closer to the camera than", "farther": "farther from the camera than",
}
# existence questions ask "is the {target} {phrase} the {source}"
EXISTENCE_PHRASE = {**PHRASE, "higher": "above", "lower": "below"}


def camera_extents(corners: np.ndarray, world_to_cam: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per box, min and max of its corners in camera coordinates: corners (n, 8, 3) -> two (n, 3)."""
    cam = corners @ world_to_cam[:3, :3].T + world_to_cam[:3, 3]
    return cam.min(axis=1), cam.max(axis=1)


Extent = tuple[Sequence[float], Sequence[float]]  # (min xyz, max xyz) of a box in camera coordinates


def relation(target: Extent, source: Extent, axis: str, margin: float) -> str | None:
    """The target's direction relative to the source along ``axis``; None when closer than ``margin``."""
    i = AXIS_INDEX[axis]
    smaller, larger = DIRECTIONS[axis]
    if source[0][i] - target[1][i] >= margin:
        return smaller
    if target[0][i] - source[1][i] >= margin:
        return larger
    return None


def relations(target: Extent, source: Extent, margin: float) -> dict[str, str | None]:
    return {axis: relation(target, source, axis, margin) for axis in AXES}


def centre(extent: Extent) -> tuple[float, float, float]:
    return tuple((a + b) / 2 for a, b in zip(*extent))
