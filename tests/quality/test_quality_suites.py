"""The GX suites on hand-built shards: the good shard passes; each defect fails the expectation that
names it, with the observed value in the message."""
from __future__ import annotations

import json

import pandas as pd
import pytest
from quality_shards import SCENE, TASKS, all_answers_a, transfer_shard, view_table, visibility_table

from mosaic_pipeline.quality.suites import SCOPES, QATasks, suite_path
from mosaic_pipeline.quality.tables import TableSchemaError
from mosaic_pipeline.quality.validation import load_suite, validate_tables


def _failed_lines(report) -> list[str]:
    return [o.line() for o in report.failed]


def test_suites_are_gx_json_with_parameters_from_params():
    names = {s for scope in SCOPES.values() for s in scope}
    for name in names:
        raw = json.loads(suite_path(name).read_text())
        suite = load_suite(name)
        assert suite.name == name and len(suite.expectations) == len(raw["expectations"]) > 0
    letters = json.loads(suite_path("qa_letter_balance").read_text())["expectations"]
    assert {e["kwargs"]["max_value"]["$PARAMETER"] for e in letters} == {"max_letter_kl", "letter_share_tolerance"}


def test_good_dataset_passes(shard, params):
    report = validate_tables({"qa_dataset": pd.concat([shard, transfer_shard()], ignore_index=True)}, params, TASKS)
    assert report.success, report.text()
    assert {o.suite for o in report.outcomes} == set(SCOPES["qa_dataset"])
    letters = [o for o in report.outcomes if o.target == "kl_to_uniform"]
    assert "object_count letter shares A 0.25 B 0.25 C 0.25 D 0.25 (n 24)" in letters[0].observed


def test_unbalanced_letters_fail(shard, params):
    report = validate_tables({"qa_shard": all_answers_a(shard, "object_count")}, params, TASKS)
    failed = _failed_lines(report)
    assert {o.target for o in report.failed} == {"kl_to_uniform", "max_share_deviation"}, report.text()
    assert any("expect_column_values_to_be_between on kl_to_uniform (min_value=0, max_value=0.01)" in line
               for line in failed)
    assert all("object_count letter shares A 1.00 B 0.00 C 0.00 D 0.00 (n 24)" in line for line in failed)
    assert any("kl_to_uniform=1.386" in line for line in failed)


def test_duplicated_option_fails(shard, params):
    i = shard.index[shard["task_type"] == "object_count"][0]
    opts = list(shard.at[i, "options"])
    wrong = [j for j, o in enumerate(opts) if o != shard.at[i, "answer"]]
    opts[wrong[1]] = opts[wrong[0]]
    shard.at[i, "options"] = opts
    report = validate_tables({"qa_shard": shard}, params, TASKS)
    (line,) = _failed_lines(report)
    assert "expect_column_pair_values_to_be_equal on n_distinct_options / n_options" in line
    assert f"{SCENE} sample 0 object_count" in line and "n_distinct_options=3, n_options=4" in line


def test_scene_in_two_splits_fails(shard, params):
    shard.loc[shard.index[::2], "split"] = "bench"
    report = validate_tables({"qa_shard": shard}, params, TASKS)
    (line,) = _failed_lines(report)
    assert "qa_splits: expect_column_values_to_be_unique on scene_id" in line
    assert f"scene {SCENE} in splits bench, train" in line


def test_yes_no_and_direction_imbalance_fail(shard, params):
    existence = shard.index[shard["task_type"] == "occlusion_aware_existence"]
    md = [json.loads(m) for m in shard.loc[existence, "metadata"]]
    for m in md:
        m["ground_truth_relation"] = "right"  # every target right of its source: Yes only when asked "right"
    shard.loc[existence, "metadata"] = [json.dumps(m) for m in md]
    yes = [True] * 16 + [False] * 8
    shard.loc[existence, "answer"] = ["Yes" if y else "No" for y in yes]
    shard.loc[existence, "correct_option_index"] = [0 if y else 1 for y in yes]
    report = validate_tables({"qa_shard": shard}, params, TASKS)
    by_suite = {o.suite: o.line() for o in report.failed}
    assert "occlusion_aware_existence/left_right Yes 0.667 No 0.333 (n 24) (yes_share=0.6667)" in by_suite[
        "qa_yes_no_balance"]
    assert "occlusion_aware_existence x axis: left 0.000 right 1.000 (n 24)" in by_suite["qa_direction_balance"]
    assert "(share=0)" in by_suite["qa_direction_balance"] and "(share=1)" in by_suite["qa_direction_balance"]


def test_duplicate_question_fails(shard, params):
    shard.loc[1, ["sample_id", "question"]] = shard.loc[0, ["sample_id", "question"]].to_list()
    report = validate_tables({"qa_shard": shard}, params, TASKS)
    (line,) = _failed_lines(report)
    assert "expect_compound_columns_to_be_unique on scene_id, sample_id, question: 2 of 72 rows unexpected" in line


def test_frames_overlap_and_index_out_of_range_fail(shard, params):
    shard.at[0, "frames"] = list(range(6))
    shard.at[0, "source_frame_ids"] = [f"frame_{i:06d}" for i in range(6)]
    shard.at[1, "overlap_avg"] = 0.45
    shard.at[2, "correct_option_index"] = 4
    report = validate_tables({"qa_shard": shard}, params, TASKS)
    observed = {o.target: o.observed for o in report.failed}
    assert "n_frames=6" in observed["n_frames"] and "overlap_avg=0.45" in observed["overlap_avg"]
    assert "correct_option_index=4" in observed["n_options / correct_option_index"]
    assert "option_at_index=(no option at this index)" in observed["answer / option_at_index"]


def test_free_answer_shard_passes(params):
    report = validate_tables({"qa_shard": transfer_shard()}, params, TASKS)
    assert report.success, report.text()


def test_missing_task_fails_dataset_coverage_only(shard, params):
    train = (*TASKS.split_keys["train"], "best_view_selection")
    tasks = QATasks({**TASKS.n_options, "best_view_selection": 4}, {**TASKS.split_keys, "train": train},
                    TASKS.directions)
    assert validate_tables({"qa_shard": shard}, params, tasks).success
    report = validate_tables({"qa_dataset": shard}, params, tasks)
    (line,) = _failed_lines(report)
    assert "expect_column_distinct_values_to_equal_set on split_task" in line
    assert "missing: train:best_view_selection" in line


def test_task_outside_its_split_fails(shard, params):
    shard.loc[shard.index[:3], "split"] = "transfer"
    shard.loc[shard.index[:3], "scene_id"] = "synth_0022"
    report = validate_tables({"qa_shard": shard}, params, TASKS)
    (line,) = _failed_lines(report)
    assert "expect_column_values_to_be_in_set on split_task" in line and "split_task=transfer:object_count" in line


def test_small_groups_are_noted_not_judged(shard, params):
    small = shard.drop(shard.index[(shard["task_type"] == "object_count")][10:])
    small.loc[small["task_type"] == "object_count", "correct_option_index"] = 0
    report = validate_tables({"qa_shard": small}, params, TASKS)
    assert not report.success  # the answers no longer match their options, but letters are not judged
    assert {o.suite for o in report.failed} == {"qa_records"}
    assert any("object_count (10)" in n for n in report.notes)


def test_scene_tables_validate_together(shard, params):
    report = validate_tables({"qa_shard": shard, "visibility": visibility_table(), "view_samples": view_table()},
                             params, TASKS)
    assert report.success, report.text()
    assert {o.suite for o in report.outcomes} == {*SCOPES["qa_shard"], "visibility_rows", "view_samples"}


def test_bbox_outside_image_and_ratio_fail(params):
    vis = visibility_table()
    vis.at[1, "bbox_2d"] = [600.0, 5.0, 700.0, 50.0]
    vis.at[1, "occlusion_ratio"] = 1.2
    report = validate_tables({"visibility": vis}, params)
    observed = {o.target: o.observed for o in report.failed}
    assert set(observed) == {"image_width / x_max", "occlusion_ratio"}, report.text()
    assert f"{SCENE} frame_000010 instance 4 (lamp) (image_width=640, x_max=700)" in observed["image_width / x_max"]
    assert "occlusion_ratio=1.2" in observed["occlusion_ratio"]


def test_view_sample_over_cap_fails(params):
    views = view_table()
    views.at[1, "pairwise_overlaps"] = [0.35, 0.2, 0.1]
    views.at[1, "max_overlap"] = 0.35
    report = validate_tables({"view_samples": views}, params)
    (line,) = _failed_lines(report)
    assert "on max_overlap (min_value=0, max_value=0.3)" in line
    assert f"{SCENE} sample 1 frames frame_000020,frame_000030,frame_000040 (max_overlap=0.35)" in line


def test_missing_columns_raise(shard, params):
    with pytest.raises(TableSchemaError, match="split"):
        validate_tables({"qa_shard": shard.drop(columns="split")}, params, TASKS)


def test_data_docs_written_atomically(shard, params, tmp_path):
    docs = tmp_path / "docs"
    report = validate_tables({"qa_shard": shard}, params, TASKS, docs)
    assert report.docs_index is not None and report.docs_index.is_file()
    html = report.docs_index.read_text()
    assert "qa_letter_balance" in html and "qa_records" in html
    assert [p.name for p in tmp_path.iterdir()] == ["docs"]  # no temporary folder left beside it


def test_empty_shard_passes_empty_dataset_fails(shard, params):
    empty = shard.iloc[:0]
    assert validate_tables({"qa_shard": empty}, params, TASKS).success  # a scene may yield no QA
    (line,) = _failed_lines(validate_tables({"qa_dataset": empty}, params, TASKS))
    assert "qa_coverage: expect_table_row_count_to_be_between on table (min_value=1): observed 0" in line
