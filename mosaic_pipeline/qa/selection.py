"""Which candidates become questions: per (scene, question type) at most ``max_per_scene_task``,
with the strata of a task (e.g. the two directions of a relation axis) balanced (docs/balance.md).

Quotas start equal (the smallest stratum's size, or cap / strata) and grow one ``step`` at a time,
round robin, while every stratum's share stays within 1/S +- tolerance and the cap holds. A task with
a stratum that has no candidate in a scene asks nothing there (its balance could not hold). Yes/No
tasks use step 2 and answer Yes for every other question of a stratum, so Yes is exactly 50 %.
"""
from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from typing import TypeVar

import numpy as np

T = TypeVar("T")


def _within(quotas: Mapping[Hashable, int], tolerance: float) -> bool:
    total = sum(quotas.values())
    share = 1.0 / len(quotas)
    return total == 0 or all(abs(q / total - share) <= tolerance + 1e-12 for q in quotas.values())


def stratum_quotas(available: Mapping[Hashable, int], cap: int, tolerance: float, step: int = 1) -> dict:
    """How many candidates to take per stratum (see module docstring)."""
    strata = list(available)
    base = min(min(available.values()), cap // len(strata)) // step * step
    quotas = {s: base for s in strata}
    grown = True
    while grown:
        grown = False
        for s in strata:
            trial = {**quotas, s: quotas[s] + step}
            if trial[s] <= available[s] and sum(trial.values()) <= cap and _within(trial, tolerance):
                quotas, grown = trial, True
    return quotas


def select(candidates: Sequence[T], strata_of: Sequence[Hashable], strata: Sequence[Hashable], cap: int,
           tolerance: float, step: int, rng: np.random.Generator) -> list[tuple[T, int]]:
    """Shuffle, take each stratum's quota, interleave the strata; returns (candidate, rank in its stratum)."""
    buckets: dict[Hashable, list[T]] = {s: [] for s in strata}
    for i in rng.permutation(len(candidates)):
        buckets[strata_of[i]].append(candidates[i])
    quotas = stratum_quotas({s: len(b) for s, b in buckets.items()}, cap, tolerance, step)
    out = []
    for rank in range(max(quotas.values(), default=0)):
        out += [(buckets[s][rank], rank) for s in strata if rank < quotas[s]]
    return out
