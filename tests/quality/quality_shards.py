"""Hand-built QA shards in the schema of issue 5: a good one (balanced by construction) and its
deliberately broken variants. Small: 24 QA per multiple-choice task, so every balance group is judged
(quality.min_group_size is 20)."""
from __future__ import annotations

import json

import pandas as pd

from mosaic_pipeline.quality.suites import QATasks

SCENE = "synth_0000"
MOSAIC_KEYS = ("object_count", "occlusion_aware_existence/left_right", "occlusion_aware_spatial_relation/full_3d")
TASKS = QATasks(
    n_options={"object_count": 4, "occlusion_aware_existence/left_right": 2,
               "occlusion_aware_spatial_relation/full_3d": 4, "numeric/count": 0},
    split_keys={"train": MOSAIC_KEYS, "bench": MOSAIC_KEYS, "transfer": ("numeric/count",)},
    directions={"x": ("left", "right"), "y": ("higher", "lower"), "z": ("closer", "farther")},
)
N = 24  # QA per multiple-choice task


def _row(i: int, task_type: str, subtask: str | None, question: str, options: list[str], answer: str,
         metadata: dict, scene_id: str = SCENE, split: str = "train") -> dict:
    k = 2 + i % 4  # 2..5 frames
    return {
        "scene_id": scene_id, "sample_id": i, "task_type": task_type, "subtask": subtask, "question": question,
        "options": options, "answer": answer, "correct_option_index": options.index(answer) if options else None,
        "frames": list(range(k)), "source_frame_ids": [f"frame_{10 * (i + j):06d}" for j in range(k)],
        "query_frame_id": 0, "metadata": json.dumps(metadata), "occlusion_avg": 0.1 + 0.8 * (i % 5) / 4,
        "occ_level": ["low", "medium", "high"][i % 3], "overlap_avg": 0.05 + 0.01 * (i % 20),
        "overlap_level": ["low", "medium"][i % 2], "vis_level": "partially_visible",
        "gt_scenario": "partial_coverage", "split": split,
    }


def _count(i: int) -> dict:
    truth = 3 + i % 2
    options = [str(truth + d) for d in (-1, 1, 2)]
    options.insert(i % 4, str(truth))  # correct letter cycles A, B, C, D
    return _row(i, "object_count", None, f"How many chair(s) are visible across these frames? (#{i})",
                options, str(truth), {"target_category": "chair"})


def _existence(i: int) -> dict:
    truth = ("right", "left")[i % 2]
    asked = ("right", "left")[(i // 2) % 2]
    return _row(i, "occlusion_aware_existence", "left_right",
                f"In Frame 0, is the lamp_{i:02d} to the {asked} of the sofa?",
                ["Yes", "No"], "Yes" if truth == asked else "No",
                {"ground_truth_relation": truth, "asked_relation": asked, "evaluated_axis": "x",
                 "target_instance": f"lamp_{i:02d}", "target_fov_ratio": 0.6, "target_occlusion_ratio": 0.5})


def _relation(i: int) -> dict:
    truth = ("left", "right")[i % 2]
    phrase = {"left": "To the left of the sofa", "right": "To the right of the sofa"}
    options = ["Higher than the sofa", "Farther from the camera than the sofa",
               phrase["right" if truth == "left" else "left"]]
    options.insert(i % 4, phrase[truth])
    return _row(i, "occlusion_aware_spatial_relation", "full_3d", f"In Frame 0, where does the pillow_{i:02d} appear?",
                options, phrase[truth],
                {"ground_truth_relations": {"x_axis": truth, "y_axis": "lower", "z_axis": "closer"},
                 "evaluated_axis": "x", "target_instance": f"pillow_{i:02d}"})


def good_shard() -> pd.DataFrame:
    """A train shard of the three multiple-choice tasks of TASKS, 24 QA each, balanced by construction."""
    rows = [_count(i) for i in range(N)] + [_existence(N + i) for i in range(N)]
    rows += [_relation(2 * N + i) for i in range(N)]
    return pd.DataFrame(rows)


def transfer_shard() -> pd.DataFrame:
    """A transfer shard of free-answer counts (no options, null correct_option_index)."""
    return pd.DataFrame([_row(i, "numeric", "count", f"How many tables are there? (#{i})", [], str(1 + i % 3), {},
                              scene_id="synth_0022", split="transfer") for i in range(6)])


def all_answers_a(shard: pd.DataFrame, task_type: str) -> pd.DataFrame:
    """The shard with every correct answer of ``task_type`` moved to letter A (options reordered)."""
    out = shard.copy()
    rows = out["task_type"] == task_type
    out.loc[rows, "options"] = out[rows].apply(lambda r: [r.answer, *(o for o in r.options if o != r.answer)], axis=1)
    out.loc[rows, "correct_option_index"] = 0
    return out


def visibility_table() -> pd.DataFrame:
    """Three visibility rows of SCENE: visible, visible, not visible (null bbox, NaN ratios)."""
    return pd.DataFrame({
        "scene_id": SCENE, "frame_id": ["frame_000000", "frame_000010", "frame_000020"], "instance_id": [3, 4, 5],
        "label": ["chair", "lamp", "sofa"], "bbox_2d": [[10.0, 20.0, 100.0, 200.0], [500.0, 5.0, 640.0, 50.0], None],
        "image_width": 640, "image_height": 480, "occlusion_ratio": [0.2, 0.6, float("nan")],
        "fov_ratio": [0.0, 0.1, float("nan")], "visibility": [0.8, 0.36, float("nan")],
    })


def view_table() -> pd.DataFrame:
    """Two view samples of SCENE under the overlap cap."""
    return pd.DataFrame({
        "scene_id": SCENE, "sample_id": [0, 1], "frame_ids": [["frame_000000", "frame_000010"],
                                                              ["frame_000020", "frame_000030", "frame_000040"]],
        "pairwise_overlaps": [[0.1], [0.25, 0.2, 0.1]], "max_overlap": [0.1, 0.25], "mean_overlap": [0.1, 0.55 / 3],
    })
