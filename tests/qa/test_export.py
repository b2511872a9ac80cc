"""Exports (docs/formats.md): LLaVA training records and official test records round-trip; samples.json;
scene-disjoint splits."""
from __future__ import annotations

import json
import re

import pyarrow as pa

from mosaic_pipeline.qa.dataset import assemble, counts_table, letter_table
from mosaic_pipeline.qa.export import export_split, image_path, parse_llava, samples_json
from mosaic_pipeline.qa.generate import SPLIT_GROUPS, task_specs
from mosaic_pipeline.qa.records import as_frame

TEST_FIELDS = {"dataset": str, "scene_name": str, "question_type": str, "frames": list, "question": str,
               "options": list, "ground_truth": str, "mc_answer": str, "overlap_avg": float,
               "occlusion_avg": float, "occ_level": str, "overlap_level": str, "vis_level": str,
               "GT Scenario": str, "id": str, "bbox_2d": list, "bbox_2d_diag": str}
MC_TYPES = {"bestview_count_occ", "obj_count_occ", "obj_localization_occ", *(
    f"obj_{t}_occ_{a}" for t in ("existence", "attribute", "spatial") for a in ("ab", "fb", "lr"))}
NA_TYPES = {"obj_count_occ_na", "obj_distance_occ_na", "obj_obj_distance_occ_na", "obj_size_occ_na",
            "obj_localization_occ_na"}


def _table(shard) -> pa.Table:
    return pa.Table.from_pandas(shard.qa, preserve_index=False)


def test_llava_round_trip(shards, tmp_path):
    qa = shards[0].qa
    paths = export_split(_table(shards[0]), tmp_path, "train")
    records = json.loads(paths["llava"].read_text())
    assert len(records) == len(qa)
    for rec, q in zip(records, qa.itertuples()):
        question, options, answer = parse_llava(rec)
        assert (question, options, answer) == (q.question, list(q.options), q.answer)
        assert rec["frames"] == list(q.source_frame_ids) and rec["scene_name"] == q.scene_id
        human = rec["conversations"][0]["value"]
        assert human.startswith("<image>\nThese are frames of a video.\n\n" + q.question)
        if len(q.options):
            assert "\n\nOptions:\nA. " in human
            assert human.endswith("\nAnswer with the option's letter from the given choices directly.")
            assert rec["conversations"][1]["value"] == "ABCD"[q.correct_option_index]


def test_official_test_records(shards, tmp_path):
    qa = shards[1].qa  # the fixture scene with every question type (seed 0 has no attribute above/below)
    paths = export_split(_table(shards[1]), tmp_path, "bench")
    official = json.loads(paths["test_spatial_mosaic"].read_text())
    vsti = json.loads(paths["test_vstibench"].read_text())
    assert len(official) + len(vsti) == len(qa)
    assert {r["question_type"] for r in official} == MC_TYPES | NA_TYPES
    assert {r["question_type"] for r in vsti} == set(qa.loc[qa["task_type"] == "vsti", "question_type"])
    by_question = {(q.sample_id, q.question): q for q in qa.itertuples()}
    samples = {tuple(q.source_frame_ids): q.sample_id for q in qa.itertuples()}
    for rec in official:
        assert {k: type(v) for k, v in rec.items()} == TEST_FIELDS
        q = by_question[(samples[tuple(rec["frames"])], rec["question"])]
        assert rec["id"] == q.qa_id  # the one id scheme (docs/bad_input.md)
        assert rec["ground_truth"] == q.answer and rec["frames"] == list(q.source_frame_ids)
        assert rec["vis_level"] in ("Fully Visible", "Partially Visible")
        assert rec["GT Scenario"] in ("Full Coverage", "Partial Coverage")
        if rec["question_type"] in MC_TYPES:
            letter = rec["mc_answer"]
            assert rec["options"][ord(letter) - ord("A")] == f"{letter}. {q.answer}"
            assert all(re.fullmatch(r"[A-D]\. .+", o) for o in rec["options"])
        else:
            assert rec["options"] == [] and rec["mc_answer"] == ""
        if rec["question_type"] == "obj_localization_occ_na":  # scored with MPA on the box diagonal
            assert re.fullmatch(r"\(\d+,\d+\)", rec["ground_truth"]) and float(rec["bbox_2d_diag"]) > 0
            assert len(rec["bbox_2d"]) == 4
        elif rec["question_type"] in NA_TYPES:
            assert float(rec["ground_truth"]) > 0  # MRA needs a positive number


def test_image_layout(tmp_path):
    assert image_path(tmp_path, "synthetic", "synth_0001", "frame_000120") == \
        tmp_path / "synthetic/synth_0001/images/frame_000120.jpg"


def test_samples_json_nests_like_the_seed(shards, params):
    shard = shards[0]
    samples = samples_json(shard.qa, shard.views, params.visibility.occ_level_edges)
    assert sum(len(s["qa_sample"]) for s in samples) == len(shard.qa)
    for s in samples:
        assert {"dataset", "version", "description", "source_scene", "scene_id", "qa_sample",
                "difficulty_metadata"} <= set(s)
        assert set(s["difficulty_metadata"]) == {"overlap_ratio_between_frames", "max_overlap",
                                                 "avg_occlusion_ratio_targets", "visibility_scenario",
                                                 "difficulty_level"}
        for item in s["qa_sample"]:
            assert {"task_type", "question", "frames", "answer", "options", "correct_option_index",
                    "metadata"} <= set(item)


def test_splits_are_scene_disjoint_and_route_task_groups(shards, params):
    tables = {s.scene.scene_id: _table(s) for s in shards}
    ids = sorted(tables)
    out = assemble(tables, {ids[0]: "train", ids[1]: "transfer"}, params)
    group_of = {s.question_type: s.group for s in task_specs(params)}
    assert out["bench"].num_rows == 0
    for split in ("train", "transfer"):
        qa = as_frame(out[split])
        assert set(qa["scene_id"]) == {ids[0] if split == "train" else ids[1]}
        assert set(qa["split"]) == {split}
        assert {group_of[t] for t in qa["question_type"]} == set(SPLIT_GROUPS[split])
    counts = counts_table(out)
    assert counts.to_numpy().sum() == sum(t.num_rows for t in out.values())
    n_mc = sum(int(t.column("correct_option_index").drop_null().length()) for t in out.values())
    assert letter_table(out).to_numpy().sum() == n_mc


def test_generation_for_a_split_yields_its_groups_only(shards, params):
    from mosaic_pipeline.qa.generate import generate_scene_qa

    shard = shards[1]
    group_of = {s.question_type: s.group for s in task_specs(params)}
    for split in ("bench", "transfer"):
        rows = generate_scene_qa(shard.scene, shard.visibility, shard.views, params, split=split)
        assert {r.split for r in rows} == {split}
        assert {group_of[r.question_type] for r in rows} == set(SPLIT_GROUPS[split])
