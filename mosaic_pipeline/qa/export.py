"""Exports of QA tables (docs/formats.md): the official training format, the official test records and the
nested per-sample JSON of seed_example.json.

- Training (LLaVA conversations), one record per QA: ``id`` (the qa_id), ``data_source``,
  ``scene_name``, ``question_type``, ``frames`` (frame ids) and ``conversations``: the human turn
  "<image>\\nThese are frames of a video.\\n\\n{question}\\n\\nOptions:\\nA. ...\\n{post prompt}", the
  gpt turn the letter (free-answer questions: no options, the answer itself).
- Test records, the fields the official scorer (lmms-eval ``spatial_mosaic``) reads: options with
  letter prefixes ("A. 4"), ``mc_answer`` the letter ("" for free answers), ``ground_truth`` the
  answer string, ``bbox_2d`` / ``bbox_2d_diag`` (string) for point answers, vis_level / "GT Scenario"
  spelled as the official data ("Fully Visible", "Full Coverage"), ``id`` the qa_id (the one id of a
  question in every mosaic file: predictions, scores, LLaVA records; docs/bad_input.md). Records of
  the VSTI-style tasks go to their own file (their question types are VSTI-Bench's, scored by its
  task); the official scorer raises on types it does not know.
- Images are expected at ``{root}/{data_source}/{scene_name}/images/{frame_id}.jpg``.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

from ..atomic import atomic_file
from .diagnostics import difficulty_level
from .options import LETTERS, letter
from .records import as_frame, stable_json
from .tasks.transfer import VSTI

IMAGE = "<image>"
PRE_PROMPT = "These are frames of a video."
MC_POST = "Answer with the option's letter from the given choices directly."
NA_POST = "Please answer the question using a single word or phrase."
POINT_POST = "Please answer with the coordinate pair only, formatted as (x,y)."
POINT_TYPES = {"obj_localization_occ_na"}
SCORERS = {"spatial_mosaic": lambda task_type: task_type != VSTI, "vstibench": lambda task_type: task_type == VSTI}
VIS_LEVEL = {"fully_visible": "Fully Visible", "partially_visible": "Partially Visible"}
GT_SCENARIO = {"full_coverage": "Full Coverage", "partial_coverage": "Partial Coverage"}
DATASET_HEADER = {
    "dataset": "SpatialMosaic", "version": "1.0",
    "description": "Multiview VLM dataset for partial visibility, occlusion, and low-overlap conditions",
}
SOURCE_SCENE = {"scannetpp": "ScanNet++", "synthetic": "synthetic"}


def image_path(root: Path, data_source: str, scene_name: str, frame_id: str) -> Path:
    return Path(root) / data_source / scene_name / "images" / f"{frame_id}.jpg"


def lettered(options: list[str]) -> list[str]:
    return [f"{letter(i)}. {o}" for i, o in enumerate(options)]


def _post_prompt(question_type: str) -> str:
    return POINT_POST if question_type in POINT_TYPES else NA_POST


def llava_record(q: Any) -> dict:
    options = list(q.options)
    if options:
        human = "\n".join([f"{q.question}\n", "Options:", *lettered(options), MC_POST])
        gpt = letter(int(q.correct_option_index))
    else:
        human, gpt = f"{q.question}\n\n{_post_prompt(q.question_type)}", q.answer
    return {"id": q.qa_id, "data_source": q.data_source, "scene_name": q.scene_id, "question_type": q.question_type,
            "frames": list(q.source_frame_ids),
            "conversations": [{"from": "human", "value": f"{IMAGE}\n{PRE_PROMPT}\n\n{human}"},
                              {"from": "gpt", "value": gpt}]}


def parse_llava(record: dict) -> tuple[str, list[str], str]:
    """(question, options, answer) back from a training record."""
    human, gpt = (turn["value"] for turn in record["conversations"])
    body = human.removeprefix(f"{IMAGE}\n{PRE_PROMPT}\n\n")
    if "\n\nOptions:\n" not in body:
        return body.removesuffix(f"\n\n{_post_prompt(record['question_type'])}"), [], gpt
    question, block = body.split("\n\nOptions:\n", 1)
    options = [line.split(". ", 1)[1] for line in block.removesuffix(f"\n{MC_POST}").split("\n")]
    return question, options, options[LETTERS.index(gpt)]


def test_record(q: Any) -> dict:
    options = list(q.options)
    meta = json.loads(q.metadata)
    box = meta.get("bbox_2d")  # point answers (present localization, 2D point)
    return {
        "dataset": q.data_source, "scene_name": q.scene_id, "question_type": q.question_type,
        "frames": list(q.source_frame_ids), "question": q.question, "options": lettered(options),
        "ground_truth": q.answer, "mc_answer": letter(int(q.correct_option_index)) if options else "",
        "overlap_avg": float(q.overlap_avg), "occlusion_avg": float(q.occlusion_avg), "occ_level": q.occ_level,
        "overlap_level": q.overlap_level, "vis_level": VIS_LEVEL[q.vis_level],
        "GT Scenario": GT_SCENARIO[q.gt_scenario], "id": q.qa_id,
        "bbox_2d": list(box) if box else [], "bbox_2d_diag": str(meta["bbox_2d_diag"]) if box else "0",
    }


def test_records(qa: pd.DataFrame) -> dict[str, list[dict]]:
    """Official test records per scorer (``spatial_mosaic``, ``vstibench``), in table order."""
    out = {}
    for scorer, accepts in SCORERS.items():
        rows = qa[qa["task_type"].map(accepts)]
        out[scorer] = [test_record(q) for q in rows.itertuples(index=False)]
    return out


def _qa_item(q: Any) -> dict:
    item = {"task_type": q.task_type, "question_type": q.question_type, "question": q.question,
            "frames": list(q.frames), "answer": q.answer, "options": list(q.options),
            "correct_option_index": None if pd.isna(q.correct_option_index) else int(q.correct_option_index),
            "metadata": json.loads(q.metadata)}
    if isinstance(q.subtask, str):
        item["subtask"] = q.subtask
    if not pd.isna(q.query_frame_id):
        item["query_frame_id"] = int(q.query_frame_id)
    return item


def samples_json(qa: pd.DataFrame, views: pd.DataFrame, occ_edges: tuple[float, float]) -> list[dict]:
    """One seed-shaped object per view sample that has questions, with its difficulty_metadata."""
    views_by_id = {int(r.sample_id): r for r in views.itertuples(index=False)}
    out = []
    for (scene_id, sample_id), group in qa.groupby(["scene_id", "sample_id"], sort=True):
        v = views_by_id[int(sample_id)]
        avg_occ = float(group["occlusion_avg"].mean())
        out.append({
            **DATASET_HEADER, "source_scene": SOURCE_SCENE[group["data_source"].iloc[0]], "scene_id": scene_id,
            "sample_id": int(sample_id), "frame_ids": list(v.frame_ids),
            "qa_sample": [_qa_item(q) for q in group.itertuples(index=False)],
            "difficulty_metadata": {
                "overlap_ratio_between_frames": [float(x) for x in v.pairwise_overlaps],
                "max_overlap": float(v.max_overlap), "avg_occlusion_ratio_targets": avg_occ,
                "visibility_scenario": "fully_visible" if (group["vis_level"] == "fully_visible").all()
                else "partially_visible",
                "difficulty_level": difficulty_level(avg_occ, str(v.overlap_level), occ_edges),
            },
        })
    return out


def write_json(value: Any, path: Path) -> None:
    with atomic_file(path) as tmp:
        tmp.write_text(stable_json(value) + "\n")


def export_split(table: pa.Table, out_dir: Path, name: str) -> dict[str, Path]:
    """Training and test files of one split: ``{name}_llava.json``, ``{name}_test_{scorer}.json``."""
    qa = as_frame(table)
    paths = {"llava": Path(out_dir) / f"{name}_llava.json"}
    write_json([llava_record(q) for q in qa.itertuples(index=False)], paths["llava"])
    for scorer, records in test_records(qa).items():
        paths[f"test_{scorer}"] = Path(out_dir) / f"{name}_test_{scorer}.json"
        write_json(records, paths[f"test_{scorer}"])
    return paths
