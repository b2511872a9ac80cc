"""``occlusion_aware_existence`` (obj_existence_occ_{lr,ab,fb}): "In Frame k, is the {target} to the right
of the {source} in this viewpoint?" Yes/No.

Pairs as in :mod:`.pairs` (occluded target, visible source). One question per pair and axis with a
relation; the true direction is the balance stratum. The asked direction is the true one for a
"Yes" and the opposite one for a "No"; every other question of a stratum is a "Yes", so Yes/No and
both asked directions are exactly balanced and both true directions within the tolerance.
Within one scene a label pair mostly keeps its direction (the room does not move), so the balance per
label pair and frame position is made over a whole split (:mod:`mosaic_pipeline.quality.prune`).
"""
from __future__ import annotations

from collections.abc import Iterator

from ...params import QAParams
from ..context import SampleContext
from ..options import NO, YES, YES_NO
from ..relations import (AXES, DIRECTIONS, DISTANCE_AXIS, EXISTENCE_PHRASE, OPPOSITE, QTYPE_SUFFIX, SUBTASK,
                         centre_distance)
from .base import MOSAIC, Candidate, Draft, TaskSpec
from .pairs import occlusion_pairs, pair_metadata

QUESTION = "In Frame {k}, is the {target} {phrase} the {source} in this viewpoint?"


def _candidates(ctx: SampleContext, axis: str) -> Iterator[Candidate]:
    for k in range(ctx.n):
        for p in occlusion_pairs(ctx, k):
            if p.rel[axis] is not None:
                yield Candidate(ctx, k, p.rel[axis], p)


def _draft(c: Candidate, axis: str, yes: bool) -> Draft:
    p, truth = c.payload, c.stratum
    asked = truth if yes else OPPOSITE[truth]
    question = QUESTION.format(k=c.query_k, target=p.target_ref, phrase=EXISTENCE_PHRASE[asked], source=p.source_ref)
    metadata = {**pair_metadata(c.ctx, p), "ground_truth_relation": truth, "asked_relation": asked,
                "evaluated_axis": axis}
    if axis == DISTANCE_AXIS:
        metadata["distance_source"] = centre_distance(c.ctx.extent(c.query_k, p.source))
        metadata["distance_target"] = centre_distance(c.ctx.extent(c.query_k, p.target))
    return Draft(question, YES if yes else NO, metadata, (p.target,), c.ctx.label(p.target),
                 fixed_options=YES_NO)


def specs(params: QAParams) -> list[TaskSpec]:
    return [TaskSpec(f"obj_existence_occ_{QTYPE_SUFFIX[axis]}", "occlusion_aware_existence", SUBTASK[axis], MOSAIC,
                     lambda ctx, axis=axis: _candidates(ctx, axis),
                     lambda c, rng, yes, axis=axis: _draft(c, axis, yes),
                     strata=DIRECTIONS[axis], tolerance=params.direction_tolerance, yes_no=True)
            for axis in AXES]
