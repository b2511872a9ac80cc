"""Option placement shared by every multiple-choice family (docs/balance.md).

Per (scene, question type) one ``LetterBalancer`` puts each correct answer on the letter used least
so far (ties broken by the task's seeded generator) and shuffles the distractors into the other
positions, so the correct letter is uniform within one of each letter per (scene, question type).
Yes/No questions keep the fixed order ["Yes", "No"]; their letter balance comes from answering Yes
for exactly half of them (:mod:`mosaic_pipeline.qa.selection`).
"""
from __future__ import annotations

import string
from collections.abc import Sequence

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
