"""``occlusion_aware_attribute`` (obj_attribute_occ_{lr,ab,fb}): "In Frame k, which object appears higher
than the {source} in this viewpoint?" Four object options, exactly one satisfies the relation.

The answer is the target of a pair of :mod:`.pairs` (occluded in frame k); when several targets
qualify for the same (frame, source, direction), one of them is drawn, so the question is asked once. Distractors: objects
visible in the sample, in front of camera k, with a reference, whose relation to the source along
the axis is the OPPOSITE one (decided with the margin, so none of them satisfies the asked relation),
one per label, labels distinct from the answer's and the source's. The asked direction is the stratum.
"""
from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from ...params import QAParams
from ..context import SampleContext
from ..relations import AXES, DIRECTIONS, OPPOSITE, PHRASE, QTYPE_SUFFIX, SUBTASK, relation
from .base import MOSAIC, Candidate, Draft, TaskSpec, capitalized, instance_name
from .pairs import Pair, occlusion_pairs, pair_metadata

QUESTION = "In Frame {k}, which object appears {phrase} the {source} in this viewpoint?"


def _by_direction(ctx: SampleContext, k: int, source: int, axis: str) -> dict[str, dict[str, list[int]]]:
    """Named instances in front of camera k, by their direction to the source along the axis, then by label
    (memoized per frame, source and axis: every target of the source shares it)."""
    key = ("attribute_directions", k, source, axis)
    if key not in ctx.memo:
        out: dict[str, dict[str, list[int]]] = {}
        for d in ctx.named_in_front(k):
            direction = relation(ctx.extent(k, d), ctx.extent(k, source), axis, ctx.params.relation_margin)
            if direction and ctx.label(d) != ctx.label(source):
                out.setdefault(direction, {}).setdefault(ctx.label(d), []).append(d)
        ctx.memo[key] = out
    return ctx.memo[key]


def _distractors_by_label(ctx: SampleContext, p: Pair, axis: str) -> dict[str, list[int]]:
    """Eligible distractor instances grouped by label (see module docstring)."""
    groups = _by_direction(ctx, p.k, p.source, axis).get(OPPOSITE[p.rel[axis]], {})
    return {label: ids for label, ids in groups.items() if label != ctx.label(p.target)}


def _candidates(ctx: SampleContext, axis: str, n_distractors: int) -> Iterator[Candidate]:
    """One candidate per (frame, source, direction): the question text; payload: its possible answers."""
    for k in range(ctx.n):
        answers: dict[tuple[int, str], list[tuple[Pair, dict[str, list[int]]]]] = {}
        for p in occlusion_pairs(ctx, k):
            if p.rel[axis] is None:
                continue
            groups = _distractors_by_label(ctx, p, axis)
            if len(groups) >= n_distractors:
                answers.setdefault((p.source, p.rel[axis]), []).append((p, groups))
        for (_, direction), alternatives in answers.items():
            yield Candidate(ctx, k, direction, tuple(alternatives))


def _draft(c: Candidate, axis: str, n_distractors: int, rng: np.random.Generator) -> Draft:
    ctx, k = c.ctx, c.query_k
    p, groups = c.payload[rng.integers(len(c.payload))]
    labels = sorted(groups)
    chosen = [groups[labels[i]][rng.integers(len(groups[labels[i]]))]
              for i in sorted(rng.choice(len(labels), size=n_distractors, replace=False))]
    truth = c.stratum
    question = QUESTION.format(k=k, phrase=PHRASE[truth], source=p.source_ref)
    metadata = {**pair_metadata(ctx, p), "ground_truth_relation": truth, "evaluated_axis": axis,
                "distractor_objects": [{"instance": instance_name(ctx.label(d), d), "instance_id": d,
                                        "relation_to_source": OPPOSITE[truth]} for d in chosen],
                "distractor_instance_ids": chosen}
    return Draft(question, capitalized(p.target_ref), metadata, (p.target,), ctx.label(p.target),
                 tuple(capitalized(ctx.reference(d, k)) for d in chosen))


def specs(params: QAParams) -> list[TaskSpec]:
    n = params.n_options - 1
    return [TaskSpec(f"obj_attribute_occ_{QTYPE_SUFFIX[axis]}", "occlusion_aware_attribute", SUBTASK[axis], MOSAIC,
                     lambda ctx, axis=axis: _candidates(ctx, axis, n),
                     lambda c, rng, yes, axis=axis: _draft(c, axis, n, rng),
                     strata=DIRECTIONS[axis], tolerance=params.direction_tolerance)
            for axis in AXES]
