"""Balance (docs/balance.md) measured on the generated shards: letters, Yes/No, relation directions, caps."""
from __future__ import annotations

import json

import pandas as pd
from qa_fixtures import make_shard

from mosaic_pipeline.params import load_params
from mosaic_pipeline.qa.relations import DIRECTIONS, EXISTENCE_PHRASE


def _mc(qa: pd.DataFrame) -> pd.DataFrame:
    return qa[qa["options"].map(len) > 0]


def test_correct_letter_uniform_per_scene_and_type(shards):
    for shard in shards:
        for qtype, group in _mc(shard.qa).groupby("question_type"):
            n_options = group["options"].map(len).iloc[0]
            counts = group["correct_option_index"].value_counts().reindex(range(n_options), fill_value=0)
            assert counts.max() - counts.min() <= 1, (qtype, counts.to_dict())


def test_yes_no_exactly_half_per_subtask(shards, params):
    pooled = pd.concat([s.qa for s in shards])
    existence = pooled[pooled["task_type"] == "occlusion_aware_existence"]
    assert set(existence["subtask"]) == {"left_right", "above_below", "farther_closer"}
    for (scene, subtask), group in existence.groupby(["scene_id", "subtask"]):
        assert (group["answer"] == "Yes").mean() == 0.5, (scene, subtask)
    for subtask, group in existence.groupby("subtask"):
        assert abs((group["answer"] == "Yes").mean() - 0.5) <= params.qa.yes_no_tolerance


def _true_direction(m: dict) -> str:
    return m.get("ground_truth_relation") or m["ground_truth_relations"][f"{m['evaluated_axis']}_axis"]


def test_relation_directions_balanced_per_axis(shards, params):
    for shard in shards:
        md = shard.qa["metadata"].map(json.loads)
        rel = shard.qa.assign(axis=md.map(lambda m: m.get("evaluated_axis")),
                              direction=md.map(lambda m: _true_direction(m) if "evaluated_axis" in m else None))
        rel = rel[rel["axis"].notna()]
        assert set(rel["task_type"]) == {"occlusion_aware_existence", "occlusion_aware_attribute",
                                         "occlusion_aware_spatial_relation"}
        for (task, axis), group in rel.groupby(["task_type", "axis"]):
            shares = group["direction"].value_counts(normalize=True).reindex(DIRECTIONS[axis], fill_value=0)
            assert (abs(shares - 0.5) <= params.qa.direction_tolerance + 1e-9).all(), (task, axis, shares.to_dict())


def test_existence_asks_both_directions_equally(shards):
    for shard in shards:
        existence = shard.qa[shard.qa["task_type"] == "occlusion_aware_existence"]
        for subtask, group in existence.groupby("subtask"):
            asked = group["metadata"].map(lambda m: json.loads(m)["asked_relation"])
            assert asked.nunique() == 2 and asked.value_counts().nunique() == 1, subtask
            for q, direction in zip(group["question"], asked):
                assert f" {EXISTENCE_PHRASE[direction]} the " in q


def test_localization_absent_share_per_label(shards, params):
    """"No" is one option of four: per label exactly localization_absent_share of the answers (docs/audit.md)."""
    for shard in shards:
        loc = shard.qa[shard.qa["question_type"] == "obj_localization_occ"]
        assert len(loc)
        label = loc["metadata"].map(lambda m: json.loads(m)["target_category"])
        absent = (loc["answer"] == "No").groupby(label).mean()
        assert (absent == params.qa.localization_absent_share).all(), absent.to_dict()


def test_cap_per_scene_and_question_type(shards, params):
    for shard in shards:
        sizes = shard.qa.groupby("question_type").size()
        assert sizes.max() == params.qa.max_per_scene_task  # reached, and never exceeded
    small = load_params(overrides={"qa": {"max_per_scene_task": 8}})
    sizes = make_shard(0, small).qa.groupby("question_type").size()
    assert sizes.max() <= 8 and (sizes == 8).sum() >= len(sizes) // 2
