"""Spatial relations in a query camera's frame, decided on 3D boxes with a margin (docs/tasks.md).

Camera frame (OpenCV): x right, y down, z forward, the camera centre at the origin. Left/right and
higher/lower compare the axis-aligned extents of the two boxes' 8 corners in camera coordinates, which
must be separated by at least the margin; closer/farther compares the distances from the camera
centre to the two box centres ("closer to the camera" as a reader means it, not depth along the
optical axis), which must differ by at least the margin. Otherwise the axis has no relation and
nothing is asked about it:
- x: ``right`` when target.min_x - source.max_x >= margin, ``left`` when source.min_x - target.max_x >= margin;
- y (up is -y): ``higher`` when source.min_y - target.max_y >= margin, ``lower`` when target.min_y - source.max_y >= margin;
- distance (axis key ``z``): ``farther`` when |target centre| - |source centre| >= margin, ``closer`` when
  |source centre| - |target centre| >= margin.

A target is *in view* of a frame when its box lies in front of the camera and the convex hull of its
projected corners overlaps the image (:func:`box_in_view`): it may be hidden by other objects or cut
by the border, but some of it is inside the frame.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

AXES = ("x", "y", "z")
AXIS_INDEX = {"x": 0, "y": 1, "z": 2}
# (direction when the target's coordinates are the smaller ones, direction when they are larger)
DIRECTIONS = {"x": ("left", "right"), "y": ("higher", "lower"), "z": ("closer", "farther")}
DISTANCE_AXIS = "z"  # the closer/farther axis: distance from the camera centre, not depth (module docstring)
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


def centre_distance(extent: Extent) -> float:
    """Distance from the camera centre (the origin) to a box's centre (the centre of its corner extent)."""
    return float(np.linalg.norm(centre(extent)))


def relation(target: Extent, source: Extent, axis: str, margin: float) -> str | None:
    """The target's direction relative to the source along ``axis``; None when closer than ``margin``."""
    smaller, larger = DIRECTIONS[axis]
    if axis == DISTANCE_AXIS:
        gap = centre_distance(target) - centre_distance(source)
        return smaller if gap <= -margin else larger if gap >= margin else None
    i = AXIS_INDEX[axis]
    if source[0][i] - target[1][i] >= margin:
        return smaller
    if target[0][i] - source[1][i] >= margin:
        return larger
    return None


def relations(target: Extent, source: Extent, margin: float) -> dict[str, str | None]:
    return {axis: relation(target, source, axis, margin) for axis in AXES}


def centre(extent: Extent) -> tuple[float, float, float]:
    return tuple((a + b) / 2 for a, b in zip(*extent))


def box_in_view(uv: np.ndarray, width: int, height: int) -> bool:
    """Whether the convex hull of projected box corners ``uv`` (n, 2) overlaps the image [0, w] x [0, h].

    Separating-axis test: the image's two axes and the normals of the hull's edges.
    """
    from scipy.spatial import ConvexHull, QhullError

    lo, hi = uv.min(axis=0), uv.max(axis=0)
    if hi[0] <= 0 or hi[1] <= 0 or lo[0] >= width or lo[1] >= height:
        return False
    try:
        hull = uv[ConvexHull(uv).vertices]
    except QhullError:  # degenerate (flat, seen edge-on): the box overlap above decides
        return True
    rect = np.array([[0.0, 0.0], [width, 0.0], [width, height], [0.0, height]])
    for a, b in zip(hull, np.roll(hull, -1, axis=0)):
        normal = np.array([b[1] - a[1], a[0] - b[0]])
        h, r = hull @ normal, rect @ normal
        if r.max() <= h.min() or r.min() >= h.max():
            return False
    return True
