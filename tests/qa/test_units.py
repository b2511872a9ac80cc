"""Relations, quotas, letter placement and distractor rules on hand-computable inputs."""
from __future__ import annotations

import math
from collections import Counter
from dataclasses import fields

import numpy as np
import pytest

from mosaic_pipeline.qa.options import LetterBalancer, exchangeable_values
from mosaic_pipeline.qa.records import SCHEMA, QARow
from mosaic_pipeline.qa.relations import camera_extents, relation
from mosaic_pipeline.qa.selection import balanced_subset, select, stratum_quotas, trim_to_rates, trim_to_shares
from mosaic_pipeline.qa.tasks.localization import decoy_points


def box(lo, hi):
    return (lo, hi)


@pytest.mark.parametrize("target, source, axis, expected", [
    (box((1.0, 0, 2), (1.5, 1, 3)), box((0, 0, 2), (0.9, 1, 3)), "x", "right"),  # gap 0.1
    (box((0.93, 0, 2), (1.5, 1, 3)), box((0, 0, 2), (0.9, 1, 3)), "x", None),  # gap 0.03 < margin
    (box((-2, 0, 2), (-1, 1, 3)), box((0, 0, 2), (0.9, 1, 3)), "x", "left"),
    (box((0, -1, 2), (1, -0.5, 3)), box((0, 0, 2), (1, 1, 3)), "y", "higher"),  # smaller y is up
    (box((0, 1.2, 2), (1, 2, 3)), box((0, 0, 2), (1, 1, 3)), "y", "lower"),
    (box((0, 0, 4), (1, 1, 5)), box((0, 0, 2), (1, 1, 3)), "z", "farther"),
    (box((0, 0, 1), (1, 1, 1.9)), box((0, 0, 2), (1, 1, 3)), "z", "closer"),  # centres 1.60 m and 2.60 m away
    # depth ranges 0.1 m apart, but the centres are 2.506 m and 2.500 m from the camera: no relation
    (box((1.1, -0.1, 2.1), (1.3, 0.1, 2.3)), box((-0.1, -0.1, 2.4), (0.1, 0.1, 2.6)), "z", None),
])
def test_relation_margin(target, source, axis, expected):
    assert relation(target, source, axis, 0.05) == expected


def test_camera_extents_of_a_shifted_box():
    corners = np.array([[[sx, sy, sz] for sx in (0, 1) for sy in (0, 2) for sz in (0, 3)]], float)
    pose = np.eye(4)
    pose[:3, 3] = [10, 20, 30]
    lo, hi = camera_extents(corners, pose)
    assert lo.tolist() == [[10, 20, 30]] and hi.tolist() == [[11, 22, 33]]


def test_quotas_by_hand():
    # equal shares while the small stratum lasts, then the large one grows while its share <= 0.55
    assert stratum_quotas({"a": 100, "b": 20}, 50, 0.05) == {"a": 24, "b": 20}  # 24/44 = .545, 25/45 = .556
    assert stratum_quotas({"a": 30, "b": 30}, 50, 0.05) == {"a": 25, "b": 25}
    assert stratum_quotas({"a": 10, "b": 0}, 50, 0.05) == {"a": 0, "b": 0}  # one direction only: nothing
    assert stratum_quotas({"all": 70}, 50, 0.0) == {"all": 50}
    assert stratum_quotas({"a": 7, "b": 9}, 50, 0.05, step=2) == {"a": 6, "b": 6}  # 8/14 = .571


def test_select_interleaves_strata_and_ranks():
    rng = np.random.default_rng(0)
    items = [("a", i) for i in range(5)] + [("b", i) for i in range(3)]
    chosen = select(items, [s for s, _ in items], ("a", "b"), 10, 0.1, 1, rng)
    assert [c[0][0] for c in chosen] == ["a", "b", "a", "b", "a", "b", "a"]  # 4/7 = .57 <= .6 < 5/8
    assert [rank for _, rank in chosen] == [0, 0, 1, 1, 2, 2, 3]


def test_letter_balancer_uses_the_least_used_letter():
    balancer = LetterBalancer(np.random.default_rng(0))
    positions = []
    for i in range(8):
        options, index = balancer.place(f"t{i}", ["x", "y", "z"])
        assert options[index] == f"t{i}" and sorted(options) == sorted([f"t{i}", "x", "y", "z"])
        positions.append(index)
    assert sorted(positions) == [0, 0, 1, 1, 2, 2, 3, 3]
    assert sorted(positions[:4]) == [0, 1, 2, 3]


def test_exchangeable_values_hide_the_truth():
    """Truths drawn from the weights: given the option set, each option is the truth a quarter of the time."""
    weights = {0: 5, 1: 5, 2: 4, 3: 3, 4: 2, 5: 1}  # shares <= 1/4
    rng = np.random.default_rng(0)
    values, p = list(weights), np.array(list(weights.values())) / sum(weights.values())
    by_set: dict[tuple, Counter] = {}
    for _ in range(20000):
        truth = int(rng.choice(values, p=p))
        options = exchangeable_values(truth, weights, 4, rng)
        assert len(set(options)) == 4 and truth in options
        by_set.setdefault(tuple(options), Counter())[truth] += 1
    common = [c for c in by_set.values() if sum(c.values()) > 2000]
    assert common and all(abs(n / sum(c.values()) - 0.25) < 0.03 for c in common for n in c.values())
    with pytest.raises(ValueError, match="shares <= 1/4"):
        exchangeable_values(0, {0: 2, 1: 1, 2: 1, 3: 1}, 4, rng)  # 0 is 40 % of the truths


def test_trim_to_shares_by_hand():
    items = [("lamp", 1)] * 6 + [("lamp", 0)] * 2 + [("chair", v) for v in (0, 1, 2, 3, 3, 3)] + [("vase", 1)] * 3
    kept = trim_to_shares(items, [lambda it: it], lambda s, cell, value: 0.25)
    # lamp and vase have fewer than 4 counts: emptied; chair keeps one of each count
    assert sorted(kept) == [("chair", 0), ("chair", 1), ("chair", 2), ("chair", 3)]
    halves = trim_to_shares(items, [lambda it: it], lambda s, cell, value: 0.5)
    assert Counter(halves) == Counter({("lamp", 1): 2, ("lamp", 0): 2, ("chair", 0): 1, ("chair", 1): 1,
                                       ("chair", 2): 1, ("chair", 3): 3})


def test_balanced_subset_shrinks_evenly_under_the_cap():
    items = [(cell, v) for cell in "ab" for v in range(4) for _ in range(10)]
    kept = balanced_subset(items, [lambda it: it], lambda s, cell, value: 0.25, 24)
    assert Counter(kept) == Counter({(c, v): 3 for c in "ab" for v in range(4)})


def test_trim_to_rates_equalizes_answer_rates():
    # four questions over the same four labels, each label answering once; a fifth answered by "a" again
    block = [("a", "bcd"), ("b", "acd"), ("c", "abd"), ("d", "abc")]
    kept = trim_to_rates([*block, ("a", "bce")], lambda q: [(q[0], True)] + [(o, False) for o in q[1]], 0.25)
    assert kept == block  # "a" answered 2 of the 5 questions showing it: the latest of them goes


def test_decoys_are_far_apart_and_inside(params):
    for seed in range(20):
        rng = np.random.default_rng(seed)
        truth = (int(rng.integers(640)), int(rng.integers(480)))
        points = [truth, *decoy_points(640, 480, [truth], 3, params.qa, rng)]
        for i, p in enumerate(points):
            assert 0 <= p[0] < 640 and 0 <= p[1] < 480
            assert all(math.dist(p, q) >= 0.15 * 800 for q in points[:i])


def test_record_fields_match_the_parquet_schema():
    assert [f.name for f in fields(QARow)] == SCHEMA.names
