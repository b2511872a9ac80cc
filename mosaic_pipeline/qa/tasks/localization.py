"""``object_localization`` (obj_localization_occ): is a label in Frame k, and where is its box centre?

Asked for labels visible somewhere in the sample. Present: exactly one instance of the label is seen
in frame k and it is visible there; answer "Yes; (x, y)", the centre of its visible box in original
image pixels. Absent: no instance of the label is seen in frame k; answer "No". (Two or more seen
instances, or one below the visibility threshold: not asked.) Present and absent are balanced like
Yes/No answers. Decoys "Yes; (x, y)" are uniform integer pixels inside the image, each at least
``localization_min_separation`` x the image diagonal from the truth and from each other.
"""
from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np

from ...params import QAParams
from ..context import SampleContext
from ..options import NO
from .base import MOSAIC, Candidate, Draft, TaskSpec, instance_name

QUESTION = "Is there a(n) {label} in Frame {k}? If so, what is the bounding box center coordinates?"
PRESENT, ABSENT = "present", "absent"


def yes_at(point: tuple[int, int]) -> str:
    return f"Yes; ({point[0]}, {point[1]})"


def present_candidates(ctx: SampleContext) -> Iterator[Candidate]:
    """(k, label) where exactly one instance of the label is seen in frame k and it is visible; payload (label, id)."""
    for k in range(ctx.n):
        for label in ctx.visible_by_label:
            seen = [i for i in ctx.seen_by_label[label] if ctx.seen_in(k, i)]
            if len(seen) == 1 and ctx.visible_in(k, seen[0]):
                yield Candidate(ctx, k, PRESENT, (label, seen[0]))


def _absent_candidates(ctx: SampleContext) -> Iterator[Candidate]:
    for k in range(ctx.n):
        for label in ctx.visible_by_label:
            if not any(ctx.seen_in(k, i) for i in ctx.seen_by_label[label]):
                yield Candidate(ctx, k, ABSENT, (label, None))


def _candidates(ctx: SampleContext) -> Iterator[Candidate]:
    yield from present_candidates(ctx)
    yield from _absent_candidates(ctx)


def decoy_points(width: int, height: int, taken: list[tuple[int, int]], n: int, params: QAParams,
                 rng: np.random.Generator) -> list[tuple[int, int]]:
    """``n`` integer pixels inside the image, far (min separation x diagonal) from ``taken`` and each other.

    The excluded discs never cover the image (their total area is below the image's for the default
    separation), so drawing batches of uniform pixels ends.
    """
    min_dist = params.localization_min_separation * math.hypot(width, height)
    points = list(taken)
    while len(points) < len(taken) + n:
        xs = rng.integers(width, size=params.localization_decoy_batch)
        ys = rng.integers(height, size=params.localization_decoy_batch)
        for p in zip(xs.tolist(), ys.tolist()):
            if len(points) < len(taken) + n and all(math.dist(p, q) >= min_dist for q in points):
                points.append(p)
    return points[len(taken):]


def _draft(params: QAParams, c: Candidate, rng: np.random.Generator, yes: bool) -> Draft:
    ctx, k = c.ctx, c.query_k
    label, iid = c.payload
    width, height = ctx.image_size(k)
    question = QUESTION.format(label=label, k=k)
    if iid is None:
        decoys = decoy_points(width, height, [], params.n_options - 1, params, rng)
        metadata = {"target_category": label, "target_instance": None, "target_instance_id": None,
                    "is_visible_in_query_frame": False, "bbox_center": None, "bbox_2d": None,
                    "occlusion_ratio_in_frame": None, "fov_occlusion_ratio": None,
                    "distractor_points": [list(p) for p in decoys]}
        return Draft(question, NO, metadata, (), label, tuple(yes_at(p) for p in decoys))
    o = ctx.obs[k][iid]
    centre = o.bbox_center
    decoys = decoy_points(width, height, [centre], params.n_options - 2, params, rng)
    metadata = {"target_category": label, "target_instance": instance_name(label, iid), "target_instance_id": iid,
                "is_visible_in_query_frame": True, "bbox_center": list(centre), "bbox_2d": list(o.bbox_2d),
                "bbox_2d_diag": o.bbox_diag,
                "occlusion_ratio_in_frame": o.occlusion_ratio, "fov_occlusion_ratio": o.fov_ratio,
                "distractor_points": [list(p) for p in decoys]}
    return Draft(question, yes_at(centre), metadata, (iid,), label, (*(yes_at(p) for p in decoys), NO))


def specs(params: QAParams) -> list[TaskSpec]:
    return [TaskSpec("obj_localization_occ", "object_localization", None, MOSAIC, _candidates,
                     lambda c, rng, yes: _draft(params, c, rng, yes), strata=(PRESENT, ABSENT),
                     tolerance=params.yes_no_tolerance)]
