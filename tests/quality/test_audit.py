"""The bias audit on hand-made QA (tests/quality/audit_data.py): it finds a planted text shortcut, passes
questions whose text says nothing about the answer, and is deterministic."""
from __future__ import annotations

import pandas as pd
import pytest
from audit_data import qa_table

from mosaic_pipeline.quality.audit import OVERALL, audit, pattern, verdict


@pytest.fixture(scope="module")
def planted(params) -> pd.DataFrame:
    return audit(qa_table(shortcut_share=1.0), params.audit)


@pytest.fixture(scope="module")
def clean(params) -> pd.DataFrame:
    return audit(qa_table(shortcut_share=0.0), params.audit)


def _row(table: pd.DataFrame, qtype: str):
    return table.set_index("question_type").loc[qtype]


def test_a_model_trained_on_another_split_finds_a_shortcut_they_share(params):
    """audit.cross_splits: the bench's questions are also answered by a model trained on the train split."""
    bench, train = qa_table(1.0, split="bench"), qa_table(1.0, seed=1, split="train")
    table = audit(pd.concat([bench, train.assign(scene_id=train["scene_id"] + "_t")], ignore_index=True), params.audit)
    rows = table.set_index(["split", "question_type"])
    assert rows.loc[("bench", "obj_count_occ"), "gap_cross"] > 60
    assert pd.isna(rows.loc[("train", "obj_count_occ"), "gap_cross"])  # train has no reference split
    assert any("model trained on train" in f for f in verdict(table, params.audit))


def test_finds_a_planted_shortcut(planted, params):
    count, attribute = _row(planted, "obj_count_occ"), _row(planted, "obj_attribute_occ_ab")
    # the answer is always the largest count / follows from the source label: text alone gets (nearly) all
    assert count["text_only"] > 90 and count["gap"] > 60 and count["text_only_lo"] > count["chance"]
    assert attribute["text_only"] > 90 and attribute["prior"] > 90  # the pattern's most frequent answer too
    failures = verdict(planted, params.audit)
    assert any("obj_count_occ: text-only gap" in f for f in failures)
    assert any("obj_attribute_occ_ab: answer-prior gap" in f for f in failures)
    assert any("overall: text-only gap" in f for f in failures)


def test_passes_questions_without_a_shortcut(clean, params):
    for qtype in ("obj_count_occ", "obj_attribute_occ_ab"):
        row = _row(clean, qtype)
        assert row["n"] == 240 and row["n_scenes"] == 6 and row["chance"] == 25.0
        assert row["text_only_lo"] <= row["chance"] <= row["text_only_hi"]
    assert verdict(clean, params.audit) == []
    overall = _row(clean, OVERALL)
    assert overall["n"] == 480 and abs(overall["gap"]) <= params.audit.max_gap_overall


def test_same_table_on_every_run(clean, params):
    pd.testing.assert_frame_equal(clean, audit(qa_table(shortcut_share=0.0), params.audit))


def test_scenes_are_held_out_whole(params):
    """A shortcut that lives in one scene only (its own answers) does not transfer to held-out scenes."""
    qa = qa_table(shortcut_share=0.0)
    one = qa["scene_id"] == "scene_00"
    qa.loc[one, "question"] = qa.loc[one, "question"] + " (scene zero)"
    assert abs(_row(audit(qa, params.audit), "obj_count_occ")["gap"]) <= params.audit.max_gap_type


def test_a_single_scene_is_reported_not_judged(params):
    table = audit(qa_table(shortcut_share=1.0, n_scenes=1), params.audit)
    assert table["text_only"].isna().all() and verdict(table, params.audit) == []


def test_pattern_drops_point_references():
    assert pattern("In Frame 1, is the chair(217,122) left of the table?") == "In Frame 1, is the chair left of the table?"


def test_missing_columns_name_them(params):
    with pytest.raises(ValueError, match="correct_option_index"):
        audit(qa_table(0.0).drop(columns=["correct_option_index"]), params.audit)
