"""``occlusion_aware_attribute`` (obj_attribute_occ_{lr,ab,fb}): "In Frame k, which object appears higher
than the {source} in this viewpoint?" Four object options, exactly one satisfies the relation.

The answer is the target of a pair of :mod:`.pairs` (occluded in frame k); when several targets
qualify for the same (frame, source, direction), one of them is drawn, so the question is asked once.
Distractors: objects visible in the sample, in front of camera k, named as relation questions name
them, whose relation to the source along the axis is the OPPOSITE one (decided with the margin, so none
of them satisfies the asked relation), one per label, labels distinct from the answer's and the
source's. The asked direction is the stratum.

Debiased (docs/audit.md): a lamp is "higher than the table" in most rooms, so the answer's label
would be guessed from the source and the direction. Distractor labels are drawn in proportion to
1 + how often each label is an answer for that direction among the scene's candidates, so labels that
are often answers are also often wrong options; over a whole split, questions are then dropped until an
option label is the answer of at most 1/4 of the questions that offer it, plus
``qa.relation_pair_max_excess`` (:mod:`mosaic_pipeline.quality.prune`).
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import numpy as np

from ...params import QAParams
from ..context import SampleContext
from ..relations import AXES, DIRECTIONS, OPPOSITE, PHRASE, QTYPE_SUFFIX, SUBTASK, relation
from ..selection import select
from .base import MOSAIC, Candidate, Draft, TaskSpec, capitalized, instance_name
from .pairs import Pair, occlusion_pairs, pair_metadata, relation_objects

QUESTION = "In Frame {k}, which object appears {phrase} the {source} in this viewpoint?"


def _by_direction(ctx: SampleContext, k: int, source: int, axis: str) -> dict[str, dict[str, list[int]]]:
    """Nameable instances in front of camera k, by their direction to the source along the axis, then by
    label (memoized per frame, source and axis: every target of the source shares it)."""
    key = ("attribute_directions", k, source, axis)
    if key not in ctx.memo:
        out: dict[str, dict[str, list[int]]] = {}
        for d in relation_objects(ctx, k):
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


Plan = tuple[Pair, list[int]]  # the answer's pair and the distractor instances


def _plan(c: Candidate, n_distractors: int, answer_freq: Counter, rng: np.random.Generator) -> Plan:
    """An answer among the alternatives, and distractor labels drawn in proportion to 1 + how often each
    label answers this direction in the scene's candidates (one instance per label)."""
    p, groups = c.payload[rng.integers(len(c.payload))]
    labels = sorted(groups)
    weights = np.array([1.0 + answer_freq[(c.stratum, label)] for label in labels])
    picked = sorted(rng.choice(len(labels), size=n_distractors, replace=False, p=weights / weights.sum()))
    return p, [groups[labels[i]][rng.integers(len(groups[labels[i]]))] for i in picked]


def _choose(candidates: list[Candidate], axis: str, params: QAParams,
            rng: np.random.Generator) -> list[tuple[Candidate, Plan]]:
    """Both asked directions balanced (:func:`..selection.select`); each chosen question planned."""
    ranked = select(candidates, [c.stratum for c in candidates], DIRECTIONS[axis], params.max_per_scene_task,
                    params.direction_tolerance, 1, rng)
    answer_freq = Counter((c.stratum, c.ctx.label(p.target)) for c in candidates for p, _ in c.payload)
    return [(c, _plan(c, params.n_options - 1, answer_freq, rng)) for c, _ in ranked]


def _draft(c: Candidate, axis: str, plan: Plan) -> Draft:
    ctx, k = c.ctx, c.query_k
    p, chosen = plan
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
                     lambda c, rng, plan, axis=axis: _draft(c, axis, plan),
                     strata=DIRECTIONS[axis], tolerance=params.direction_tolerance,
                     choose=lambda cs, rng, axis=axis: _choose(cs, axis, params, rng))
            for axis in AXES]
