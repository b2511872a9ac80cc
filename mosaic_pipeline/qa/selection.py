"""Which candidates become questions: per (scene, question type) at most ``max_per_scene_task``,
with the strata of a task (e.g. the two directions of a relation axis) balanced (docs/balance.md).

Quotas start equal (the smallest stratum's size, or cap / strata) and grow one ``step`` at a time,
round robin, while every stratum's share stays within 1/S +- tolerance and the cap holds. A task with
a stratum that has no candidate in a scene asks nothing there (its balance could not hold). Yes/No
tasks use step 2 and answer Yes for every other question of a stratum, so Yes is exactly 50 %.

The debiasing rules (docs/audit.md) add two selections: :func:`balanced_subset` keeps every value's
share of a cell (e.g. a count answer among the questions about one label) at most a given share, in
several cell systems at once; :func:`matched_sets` pairs questions whose text is the same up to the
stratum (e.g. both true directions of one label pair in one frame position), so the text cannot tell
them apart.
"""
from __future__ import annotations

import heapq
import itertools
from collections import Counter
from collections.abc import Callable, Hashable, Mapping, Sequence
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


Cell = tuple[Hashable, Hashable]  # (cell, value): e.g. (the label, the count answered)


Judge = Callable[[Hashable, Counter], "tuple[float, Hashable] | None"]  # cell -> (excess, value to cut) or None


class _Trim:
    """Items (in priority order) in cells; :meth:`settle` removes items while some cell is judged in excess.

    Kept between calls, so that removing one more item and settling again (``balanced_subset``) costs the
    cells that item was in, not a pass over every item: the same removals as trimming the remaining items
    from scratch, since a settled state judges no cell and the latest surviving item of a (cell, value) is
    the same either way.
    """

    def __init__(self, memberships: Sequence[Sequence[tuple[Hashable, Hashable]]], judge: Judge) -> None:
        self.memberships, self.judge = memberships, judge
        self.counts: dict[Hashable, Counter] = {}
        self.buckets: dict[tuple, list[int]] = {}
        for i, row in enumerate(memberships):
            for cell, value in row:
                self.counts.setdefault(cell, Counter())[value] += 1
                self.buckets.setdefault((cell, value), []).append(i)
        self.alive = [True] * len(memberships)
        self.n_alive = len(memberships)
        self.rank = {cell: r for r, cell in enumerate(sorted(self.counts, key=repr))}  # ties by the cell's repr
        self.bad: dict[Hashable, tuple[float, Hashable]] = {}
        self.worst: list[tuple] = []  # heap of (-excess, -rank, push number, verdict, cell); stale ones skipped
        self.pushes = itertools.count()
        for cell, c in self.counts.items():
            self._judge(cell, judge(cell, c))

    def _judge(self, cell: Hashable, verdict: tuple[float, Hashable] | None) -> None:
        if verdict is None:
            self.bad.pop(cell, None)
            return
        self.bad[cell] = verdict
        heapq.heappush(self.worst, (-verdict[0], -self.rank[cell], next(self.pushes), verdict, cell))

    def latest(self, cell: Hashable, value: Hashable) -> int:
        """The latest surviving item holding (cell, value)."""
        bucket = self.buckets[(cell, value)]
        while not self.alive[bucket[-1]]:
            bucket.pop()
        return bucket[-1]

    def remove(self, i: int) -> None:
        self.alive[i] = False
        self.n_alive -= 1
        for c, v in self.memberships[i]:
            self.counts[c][v] -= 1
            self._judge(c, self.judge(c, self.counts[c]))

    def settle(self) -> list[bool]:
        """While some cell is judged in excess, the latest surviving item holding the judged (cell, value)
        goes, the worst cell first (ties by the cell's repr); which items survive. The worst cell comes off a
        heap (a scan of every judged cell per removal was quadratic at the scale of a split)."""
        while self.bad:
            *_, verdict, cell = heapq.heappop(self.worst)
            if self.bad.get(cell) == verdict:  # else the cell was judged again since
                self.remove(self.latest(cell, verdict[1]))
        return self.alive


def _cell_rows(items: Sequence[T], systems: Sequence[Callable[[T], Cell]]) -> list[list[tuple[tuple, Hashable]]]:
    """Each item's ((system, cell), value) in every cell system."""
    return [[((s, cell), value) for s, (cell, value) in enumerate(system(it) for system in systems)] for it in items]


def _share_judge(max_share: Callable[[int, Hashable, Hashable], float]) -> Judge:
    def judge(key: tuple, values: Counter):
        s, cell = key
        total = sum(values.values())
        worst = max(((n - max_share(s, cell, v) * total, v) for v, n in values.items() if n),
                    key=lambda e: (e[0], repr(e[1])), default=None)
        return worst if worst is not None and worst[0] > 1e-9 else None

    return judge


def trim_to_shares(items: Sequence[T], systems: Sequence[Callable[[T], Cell]],
                   max_share: Callable[[int, Hashable, Hashable], float]) -> list[T]:
    """The items (in priority order) after removing the latest ones until, in every cell of every cell
    system, each value holds at most ``max_share(system, cell, value)`` of the cell's items.

    A cell with too few distinct values for its shares (fewer than 1 / share) empties: its questions
    could not be balanced (docs/audit.md, "Generation rules").
    """
    alive = _Trim(_cell_rows(items, systems), _share_judge(max_share)).settle()
    return [it for it, a in zip(items, alive) if a]


def interleave(items: Sequence[T], key: Callable[[T], Hashable]) -> list[T]:
    """Round robin over the groups of ``key`` (groups in order of first appearance, items in order), so
    that a prefix of the result takes about as many items from every group."""
    groups: dict[Hashable, list[T]] = {}
    for it in items:
        groups.setdefault(key(it), []).append(it)
    out = []
    for rank in range(max((len(g) for g in groups.values()), default=0)):
        out += [g[rank] for g in groups.values() if rank < len(g)]
    return out


def balanced_subset(items: Sequence[T], systems: Sequence[Callable[[T], Cell]],
                    max_share: Callable[[int, Hashable, Hashable], float], cap: int) -> list[T]:
    """At most ``cap`` items (in the given priority order) whose cells hold the shares (:func:`trim_to_shares`).

    Above the cap, the latest item of the most frequent (cell, value) of the first system goes, then the
    shares are restored, until the cap holds: the cells shrink evenly instead of emptying.
    """
    trim = _Trim(_cell_rows(items, systems), _share_judge(max_share))
    trim.settle()
    while trim.n_alive > cap:
        first = [(key, value, n) for key, c in trim.counts.items() if key[0] == 0 for value, n in c.items() if n]
        largest = max(n for _, _, n in first)
        trim.remove(max(trim.latest(key, value) for key, value, n in first if n == largest))
        trim.settle()
    return [it for it, a in zip(items, trim.alive) if a]


def matched_sets(items: Sequence[T], group: Callable[[T], Hashable], stratum: Callable[[T], Hashable],
                 strata: Sequence[Hashable]) -> list[tuple[T, ...]]:
    """Sets of one item per stratum within the same group (items in priority order): a group with m items
    of its rarest stratum gives m sets. Sets in order of their first item."""
    buckets: dict[Hashable, dict[Hashable, list[T]]] = {}
    for it in items:
        buckets.setdefault(group(it), {s: [] for s in strata}).setdefault(stratum(it), []).append(it)
    sets = [tuple(b[s][i] for s in strata) for b in buckets.values() for i in range(min(len(b[s]) for s in strata))]
    order = {id(it): n for n, it in enumerate(items)}
    return sorted(sets, key=lambda st: min(order[id(it)] for it in st))


def trim_to_rates(items: Sequence[T], memberships: Callable[[T], Sequence[tuple[Hashable, bool]]],
                  rate: float, excess: float = 0.0) -> list[T]:
    """The items (in priority order) after removing the latest ones until every cell is the answer of at
    most ``rate`` of the items it appears in, plus ``excess`` items. ``memberships(item)``: the cells an
    item shows, each with whether it is the item's answer (e.g. (asked direction, option label) for each
    of four options).

    With one answer among k options per item, a cell's answer rate averages 1/k, so rates <= 1/k for
    all cells means exactly 1/k for each: no option is more often right than another (docs/audit.md).
    """
    def judge(cell, c: Counter):
        over = c[True] - rate * (c[True] + c[False]) - excess
        return (over, True) if c[True] and over > 1e-9 else None

    rows = [list(memberships(it)) for it in items]
    return [it for it, a in zip(items, _Trim(rows, judge).settle()) if a]


def equal_strata(items: Sequence[T], stratum: Callable[[T], Hashable], strata: Sequence[Hashable]) -> list[T]:
    """The items (in priority order) with every stratum cut to the size of the smallest one."""
    n = min((sum(stratum(it) == s for it in items) for s in strata), default=0)
    seen: Counter = Counter()
    out = []
    for it in items:
        seen[stratum(it)] += 1
        if seen[stratum(it)] <= n:
            out.append(it)
    return out


def trim_to_excess(items: Sequence[T], systems: Sequence[Callable[[T], Cell]], values: Sequence[Hashable],
                   excess: int) -> list[T]:
    """The items (in priority order) after removing the latest ones until, in every cell of every system,
    the most frequent of ``values`` outnumbers the least frequent (0 if absent) by at most ``excess``:
    e.g. a label pair asked "above" 9 times with the answer Yes and never No keeps ``excess`` of them."""
    def judge(key, c: Counter):
        top = max(values, key=lambda v: (c[v], repr(v)))
        gap = c[top] - min(c[v] for v in values)
        return (gap, top) if gap > excess else None

    return [it for it, a in zip(items, _Trim(_cell_rows(items, systems), judge).settle()) if a]
