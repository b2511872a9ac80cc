"""Numeric (free-answer) tasks of the official code, task_type ``numeric`` (question types ``*_occ_na``):

- ``count`` (obj_count_occ_na): object_count's truth, as a number;
- ``camera_object_distance`` (obj_distance_occ_na): in Frame k, metres from the camera centre to the
  centre of an occluded target's 3D box (occluded-target rule as the occlusion-aware families);
- ``object_object_distance`` (obj_obj_distance_occ_na): metres between the 3D box centres of two
  objects visible in the sample;
- ``object_size`` (obj_size_occ_na): the longest side of an object's 3D box, whole centimetres;
- ``point_2d`` (obj_localization_occ_na): "(x,y)", the visible-box centre of a label present in
  Frame k (object_localization's present rule), scored with the box diagonal (MPA).
Objects named without a frame need a plain (label-unique) reference. Distances in metres carry
``distance_decimals`` decimals.
"""
from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import replace
from itertools import combinations

import numpy as np

from ...params import QAParams
from ..context import SampleContext
from .base import UNSTRATIFIED, ZERO_SHOT, Candidate, Draft, TaskSpec, instance_name
from .count import count_candidates, count_metadata
from .localization import present_candidates

COUNT = "Counting each object once even if it appears in several frames, how many {label}(s) are visible across these frames?"
CAMERA_DISTANCE = "In Frame {k}, how far is the center of the {target} from the camera, in meters?"
OBJECT_DISTANCE = "What is the distance between the center of the {a} and the center of the {b}, in meters?"
SIZE = "What is the length of the longest side of the {target}'s 3D bounding box, in centimeters?"
POINT = "In Frame {k}, what are the center coordinates of the visible part of the {label}? Answer as (x,y) in pixels."


def metres(value: float, params: QAParams) -> str:
    return f"{value:.{params.distance_decimals}f}"


def _target_metadata(ctx: SampleContext, iid: int) -> dict:
    return {"target_category": ctx.label(iid), "target_instance": instance_name(ctx.label(iid), iid),
            "target_instance_id": iid}


def _count(c: Candidate) -> Draft:
    label, ids = c.payload
    return Draft(COUNT.format(label=label), str(len(ids)), count_metadata(c.ctx, label, ids), ids, label,
                 coverage=ids)


def _camera_candidates(ctx: SampleContext) -> Iterator[Candidate]:
    for k in range(ctx.n):
        for t in ctx.visible_ids:
            if ctx.occluded_target(k, t) and ctx.reference(t, k):
                yield Candidate(ctx, k, UNSTRATIFIED, t)


def _camera_distance(c: Candidate, params: QAParams) -> Draft:
    ctx, k, t = c.ctx, c.query_k, c.payload
    centroid = ctx.index.scene.instances[t].box.centroid
    d = float(np.linalg.norm(centroid - ctx.frame(k).center))
    metadata = {**_target_metadata(ctx, t), "distance_m": d}
    return Draft(CAMERA_DISTANCE.format(k=k, target=ctx.reference(t, k)), metres(d, params), metadata, (t,),
                 ctx.label(t))


def _object_pairs(ctx: SampleContext) -> Iterator[Candidate]:
    plain = [i for i in ctx.visible_ids if ctx.reference(i, None)]
    for a, b in combinations(plain, 2):
        yield Candidate(ctx, None, UNSTRATIFIED, (a, b))


def _object_distance(c: Candidate, params: QAParams) -> Draft:
    ctx, (a, b) = c.ctx, c.payload
    boxes = ctx.index.scene.instances
    d = float(np.linalg.norm(boxes[a].box.centroid - boxes[b].box.centroid))
    metadata = {"source_instance": instance_name(ctx.label(a), a), "source_instance_id": a,
                "target_instance": instance_name(ctx.label(b), b), "target_instance_id": b, "distance_m": d}
    return Draft(OBJECT_DISTANCE.format(a=ctx.label(a), b=ctx.label(b)), metres(d, params), metadata, (a, b), None)


def _size_candidates(ctx: SampleContext) -> Iterator[Candidate]:
    for t in ctx.visible_ids:
        if ctx.reference(t, None):
            yield Candidate(ctx, None, UNSTRATIFIED, t)


def _size(c: Candidate) -> Draft:
    ctx, t = c.ctx, c.payload
    sides = ctx.index.scene.instances[t].box.axes_lengths
    cm = math.floor(float(np.max(sides)) * 100 + 0.5)
    metadata = {**_target_metadata(ctx, t), "box_sides_m": [float(v) for v in sides]}
    return Draft(SIZE.format(target=ctx.label(t)), str(cm), metadata, (t,), ctx.label(t))


def _point_candidates(ctx: SampleContext) -> Iterator[Candidate]:
    """object_localization's present candidates, unstratified (a free answer has no Yes/No)."""
    for c in present_candidates(ctx):
        yield replace(c, stratum=UNSTRATIFIED)


def _point(c: Candidate) -> Draft:
    ctx, k, (label, iid) = c.ctx, c.query_k, c.payload
    o = ctx.obs[k][iid]
    x, y = o.bbox_center
    metadata = {**_target_metadata(ctx, iid), "bbox_center": [x, y], "bbox_2d": list(o.bbox_2d),
                "bbox_2d_diag": o.bbox_diag}
    return Draft(POINT.format(k=k, label=label), f"({x},{y})", metadata, (iid,), label)


def specs(params: QAParams) -> list[TaskSpec]:
    def spec(qtype, subtask, enumerate_, draft):
        return TaskSpec(qtype, "numeric", subtask, ZERO_SHOT, enumerate_, lambda c, rng, yes: draft(c))

    return [
        spec("obj_count_occ_na", "count", count_candidates, _count),
        spec("obj_distance_occ_na", "camera_object_distance", _camera_candidates, lambda c: _camera_distance(c, params)),
        spec("obj_obj_distance_occ_na", "object_object_distance", _object_pairs, lambda c: _object_distance(c, params)),
        spec("obj_size_occ_na", "object_size", _size_candidates, _size),
        spec("obj_localization_occ_na", "point_2d", _point_candidates, _point),
    ]
