"""``occlusion_aware_spatial_relation`` (subtask full_3d; obj_spatial_occ_{lr,ab,fb} by evaluated axis):
"In Frame k, where does the {target} appear in this view relative to the {source}?"

Asked for pairs of :mod:`.pairs` whose boxes are separated on ALL three axes. The question text does
not name the axis, so each pair is asked about ONE axis (a stable hash of sample, frame and the two
ids picks it) and never twice per sample. Options: the true direction on the evaluated axis and the
OPPOSITE directions of all three axes, so exactly one option is true and every distractor is
decidedly false (unlike the seed's last record, which offers a true "Higher than" as a distractor).
Stratum: the true direction.
"""
from __future__ import annotations

import zlib
from collections.abc import Iterator

from ...params import QAParams
from ..context import SampleContext
from ..relations import AXES, DIRECTIONS, OPPOSITE, PHRASE, QTYPE_SUFFIX
from .base import MOSAIC, Candidate, Draft, TaskSpec, capitalized
from .pairs import Pair, occlusion_pairs, pair_metadata

QUESTION = "In Frame {k}, where does the {target} appear in this view relative to the {source}?"
AXIS_KEY = {axis: f"{axis}_axis" for axis in AXES}


def option(direction: str, source_ref: str) -> str:
    return capitalized(f"{PHRASE[direction]} the {source_ref}")


def evaluated_axis(sample_id: int, p: Pair) -> str:
    return AXES[zlib.crc32(f"{sample_id}:{p.k}:{p.source}:{p.target}".encode()) % len(AXES)]


def _candidates(ctx: SampleContext, axis: str) -> Iterator[Candidate]:
    for k in range(ctx.n):
        for p in occlusion_pairs(ctx, k):
            if all(p.rel.values()) and evaluated_axis(ctx.sample_id, p) == axis:
                yield Candidate(ctx, k, p.rel[axis], p)


def _draft(c: Candidate, axis: str) -> Draft:
    p = c.payload
    wrong = [OPPOSITE[p.rel[a]] for a in AXES]
    metadata = {**pair_metadata(c.ctx, p), "ground_truth_relations": {AXIS_KEY[a]: p.rel[a] for a in AXES},
                "evaluated_axis": axis, "distractor_relations": wrong}
    question = QUESTION.format(k=c.query_k, target=p.target_ref, source=p.source_ref)
    return Draft(question, option(p.rel[axis], p.source_ref), metadata, (p.target,), c.ctx.label(p.target),
                 tuple(option(d, p.source_ref) for d in wrong))


def specs(params: QAParams) -> list[TaskSpec]:
    return [TaskSpec(f"obj_spatial_occ_{QTYPE_SUFFIX[axis]}", "occlusion_aware_spatial_relation", "full_3d", MOSAIC,
                     lambda ctx, axis=axis: _candidates(ctx, axis),
                     lambda c, rng, yes, axis=axis: _draft(c, axis),
                     strata=DIRECTIONS[axis], tolerance=params.direction_tolerance)
            for axis in AXES]
