"""VSTI-Bench-style transfer tasks (task_type ``vsti``), for zero-shot evaluation only:

- ``camera_displacement`` (camera_displacement): metres between the camera centres of Frame i and
  Frame j (i < j), asked when at least ``min_camera_displacement``;
- ``camera_movement_direction`` (camera_movement_direction): Forward / Backward / Left / Right, the
  dominant horizontal component (x or z) of the move from Frame i to Frame j in camera i's frame,
  asked when it is at least ``min_camera_displacement`` and ``movement_dominance`` x the other one;
- ``camera_object_distance`` (camera_obj_abs_dist): in Frame k, metres from the camera centre to the
  nearest point of the 3D box of an object visible in Frame k;
- ``object_relative_distance`` (camera_obj_rel_dist_v1): in Frame k, which of four objects is closest
  to the camera (nearest box points); every other option is farther by at least ``relation_margin``
  and options have distinct labels. One question per frame; its answer is drawn among the objects
  that qualify.
"""
from __future__ import annotations

from collections.abc import Iterator
from itertools import combinations

import numpy as np

from ...params import QAParams
from ...scene.types import OrientedBox
from ..context import SampleContext
from .base import UNSTRATIFIED, ZERO_SHOT, Candidate, Draft, TaskSpec, capitalized, instance_name
from .numeric import metres

DISPLACEMENT = "Approximately how far (in meters) did the camera move between Frame {i} and Frame {j}?"
DIRECTION = ("Between Frame {i} and Frame {j}, in which direction did the camera mainly move, relative to "
             "the way it faced in Frame {i}?")
ABS_DISTANCE = ("In Frame {k}, what is the approximate distance (in meters) between the camera and the "
                "nearest point of the {target}?")
REL_DISTANCE = ("In Frame {k}, measuring from the nearest point of each object, which of these objects is "
                "closest to the camera?")
VSTI = "vsti"  # task_type of these tasks
MOVES = {("z", 1): "Forward", ("z", -1): "Backward", ("x", 1): "Right", ("x", -1): "Left"}


def nearest_point_distance(box: OrientedBox, point: np.ndarray) -> float:
    """Distance from ``point`` to the closest point of the solid box (0 inside)."""
    local = box.rotation.T @ (point - box.centroid)
    half = box.axes_lengths / 2
    return float(np.linalg.norm(local - np.clip(local, -half, half)))


def _frame_pairs(ctx: SampleContext, params: QAParams) -> Iterator[tuple[int, int, np.ndarray]]:
    """(i, j, world displacement) for i < j with a displacement of at least min_camera_displacement."""
    for i, j in combinations(range(ctx.n), 2):
        move = ctx.frame(j).center - ctx.frame(i).center
        if np.linalg.norm(move) >= params.min_camera_displacement:
            yield i, j, move


def _displacement_candidates(ctx: SampleContext, params: QAParams) -> Iterator[Candidate]:
    for i, j, move in _frame_pairs(ctx, params):
        yield Candidate(ctx, None, UNSTRATIFIED, (i, j, move))


def _displacement(c: Candidate, params: QAParams) -> Draft:
    i, j, move = c.payload
    d = float(np.linalg.norm(move))
    metadata = {"start_frame": i, "end_frame": j, "displacement_world_m": move.tolist(), "distance_m": d}
    return Draft(DISPLACEMENT.format(i=i, j=j), metres(d, params), metadata, (), None)


def movement(ctx: SampleContext, i: int, move: np.ndarray, params: QAParams) -> str | None:
    """Dominant horizontal move in camera i's frame, or None when small or not dominant."""
    x, _, z = ctx.frame(i).world_to_cam[:3, :3] @ move
    axis, signed, other = ("z", z, x) if abs(z) >= abs(x) else ("x", x, z)
    if abs(signed) < params.min_camera_displacement or abs(signed) < params.movement_dominance * abs(other):
        return None
    return MOVES[(axis, 1 if signed > 0 else -1)]


def _direction_candidates(ctx: SampleContext, params: QAParams) -> Iterator[Candidate]:
    for i, j, move in _frame_pairs(ctx, params):
        truth = movement(ctx, i, move, params)
        if truth:
            yield Candidate(ctx, None, UNSTRATIFIED, (i, j, move, truth))


def _direction(c: Candidate) -> Draft:
    i, j, move, truth = c.payload
    local = c.ctx.frame(i).world_to_cam[:3, :3] @ move
    metadata = {"start_frame": i, "end_frame": j, "displacement_camera_m": local.tolist()}
    return Draft(DIRECTION.format(i=i, j=j), truth, metadata, (), None,
                 tuple(m for m in MOVES.values() if m != truth))


def _camera_distance(ctx: SampleContext, k: int, iid: int) -> float:
    return nearest_point_distance(ctx.index.scene.instances[iid].box, ctx.frame(k).center)


def _abs_candidates(ctx: SampleContext) -> Iterator[Candidate]:
    for k in range(ctx.n):
        for t in ctx.visible_ids_in(k):
            if ctx.reference(t, k):
                yield Candidate(ctx, k, UNSTRATIFIED, t)


def _abs_distance(c: Candidate, params: QAParams) -> Draft:
    ctx, k, t = c.ctx, c.query_k, c.payload
    d = _camera_distance(ctx, k, t)
    metadata = {"target_category": ctx.label(t), "target_instance": instance_name(ctx.label(t), t),
                "target_instance_id": t, "distance_m": d}
    return Draft(ABS_DISTANCE.format(k=k, target=ctx.reference(t, k)), metres(d, params), metadata, (t,),
                 ctx.label(t))


def _rel_candidates(ctx: SampleContext, params: QAParams) -> Iterator[Candidate]:
    n_distractors = params.n_options - 1
    for k in range(ctx.n):
        named = [i for i in ctx.visible_ids if ctx.reference(i, k)]
        dist = {i: _camera_distance(ctx, k, i) for i in named}
        answers = []
        for t in named:
            groups: dict[str, list[int]] = {}
            for d in named:
                if ctx.label(d) != ctx.label(t) and dist[d] - dist[t] >= params.relation_margin:
                    groups.setdefault(ctx.label(d), []).append(d)
            if len(groups) >= n_distractors:
                answers.append((t, groups, dist))
        if answers:
            yield Candidate(ctx, k, UNSTRATIFIED, tuple(answers))


def _rel_distance(c: Candidate, params: QAParams, rng: np.random.Generator) -> Draft:
    ctx, k = c.ctx, c.query_k
    t, groups, dist = c.payload[rng.integers(len(c.payload))]
    labels = sorted(groups)
    chosen = [groups[labels[i]][rng.integers(len(groups[labels[i]]))]
              for i in sorted(rng.choice(len(labels), size=params.n_options - 1, replace=False))]
    metadata = {"target_category": ctx.label(t), "target_instance": instance_name(ctx.label(t), t),
                "target_instance_id": t, "distractor_instance_ids": chosen,
                "distances_m": {str(i): dist[i] for i in [t, *chosen]}}
    return Draft(REL_DISTANCE.format(k=k), capitalized(ctx.reference(t, k)), metadata, (t,), ctx.label(t),
                 tuple(capitalized(ctx.reference(d, k)) for d in chosen))


def specs(params: QAParams) -> list[TaskSpec]:
    def spec(qtype, subtask, enumerate_, draft):
        return TaskSpec(qtype, VSTI, subtask, ZERO_SHOT, enumerate_, draft)

    return [
        spec("camera_displacement", "camera_displacement", lambda ctx: _displacement_candidates(ctx, params),
             lambda c, rng, yes: _displacement(c, params)),
        spec("camera_movement_direction", "camera_movement_direction",
             lambda ctx: _direction_candidates(ctx, params), lambda c, rng, yes: _direction(c)),
        spec("camera_obj_abs_dist", "camera_object_distance", _abs_candidates,
             lambda c, rng, yes: _abs_distance(c, params)),
        spec("camera_obj_rel_dist_v1", "object_relative_distance", lambda ctx: _rel_candidates(ctx, params),
             lambda c, rng, yes: _rel_distance(c, params, rng)),
    ]
