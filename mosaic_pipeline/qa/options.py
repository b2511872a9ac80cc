"""Option placement shared by every multiple-choice family (docs/balance.md).

Per (scene, question type) one ``LetterBalancer`` puts each correct answer on the letter used least
so far (ties broken by the task's seeded generator) and shuffles the distractors into the other
positions, so the correct letter is uniform within one of each letter per (scene, question type).
Yes/No questions keep the fixed order ["Yes", "No"]; their letter balance comes from answering Yes
for exactly half of them (:mod:`mosaic_pipeline.qa.selection`). Option values that must not give the
truth away (counts, frames) come from :func:`exchangeable_values`.
"""
from __future__ import annotations

import string
from collections.abc import Hashable, Mapping, Sequence

import numpy as np

LETTERS = string.ascii_uppercase
YES, NO = "Yes", "No"
YES_NO = (YES, NO)


class LetterBalancer:
    """Least-used-letter placement of correct answers for one (scene, question type)."""

    def __init__(self, rng: np.random.Generator):
        self.rng = rng
        self.counts: dict[int, int] = {}

    def place(self, answer: str, distractors: Sequence[str]) -> tuple[list[str], int]:
        """Options with ``answer`` on the least-used position and the distractors shuffled around it."""
        n = len(distractors) + 1
        used = [self.counts.get(i, 0) for i in range(n)]
        least = [i for i in range(n) if used[i] == min(used)]
        index = int(least[self.rng.integers(len(least))])
        rest = [distractors[i] for i in self.rng.permutation(len(distractors))]
        options = rest[:index] + [answer] + rest[index:]
        self.counts[index] = used[index] + 1
        return options, index

    def fixed(self, answer: str, options: Sequence[str]) -> tuple[list[str], int]:
        """Options in their fixed order (Yes/No); records the answer's position."""
        index = list(options).index(answer)
        self.counts[index] = self.counts.get(index, 0) + 1
        return list(options), index


def letter(index: int) -> str:
    return LETTERS[index]


def exchangeable_values(truth: Hashable, weights: Mapping[Hashable, float], m: int,
                        rng: np.random.Generator) -> list[Hashable]:
    """``m`` distinct values including ``truth``, drawn so that the truth is any one of them with equal
    probability when truths follow ``weights`` (docs/audit.md, "Exchangeable options").

    Systematic sampling: the values, in a random order, get intervals of length m * p(v) that tile
    [0, m) (each at most 1, so ``weights`` must give no value more than 1/m); m points u, u+1, ..., u+m-1
    pick one value each. Drawing u uniformly inside the truth's interval (mod 1) includes every value with
    probability proportional to p(v), the truth's own included, so P(truth = v | values) is 1/m for each.
    """
    values = sorted(weights, key=repr)
    p = np.array([weights[v] for v in values], float)
    p = p / p.sum()
    if truth not in weights or p.max() > 1.0 / m + 1e-9 or len(values) < m:
        raise ValueError(f"exchangeable options: need >= {m} values with shares <= 1/{m} including the truth "
                         f"{truth!r}, got {dict(zip(values, p.round(3)))}")
    order = [values[i] for i in rng.permutation(len(values))]
    lengths = np.array([m * weights[v] for v in order], float) / sum(weights.values())
    ends = np.cumsum(lengths)
    ends[-1] = m
    start = ends[order.index(truth)] - lengths[order.index(truth)]
    u = (start + rng.random() * lengths[order.index(truth)]) % 1.0
    picked = {order[int(np.searchsorted(ends, u + j, side="right"))] for j in range(m)}
    picked.add(truth)  # the truth's own point, safe against rounding at an interval's end
    if len(picked) != m:
        raise ValueError(f"exchangeable options: {len(picked)} values picked instead of {m} (rounding)")
    return sorted(picked, key=repr)
