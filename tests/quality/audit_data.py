"""Hand-made QA tables for the bias audit: questions whose answer the text does or does not give away.

Every table has the native record columns (mosaic_pipeline.qa.records.SCHEMA). Scenes are the groups
of the audit's k-fold; options and answers are drawn with a fixed seed, so the tables are the same on
every run.
"""
from __future__ import annotations

import json

import numpy as np
import pandas as pd

from mosaic_pipeline.qa.records import SCHEMA, qa_id

LABELS = ["lamp", "chair", "table", "vase", "clock", "sofa", "plant", "book"]
COUNT_Q = "How many {label}(s) are visible across these frames?"
ATTRIBUTE_Q = "In Frame {k}, which object appears higher than the {source} in this viewpoint?"
EXISTENCE_Q = "In Frame {k}, is the {target} above the {source} in this viewpoint?"
LOCALIZATION_Q = "Is there a(n) {label} in Frame {k}? If so, what is the bounding box center coordinates?"
HIGHER_THAN = {"table": "Lamp", "chair": "Clock", "sofa": "Picture", "book": "Vase"}  # planted: source -> answer


def _row(scene: str, n: int, qtype: str, task: str, subtask: str | None, question: str, options: list[str],
         answer: str, k: int | None, md: dict, split: str) -> dict:
    return {"scene_id": scene, "sample_id": n, "qa_id": qa_id(scene, n, qtype, question), "data_source": "synthetic",
            "question_type": qtype, "task_type": task, "subtask": subtask, "question": question, "options": options,
            "answer": answer, "correct_option_index": options.index(answer), "frames": [0, 1, 2],
            "source_frame_ids": ["f0", "f1", "f2"], "query_frame_id": k, "metadata": json.dumps(md, sort_keys=True),
            "occlusion_avg": 0.5, "occ_level": "medium", "overlap_avg": 0.1, "overlap_level": "medium",
            "vis_level": "partially_visible", "gt_scenario": "full_coverage", "split": split}


def count_rows(rng: np.random.Generator, scene: str, n: int, shortcut: bool, split: str) -> dict:
    """Four distinct counts 0-9; with the shortcut the answer is always the largest option."""
    label = LABELS[rng.integers(len(LABELS))]
    values = [int(v) for v in rng.choice(10, size=4, replace=False)]
    answer = max(values) if shortcut else values[rng.integers(4)]
    return _row(scene, n, "obj_count_occ", "object_count", None, COUNT_Q.format(label=label),
                [str(v) for v in values], str(answer), None, {"target_category": label}, split)


def attribute_rows(rng: np.random.Generator, scene: str, n: int, shortcut: bool, split: str) -> dict:
    """Four object names; with the shortcut the answer's label follows from the source label."""
    source = list(HIGHER_THAN)[rng.integers(len(HIGHER_THAN))]
    names = ["Lamp", "Clock", "Picture", "Vase", "Box", "Stool", "Cup", "Towel"]
    options = [str(o) for o in rng.choice(names, size=4, replace=False)]
    answer = options[rng.integers(4)]
    if shortcut and HIGHER_THAN[source] not in options:
        options[options.index(answer)] = HIGHER_THAN[source]
    answer = HIGHER_THAN[source] if shortcut else answer
    k = int(rng.integers(3))
    md = {"source_category": source, "target_category": answer.lower(), "ground_truth_relation": "higher",
          "evaluated_axis": "y"}
    return _row(scene, n, "obj_attribute_occ_ab", "occlusion_aware_attribute", "above_below",
                ATTRIBUTE_Q.format(k=k, source=source), options, answer, k, md, split)


def existence_rows(rng: np.random.Generator, scene: str, n: int, shortcut: bool, split: str) -> dict:
    """Yes/No; with the shortcut a lamp is always above (Yes), anything else never (No)."""
    target, source = (str(v) for v in rng.choice(LABELS, size=2, replace=False))
    yes = target == "lamp" if shortcut else bool(rng.integers(2))
    k = int(rng.integers(3))
    md = {"target_category": target, "source_category": source, "asked_relation": "higher",
          "ground_truth_relation": "higher" if yes else "lower", "evaluated_axis": "y"}
    return _row(scene, n, "obj_existence_occ_ab", "occlusion_aware_existence", "above_below",
                EXISTENCE_Q.format(k=k, target=target, source=source), ["Yes", "No"], "Yes" if yes else "No", k,
                md, split)


def localization_rows(rng: np.random.Generator, scene: str, n: int, shortcut: bool, split: str) -> dict:
    """"No" and three points; "No" answers every fourth question (the generator's share). With the shortcut
    one point lies near the image's corner (coordinates below 64): the answer where the object is present,
    a decoy where it is absent, so the text gives the points away but not "No"."""
    label = LABELS[rng.integers(len(LABELS))]
    points = [f"Yes; ({int(x)}, {int(y)})" for x, y in rng.integers(64, 480, size=(3, 2))]
    if shortcut:
        points[0] = f"Yes; ({int(rng.integers(64))}, {int(rng.integers(64))})"
    answer = "No" if n % 4 == 0 else points[0]
    options = points + ["No"]
    rng.shuffle(options)
    k = int(rng.integers(3))
    return _row(scene, n, "obj_localization_occ", "object_localization", None, LOCALIZATION_Q.format(label=label, k=k),
                [str(o) for o in options], answer, k, {"target_category": label}, split)


def qa_table(shortcut_share: float, n_scenes: int = 6, per_scene: int = 40, seed: int = 0, split: str = "bench",
             kinds=(count_rows, attribute_rows)) -> pd.DataFrame:
    """``per_scene`` questions of each kind per scene, a ``shortcut_share`` of them with the planted shortcut."""
    rng = np.random.default_rng(seed)
    rows = [kind(rng, f"scene_{s:02d}", n, bool(rng.random() < shortcut_share), split)
            for s in range(n_scenes) for kind in kinds for n in range(per_scene)]
    table = pd.DataFrame(rows, columns=SCHEMA.names)
    table["correct_option_index"] = table["correct_option_index"].astype("Int64")
    table["query_frame_id"] = table["query_frame_id"].astype("Int64")
    return table
