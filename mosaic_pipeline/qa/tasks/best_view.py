"""``best_view_selection`` (bestview_count_occ): the count of a label plus its most informative frame.

Best frame: the most instances of the label counted there (object_count's rule); ties broken by the
total visible pixels of those instances; a tie after that means the question is not asked. Labels as
in object_count (at least one instance counted).

Debiased (docs/audit.md): the options "{count}, Frame {k}" are the 2 x 2 grid of two counts and two
frames, so every count and every frame appears in two options and the truth is not the option that
shares the most with the others. The second count is drawn by :func:`..options.exchangeable_values`
from the label's answer distribution (no count above half of the label's questions), the second frame
the same way from the best-frame positions of the samples with as many frames; best frames are uniform
over the positions of a sample, within ``qa.best_view_position_tolerance``.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import numpy as np

from ...params import QAParams
from ..context import SampleContext
from ..options import exchangeable_values
from ..selection import balanced_subset
from .base import MOSAIC, UNSTRATIFIED, Candidate, Draft, TaskSpec
from .count import QUESTION as COUNT_QUESTION
from .count import count_candidates, count_metadata, count_value, value_weights

QUESTION = COUNT_QUESTION + " And tell me which frame provides the most informative view of the {label}(s)."
OPTION = "{count}, Frame {k}"
PAIR = 2  # counts and frames in the options' grid


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


def _position(c: Candidate) -> tuple[int, int]:
    """(frames in the sample, best frame position): the cell and value of the position rule."""
    return c.ctx.n, c.payload[4]


def _choose(candidates: list[Candidate], params: QAParams, rng: np.random.Generator) -> list[tuple[Candidate, tuple]]:
    def share(system: int, cell, value) -> float:
        return 1 / PAIR if system == 0 else min(1 / PAIR, 1 / cell + params.best_view_position_tolerance)

    chosen = balanced_subset(candidates, [count_value, _position], share, params.max_per_scene_task)
    counts = value_weights(chosen)
    positions: dict[int, Counter] = {}
    for c in chosen:
        positions.setdefault(c.ctx.n, Counter())[c.payload[4]] += 1
    out = []
    for c in chosen:
        label, truth = count_value(c)
        n, best = _position(c)
        out.append((c, (exchangeable_values(truth, counts[label], PAIR, rng),
                        exchangeable_values(best, positions[n], PAIR, rng))))
    return out


def _draft(c: Candidate, plan: tuple[list[int], list[int]]) -> Draft:
    label, ids, counts, pixels, best = c.payload
    truth = len(ids)
    answer = OPTION.format(count=truth, k=best)
    grid = [OPTION.format(count=v, k=k) for v in plan[0] for k in plan[1]]
    top_counts = sorted(counts)[-2:]
    reason = "highest_visible_count" if top_counts[0] != top_counts[1] else "highest_visible_count_and_pixel_area"
    metadata = {**count_metadata(c.ctx, label, ids), "count_ground_truth": truth, "best_frame_id": best,
                "best_frame_reason": reason, "per_frame_visible_counts": counts, "per_frame_visible_pixels": pixels}
    return Draft(QUESTION.format(label=label), answer, metadata, ids, label,
                 tuple(o for o in grid if o != answer), coverage=ids)


def specs(params: QAParams) -> list[TaskSpec]:
    return [TaskSpec("bestview_count_occ", "best_view_selection", None, MOSAIC, _candidates,
                     lambda c, rng, plan: _draft(c, plan), choose=lambda cs, rng: _choose(cs, params, rng))]
