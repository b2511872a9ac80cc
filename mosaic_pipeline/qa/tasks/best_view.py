"""``best_view_selection`` (bestview_count_occ): the count of a label plus its most informative frame.

Best frame: the most instances of the label counted there (object_count's rule); ties broken by the total visible pixels
of those instances; a tie after that means the question is not asked. Labels as in object_count.
Options "{count}, Frame {k}": the truth, the true count with another frame, another count with the
best frame, and another count with another frame (counts from object_count's distractor rule).
"""
from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from ...params import QAParams
from ..context import SampleContext
from .base import MOSAIC, UNSTRATIFIED, Candidate, Draft, TaskSpec
from .count import QUESTION as COUNT_QUESTION
from .count import count_candidates, count_distractors, count_metadata

QUESTION = COUNT_QUESTION + " And tell me which frame provides the most informative view of the {label}(s)."
OPTION = "{count}, Frame {k}"


def per_frame(ctx: SampleContext, ids: tuple[int, ...]) -> tuple[list[int], list[int]]:
    """Per frame: number of the instances counted there and their total visible pixels."""
    counts = [sum(ctx.counted_in(k, i) for i in ids) for k in range(ctx.n)]
    pixels = [sum(ctx.obs[k][i].visible_px for i in ids if ctx.counted_in(k, i)) for k in range(ctx.n)]
    return counts, pixels


def _candidates(ctx: SampleContext) -> Iterator[Candidate]:
    for c in count_candidates(ctx):
        label, ids = c.payload
        counts, pixels = per_frame(ctx, ids)
        keys = list(zip(counts, pixels))
        best = max(keys)
        if keys.count(best) == 1:
            yield Candidate(ctx, None, UNSTRATIFIED, (label, ids, counts, pixels, keys.index(best)))


def _draft(params: QAParams, c: Candidate, rng: np.random.Generator, yes: bool) -> Draft:
    label, ids, counts, pixels, best = c.payload
    truth = len(ids)
    others = [k for k in range(c.ctx.n) if k != best]
    wrong_counts = count_distractors(truth, params.n_options - 2, params.count_distractor_span, rng)
    frames = [others[i] for i in rng.integers(len(others), size=2)]
    distractors = [OPTION.format(count=truth, k=frames[0]),
                   *(OPTION.format(count=w, k=best) for w in wrong_counts[:-1]),
                   OPTION.format(count=wrong_counts[-1], k=frames[1])]
    top_counts = sorted(counts)[-2:]
    reason = "highest_visible_count" if top_counts[0] != top_counts[1] else "highest_visible_count_and_pixel_area"
    metadata = {**count_metadata(c.ctx, label, ids), "count_ground_truth": truth, "best_frame_id": best,
                "best_frame_reason": reason, "per_frame_visible_counts": counts, "per_frame_visible_pixels": pixels}
    return Draft(QUESTION.format(label=label), OPTION.format(count=truth, k=best), metadata, ids, label,
                 tuple(distractors), coverage=ids)


def specs(params: QAParams) -> list[TaskSpec]:
    return [TaskSpec("bestview_count_occ", "best_view_selection", None, MOSAIC, _candidates,
                     lambda c, rng, yes: _draft(params, c, rng, yes))]
