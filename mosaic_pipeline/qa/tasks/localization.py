"""``object_localization`` (obj_localization_occ): is a label in Frame k, and where is its box centre?

Asked for labels visible somewhere in the sample. Present: exactly one instance of the label is seen
in frame k and it is visible there; answer "Yes; (x, y)", the centre of its visible box in original
image pixels. Absent: no instance of the label is seen in frame k; answer "No". (Two or more seen
instances, or one below the visibility threshold: not asked.)

Debiased (docs/audit.md): "No" is one of four options, so it is the answer of ``qa.localization_absent_share``
(1/4) of the questions about each label, as often as each point; decoys "Yes; (x, y)" are drawn from
the distribution of true centres (the centres of the scene's present candidates in images of that
size), each moved by up to ``localization_decoy_jitter`` x the image diagonal, inside the image and at
least ``localization_min_separation`` x the diagonal from the truth and from each other.
"""
from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np

from ...params import QAParams
from ..context import SampleContext
from ..options import NO
from ..selection import balanced_subset
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
                 rng: np.random.Generator, centres: list[tuple[int, int]] | None = None) -> list[tuple[int, int]]:
    """``n`` integer pixels inside the image, far (min separation x diagonal) from ``taken`` and each other:
    true ``centres`` moved by up to the jitter (module docstring), or uniform pixels without centres.

    Batches of ``localization_decoy_batch`` draws from the centres are tried first; should they all be
    too close (a scene whose objects crowd one spot), uniform pixels complete the decoys. The excluded
    discs never cover the image (their total area is below the image's for the default separation), so
    drawing uniform pixels ends.
    """
    diag = math.hypot(width, height)
    min_dist = params.localization_min_separation * diag
    points = list(taken)
    pool = np.array(centres if centres else [], float).reshape(-1, 2)
    for attempt in range(2):
        while len(points) < len(taken) + n:
            batch = params.localization_decoy_batch
            if attempt == 0 and len(pool):
                jitter = _disc(rng, batch) * params.localization_decoy_jitter * diag
                drawn = np.rint(pool[rng.integers(len(pool), size=batch)] + jitter).astype(int)
                xs, ys = np.clip(drawn[:, 0], 0, width - 1), np.clip(drawn[:, 1], 0, height - 1)
            else:
                xs, ys = rng.integers(width, size=batch), rng.integers(height, size=batch)
            before = len(points)
            for p in zip(xs.tolist(), ys.tolist()):
                if len(points) < len(taken) + n and all(math.dist(p, q) >= min_dist for q in points):
                    points.append(p)
            if attempt == 0 and len(points) == before:
                break
    return points[len(taken):]


def _disc(rng: np.random.Generator, size: int) -> np.ndarray:
    """``size`` points uniform in the unit disc."""
    r, a = np.sqrt(rng.random(size)), rng.random(size) * 2 * np.pi
    return np.stack([r * np.cos(a), r * np.sin(a)], axis=1)


def _choose(candidates: list[Candidate], params: QAParams) -> list[tuple[Candidate, list]]:
    """Per label, "No" for ``localization_absent_share`` of the questions; plan: the true centres of the
    scene's present candidates in images of the query frame's size (the decoys' distribution)."""
    shares = {ABSENT: params.localization_absent_share, PRESENT: 1 - params.localization_absent_share}
    chosen = balanced_subset(candidates, [lambda c: (c.payload[0], c.stratum)], lambda s, cell, v: shares[v],
                             params.max_per_scene_task)
    centres: dict[tuple[int, int], list[tuple[int, int]]] = {}
    for c in candidates:
        if c.stratum == PRESENT:
            centres.setdefault(c.ctx.image_size(c.query_k), []).append(c.ctx.obs[c.query_k][c.payload[1]].bbox_center)
    return [(c, sorted(set(centres.get(c.ctx.image_size(c.query_k), [])))) for c in chosen]


def _draft(params: QAParams, c: Candidate, rng: np.random.Generator, centres: list[tuple[int, int]]) -> Draft:
    ctx, k = c.ctx, c.query_k
    label, iid = c.payload
    width, height = ctx.image_size(k)
    question = QUESTION.format(label=label, k=k)
    if iid is None:
        decoys = decoy_points(width, height, [], params.n_options - 1, params, rng, centres)
        metadata = {"target_category": label, "target_instance": None, "target_instance_id": None,
                    "is_visible_in_query_frame": False, "bbox_center": None, "bbox_2d": None,
                    "occlusion_ratio_in_frame": None, "fov_occlusion_ratio": None,
                    "distractor_points": [list(p) for p in decoys]}
        return Draft(question, NO, metadata, (), label, tuple(yes_at(p) for p in decoys))
    o = ctx.obs[k][iid]
    centre = o.bbox_center
    decoys = decoy_points(width, height, [centre], params.n_options - 2, params, rng, centres)
    metadata = {"target_category": label, "target_instance": instance_name(label, iid), "target_instance_id": iid,
                "is_visible_in_query_frame": True, "bbox_center": list(centre), "bbox_2d": list(o.bbox_2d),
                "bbox_2d_diag": o.bbox_diag,
                "occlusion_ratio_in_frame": o.occlusion_ratio, "fov_occlusion_ratio": o.fov_ratio,
                "distractor_points": [list(p) for p in decoys]}
    return Draft(question, yes_at(centre), metadata, (iid,), label, (*(yes_at(p) for p in decoys), NO))


def specs(params: QAParams) -> list[TaskSpec]:
    return [TaskSpec("obj_localization_occ", "object_localization", None, MOSAIC, _candidates,
                     lambda c, rng, centres: _draft(params, c, rng, centres), strata=(PRESENT, ABSENT),
                     choose=lambda cs, rng: _choose(cs, params))]
