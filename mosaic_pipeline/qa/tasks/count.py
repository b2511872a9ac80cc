"""``object_count`` (obj_count_occ): how many distinct instances of a label are visible across the frames.

Answer: the number of instances of the label *counted* (visible with at least the count threshold of
visible pixels, :mod:`..context`) in at least one frame of the sample: cross-view de-duplication by
instance id. Asked for every label counted in the sample unless an instance of it is seen but counted
in no frame (a sliver or a speck: whether it counts would be ambiguous); with ``qa.count_zero`` also
for the scene's labels of which no instance is seen in any frame of the sample (answer 0).

Debiased (docs/audit.md): per label of the scene, no answer value above ``qa.count_max_answer_share``
of the questions about that label (labels with too few distinct counts are not asked), and the four
options are drawn by :func:`..options.exchangeable_values` from that label's answer distribution, so
the options never give the truth away: given the question and its options, each option is the truth
equally often.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import numpy as np

from ...params import QAParams
from ..context import SampleContext
from ..options import exchangeable_values
from ..selection import balanced_subset
from .base import MOSAIC, UNSTRATIFIED, Candidate, Draft, TaskSpec, instance_name

QUESTION = "How many {label}(s) are visible across these frames?"


def count_candidates(ctx: SampleContext) -> Iterator[Candidate]:
    """One candidate per label counted in the sample with no uncounted seen instance; payload (label, ids)."""
    for label, ids in ctx.counted_by_label.items():
        if not ctx.has_uncounted(label):
            yield Candidate(ctx, None, UNSTRATIFIED, (label, ids))


def _zero_candidates(ctx: SampleContext) -> Iterator[Candidate]:
    """The scene's labels with no instance seen in any frame of the sample: payload (label, ())."""
    for label in ctx.index.scene_ids_by_label:
        if label not in ctx.seen_by_label:
            yield Candidate(ctx, None, UNSTRATIFIED, (label, ()))


def _candidates(ctx: SampleContext, params: QAParams) -> Iterator[Candidate]:
    yield from count_candidates(ctx)
    if params.count_zero:
        yield from _zero_candidates(ctx)


def count_value(c: Candidate) -> tuple[str, int]:
    """(label, count) of a count candidate: its cell and value."""
    label, ids = c.payload[0], c.payload[1]
    return label, len(ids)


def value_weights(chosen: list[Candidate]) -> dict[str, Counter]:
    """Per label, how often each count is the answer among the chosen questions."""
    out: dict[str, Counter] = {}
    for c in chosen:
        label, value = count_value(c)
        out.setdefault(label, Counter())[value] += 1
    return out


def choose_counts(candidates: list[Candidate], share: float, cap: int) -> list[Candidate]:
    """At most ``cap`` candidates, no count above ``share`` of its label's questions."""
    return balanced_subset(candidates, [count_value], lambda s, cell, value: share, cap)


def _choose(candidates: list[Candidate], params: QAParams, rng: np.random.Generator) -> list[tuple[Candidate, list[int]]]:
    chosen = choose_counts(candidates, params.count_max_answer_share, params.max_per_scene_task)
    weights = value_weights(chosen)
    return [(c, exchangeable_values(count_value(c)[1], weights[count_value(c)[0]], params.n_options, rng))
            for c in chosen]


def count_metadata(ctx: SampleContext, label: str, ids: tuple[int, ...]) -> dict:
    return {
        "target_category": label,
        "visible_instances": [instance_name(label, i) for i in ids],
        "visible_instance_ids": list(ids),
        "total_instances_in_scene": len(ctx.index.scene_ids_by_label[label]),
    }


def _draft(c: Candidate, values: list[int]) -> Draft:
    label, ids = c.payload
    truth = len(ids)
    return Draft(QUESTION.format(label=label), str(truth), count_metadata(c.ctx, label, ids), ids, label,
                 tuple(str(v) for v in values if v != truth), coverage=ids)


def specs(params: QAParams) -> list[TaskSpec]:
    return [TaskSpec("obj_count_occ", "object_count", None, MOSAIC, lambda ctx: _candidates(ctx, params),
                     lambda c, rng, values: _draft(c, values), choose=lambda cs, rng: _choose(cs, params, rng))]
