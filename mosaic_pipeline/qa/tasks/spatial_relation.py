"""``occlusion_aware_spatial_relation`` (subtask full_3d; obj_spatial_occ_{lr,ab,fb} by evaluated axis):
"In Frame k, where does the {target} appear in this view relative to the {source}?"

Asked for pairs of :mod:`.pairs` separated on at least two axes: a stable hash of sample, frame and the
two ids picks the evaluated axis (the question type) and the second axis among them, so a pair is
asked once per sample. The four options are the four
combinations of the two axes' directions, e.g. "Higher than the table and to the left of it", so
exactly one is true and every other one is decidedly false on at least one axis.

Why combinations (docs/audit.md): with one-axis options ("Higher than the table"), four options out of
the six directions always hold both directions of one axis, and exactly one option is true, so the
truth is always on the axis offered twice: text alone answers half of the questions. The grid of two
axes offers every direction twice. Stratum: the true combination (the evaluated axis's direction and
which of the second axis's two), at most 1/4 + ``qa.relation_share_tolerance`` of a scene's questions,
each direction of the evaluated axis at most 1/2 + ``qa.direction_tolerance``; over a whole
split, per (target label, source label, second axis) the four combinations differ by at most
``qa.relation_pair_max_excess`` questions, and per query frame position each true direction stays within
50 % +- ``qa.direction_tolerance`` (:mod:`mosaic_pipeline.quality.prune`).
"""
from __future__ import annotations

import zlib
from collections.abc import Iterator

from ...params import QAParams
from ..context import SampleContext
from ..relations import AXES, DIRECTIONS, PHRASE, QTYPE_SUFFIX
from ..selection import balanced_subset
from .base import MOSAIC, Candidate, Draft, TaskSpec, capitalized
from .pairs import Pair, occlusion_pairs, pair_metadata

QUESTION = "In Frame {k}, where does the {target} appear in this view relative to the {source}?"
AXIS_KEY = {axis: f"{axis}_axis" for axis in AXES}


def option(first: str, second: str, source_ref: str) -> str:
    """"{first} the {source} and {second} it", e.g. "Higher than the table and to the left of it"."""
    return capitalized(f"{PHRASE[first]} the {source_ref} and {PHRASE[second]} it")


def option_axes(sample_id: int, p: Pair) -> tuple[str, str] | None:
    """(evaluated axis, second axis) of a pair: two of its separated axes, picked by a stable hash of
    sample, frame and ids, so each pair is asked once per sample (in one question type)."""
    separated = [a for a in AXES if p.rel[a]]
    if len(separated) < 2:
        return None
    h = zlib.crc32(f"{sample_id}:{p.k}:{p.source}:{p.target}".encode())
    first = separated[h % len(separated)]
    others = [a for a in separated if a != first]
    return first, others[(h // len(separated)) % len(others)]


def _candidates(ctx: SampleContext, axis: str) -> Iterator[Candidate]:
    for k in range(ctx.n):
        for p in occlusion_pairs(ctx, k):
            axes = option_axes(ctx.sample_id, p)
            if axes and axes[0] == axis:
                second = axes[1]
                yield Candidate(ctx, k, (p.rel[axis], DIRECTIONS[second].index(p.rel[second])), (p, second))


def _choose(candidates: list[Candidate], params: QAParams) -> list[tuple[Candidate, None]]:
    """No combination above 1/4 + ``relation_share_tolerance`` and no direction of the evaluated axis above
    1/2 + ``direction_tolerance`` of the scene's questions."""
    shares = (0.25 + params.relation_share_tolerance, 0.5 + params.direction_tolerance)
    chosen = balanced_subset(candidates, [lambda c: (None, c.stratum), lambda c: (None, c.stratum[0])],
                             lambda system, cell, value: shares[system], params.max_per_scene_task)
    return [(c, None) for c in chosen]


def _draft(c: Candidate, axis: str) -> Draft:
    p, second = c.payload
    truth = (p.rel[axis], p.rel[second])
    grid = [(a, b) for a in DIRECTIONS[axis] for b in DIRECTIONS[second]]
    metadata = {**pair_metadata(c.ctx, p),
                "ground_truth_relations": {AXIS_KEY[a]: p.rel[a] for a in AXES},
                "evaluated_axis": axis, "second_axis": second,
                "distractor_relations": [list(g) for g in grid if g != truth]}
    question = QUESTION.format(k=c.query_k, target=p.target_ref, source=p.source_ref)
    return Draft(question, option(*truth, p.source_ref), metadata, (p.target,), c.ctx.label(p.target),
                 tuple(option(*g, p.source_ref) for g in grid if g != truth))


def specs(params: QAParams) -> list[TaskSpec]:
    return [TaskSpec(f"obj_spatial_occ_{QTYPE_SUFFIX[axis]}", "occlusion_aware_spatial_relation", "full_3d", MOSAIC,
                     lambda ctx, axis=axis: _candidates(ctx, axis),
                     lambda c, rng, plan, axis=axis: _draft(c, axis),
                     strata=tuple((d, i) for d in DIRECTIONS[axis] for i in range(2)),
                     choose=lambda cs, rng, axis=axis: _choose(cs, params))
            for axis in AXES]
