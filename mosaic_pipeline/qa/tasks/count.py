"""``object_count`` (obj_count_occ): how many distinct instances of a label are visible across the frames.

Answer: the number of instances of the label *counted* (visible with at least the count threshold of
visible pixels, :mod:`..context`) in at least one frame of the sample: cross-view de-duplication by
instance id. Asked for every label counted in the sample unless an instance of it is seen but counted
in no frame (a sliver or a speck: whether it counts would be ambiguous).
Distractors: three distinct counts among truth +-1..``count_distractor_span``, all >= 1.
"""
from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from ...params import QAParams
from ..context import SampleContext
from .base import MOSAIC, UNSTRATIFIED, Candidate, Draft, TaskSpec, instance_name

QUESTION = "How many {label}(s) are visible across these frames?"


def count_candidates(ctx: SampleContext) -> Iterator[Candidate]:
    """One candidate per label counted in the sample with no uncounted seen instance; payload (label, ids)."""
    for label, ids in ctx.counted_by_label.items():
        if not ctx.has_uncounted(label):
            yield Candidate(ctx, None, UNSTRATIFIED, (label, ids))


def count_distractors(truth: int, n: int, span: int, rng: np.random.Generator) -> list[int]:
    """``n`` distinct counts among truth +-1..span, each >= 1."""
    pool = [v for d in range(1, span + 1) for v in (truth - d, truth + d) if v >= 1]
    return [pool[i] for i in sorted(rng.choice(len(pool), size=n, replace=False))]


def count_metadata(ctx: SampleContext, label: str, ids: tuple[int, ...]) -> dict:
    return {
        "target_category": label,
        "visible_instances": [instance_name(label, i) for i in ids],
        "visible_instance_ids": list(ids),
        "total_instances_in_scene": len(ctx.index.scene_ids_by_label[label]),
    }


def _draft(params: QAParams, c: Candidate, rng: np.random.Generator, yes: bool) -> Draft:
    label, ids = c.payload
    distractors = count_distractors(len(ids), params.n_options - 1, params.count_distractor_span, rng)
    return Draft(QUESTION.format(label=label), str(len(ids)), count_metadata(c.ctx, label, ids), ids, label,
                 tuple(str(d) for d in distractors), coverage=ids)


def specs(params: QAParams) -> list[TaskSpec]:
    return [TaskSpec("obj_count_occ", "object_count", None, MOSAIC, count_candidates,
                     lambda c, rng, yes: _draft(params, c, rng, yes))]
