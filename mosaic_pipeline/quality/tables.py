"""Validation frames: small pandas tables derived from a QA, visibility or view-sample table.

Great Expectations validates each frame with the built-in expectations of one suite
(``expectations/<suite>.json``). Properties that are not a column of the source table (letter shares
per task, Yes share per subtask, direction shares per axis, option counts, bbox corners, ...) become
columns here. Every frame has a ``row`` column: a human label of the row that the report quotes
beside each unexpected value (e.g. "object_count letter shares A 0.41 B 0.20 C 0.20 D 0.19 (n 120)").
"""
from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

LETTERS = "ABCDEFGHIJ"
YES = "Yes"
NO_OPTION = "(no option at this index)"
NO_SPLIT = "(no split)"
QA_COLUMNS = ("scene_id", "sample_id", "task_type", "subtask", "question", "options", "answer",
              "correct_option_index", "frames", "source_frame_ids", "metadata", "occlusion_avg", "occ_level",
              "overlap_avg", "overlap_level", "vis_level", "gt_scenario", "split")
VISIBILITY_COLUMNS = ("scene_id", "frame_id", "instance_id", "label", "bbox_2d", "image_width", "image_height",
                      "occlusion_ratio", "fov_ratio", "visibility")
VIEW_COLUMNS = ("scene_id", "sample_id", "frame_ids", "pairwise_overlaps", "max_overlap", "mean_overlap")


class TableSchemaError(ValueError):
    """The table lacks columns that the validation frames are derived from."""


def require_columns(table: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise TableSchemaError(f"{what} table lacks column(s) {', '.join(missing)} (has {', '.join(table.columns)})")


@dataclass(frozen=True)
class ValidationFrame:
    """One suite's input: the derived frame, a note on what it leaves out (or ""), and whether a
    passing expectation's report quotes every row label (small per-group frames)."""

    suite: str
    frame: pd.DataFrame
    note: str = ""
    describe_all: bool = False


def task_keys(qa: pd.DataFrame) -> pd.Series:
    """``task_type`` or ``task_type/subtask`` per row (the unit of "every task and subtask present")."""
    sub = qa["subtask"].fillna("").astype(str)
    return qa["task_type"].where(sub == "", qa["task_type"] + "/" + sub)


def metadata(qa: pd.DataFrame) -> pd.Series:
    """The parsed ``metadata`` JSON of every row (dicts)."""
    return qa["metadata"].map(lambda m: json.loads(m) if isinstance(m, str) and m else {})


def _option_at(options: Sequence[str], index: float) -> str:
    return options[int(index)] if pd.notna(index) and 0 <= index < len(options) else NO_OPTION


def qa_records(qa: pd.DataFrame, n_options: Mapping[str, int]) -> ValidationFrame:
    """One row per QA with scalar columns: option counts, the option at the answer's index, frame counts.

    ``n_options`` maps each task key to the number of options its task requires (0: free answer).
    """
    keys = task_keys(qa)
    options = qa["options"].map(list)
    index = pd.to_numeric(qa["correct_option_index"], errors="coerce")
    frame = pd.DataFrame({
        "row": qa["scene_id"].astype(str) + " sample " + qa["sample_id"].astype(str) + " " + keys + ": "
               + qa["question"].astype(str),
        "scene_id": qa["scene_id"], "sample_id": qa["sample_id"], "task_key": keys, "split": qa["split"],
        "split_task": qa["split"].fillna("(no split)") + ":" + keys,
        "question": qa["question"], "answer": qa["answer"].astype(str),
        "n_options": options.map(len),
        "expected_n_options": keys.map(n_options).astype("Int64"),
        "n_distinct_options": options.map(lambda o: len(set(o))),
        "correct_option_index": index.where(options.map(len) > 0),
        "n_frames": qa["frames"].map(len), "n_source_frame_ids": qa["source_frame_ids"].map(len),
        "occlusion_avg": qa["occlusion_avg"], "overlap_avg": qa["overlap_avg"],
        "occ_level": qa["occ_level"], "overlap_level": qa["overlap_level"],
        "vis_level": qa["vis_level"], "gt_scenario": qa["gt_scenario"],
    })
    # free-answer rows have no option to point at: their answer is compared with itself
    frame["option_at_index"] = [a if not o else _option_at(o, i)
                                for a, o, i in zip(frame["answer"], options, index)]
    return ValidationFrame("qa_records", frame.reset_index(drop=True))


def multiple_choice(qa: pd.DataFrame) -> pd.DataFrame:
    """The rows with at least two options."""
    return qa[qa["options"].map(len).astype(int).to_numpy() >= 2]


def letters_per_task(qa: pd.DataFrame) -> pd.Series:
    """Number of options (letters) per task key of the multiple-choice rows."""
    mc = multiple_choice(qa)
    return mc["options"].map(len).groupby(task_keys(mc)).max()


def letter_counts(qa: pd.DataFrame) -> pd.DataFrame:
    """Correct-letter counts per task key (rows: the unit the QA package balances) and letter (columns)."""
    mc = multiple_choice(qa)
    letters = mc["correct_option_index"].astype(int).map(lambda i: LETTERS[i])
    counts = pd.crosstab(task_keys(mc), letters)
    return counts.reindex(columns=sorted(counts.columns), fill_value=0)


def _judged(sizes: pd.Series, min_size: int, unit: str) -> tuple[list, str]:
    small = sizes[sizes < min_size]
    note = (f"not judged ({unit} with fewer than {min_size} QA): "
            + ", ".join(f"{k} ({n})" for k, n in small.items())) if len(small) else ""
    return list(sizes.index[sizes >= min_size]), note


def letter_balance(qa: pd.DataFrame, min_size: int) -> ValidationFrame:
    """Per task key: letter shares, KL divergence to uniform and the largest |share - 1/k|."""
    n_letters = letters_per_task(qa)
    counts = letter_counts(qa)
    judged, note = _judged(counts.sum(axis=1), min_size, "task keys")
    rows = []
    for task in judged:
        k = int(n_letters[task])
        shares = counts.loc[task].reindex(list(LETTERS[:k]), fill_value=0).to_numpy(float)
        n = int(counts.loc[task].sum())
        shares = shares / n
        nonzero = shares[shares > 0]
        text = " ".join(f"{letter} {s:.2f}" for letter, s in zip(LETTERS, shares))
        rows.append({"row": f"{task} letter shares {text} (n {n})", "task_key": task, "n": n,
                     "kl_to_uniform": float(np.sum(nonzero * np.log(nonzero * k))),
                     "max_share_deviation": float(np.max(np.abs(shares - 1.0 / k)))})
    columns = ["row", "task_key", "n", "kl_to_uniform", "max_share_deviation"]
    return ValidationFrame("qa_letter_balance", pd.DataFrame(rows, columns=columns), note, True)


def yes_no_balance(qa: pd.DataFrame, min_size: int) -> ValidationFrame:
    """Per task key whose options are Yes/No: the share of Yes answers."""
    yes_no = qa[qa["options"].map(lambda o: sorted(o) == ["No", "Yes"]).astype(bool).to_numpy()]
    groups = (yes_no["answer"] == YES).groupby(task_keys(yes_no))
    judged, note = _judged(groups.size(), min_size, "subtasks")
    share, size = groups.mean(), groups.size()
    rows = [{"row": f"{key} Yes {share[key]:.3f} No {1 - share[key]:.3f} (n {size[key]})", "task_key": key,
             "n": int(size[key]), "yes_share": float(share[key])} for key in judged]
    return ValidationFrame("qa_yes_no_balance", pd.DataFrame(rows, columns=["row", "task_key", "n", "yes_share"]),
                           note, True)


def _relation(md: Mapping) -> str | None:
    axis = md.get("evaluated_axis")
    return md.get("ground_truth_relation") or md.get("ground_truth_relations", {}).get(f"{axis}_axis")


def direction_balance(qa: pd.DataFrame, directions: Mapping[str, tuple[str, str]], min_size: int) -> ValidationFrame:
    """Per (task_type, axis) of the relation tasks: one row per direction with its share of the questions.

    ``directions`` maps each axis to its two directions; a relation word outside them gets its own row
    (and so fails the share bounds), a missing direction gets share 0.
    """
    md = metadata(qa)
    axis = md.map(lambda m: m.get("evaluated_axis"))
    rel = pd.DataFrame({"task_type": qa["task_type"], "axis": axis, "relation": md.map(_relation)})
    rel = rel[axis.notna().to_numpy()]
    sizes = rel.groupby(["task_type", "axis"]).size()
    judged, note = _judged(sizes.set_axis([f"{t} {a} axis" for t, a in sizes.index]), min_size, "axes")
    rows = []
    for (task, ax), group in rel.groupby(["task_type", "axis"]):
        if f"{task} {ax} axis" not in judged:
            continue
        shares = group["relation"].fillna("none").value_counts(normalize=True)
        shares = shares.reindex(list(dict.fromkeys([*directions.get(ax, ()), *shares.index])), fill_value=0.0)
        text = " ".join(f"{d} {s:.3f}" for d, s in shares.items())
        rows += [{"row": f"{task} {ax} axis: {text} (n {len(group)})", "task_type": task, "axis": ax,
                  "direction": d, "n": len(group), "share": float(s)} for d, s in shares.items()]
    columns = ["row", "task_type", "axis", "direction", "n", "share"]
    return ValidationFrame("qa_direction_balance", pd.DataFrame(rows, columns=columns), note, True)


def scene_splits(qa: pd.DataFrame) -> ValidationFrame:
    """The distinct (scene, split) pairs: a scene in two splits appears twice."""
    # a QA shard of `mosaic qa` without --split has no split: it is shown as NO_SPLIT (docs/bad_input.md)
    pairs = qa[["scene_id", "split"]].fillna({"split": NO_SPLIT}).drop_duplicates().sort_values(["scene_id", "split"])
    in_splits = pairs.groupby("scene_id")["split"].agg(lambda s: ", ".join(s))
    frame = pairs.assign(row=lambda d: "scene " + d["scene_id"] + " in splits " + d["scene_id"].map(in_splits))
    return ValidationFrame("qa_splits", frame[["row", "scene_id", "split"]].reset_index(drop=True),
                           describe_all=True)


def task_coverage(qa: pd.DataFrame) -> ValidationFrame:
    """Per (split, task key) present: its QA count."""
    counts = (qa["split"].fillna(NO_SPLIT) + ":" + task_keys(qa)).value_counts().sort_index()
    frame = pd.DataFrame({"row": [f"{k} ({n} QA)" for k, n in counts.items()], "split_task": counts.index,
                          "n": counts.to_numpy()})
    return ValidationFrame("qa_coverage", frame, describe_all=True)


def qa_frames(qa: pd.DataFrame, n_options: Mapping[str, int], directions: Mapping[str, tuple[str, str]],
              min_size: int, suites: Sequence[str]) -> list[ValidationFrame]:
    """The validation frames of the QA suites named in ``suites`` (in that order)."""
    build = {
        "qa_records": lambda: qa_records(qa, n_options),
        "qa_letter_balance": lambda: letter_balance(qa, min_size),
        "qa_yes_no_balance": lambda: yes_no_balance(qa, min_size),
        "qa_direction_balance": lambda: direction_balance(qa, directions, min_size),
        "qa_splits": lambda: scene_splits(qa),
        "qa_coverage": lambda: task_coverage(qa),
    }
    return [build[s]() for s in suites]


def visibility_rows(vis: pd.DataFrame) -> ValidationFrame:
    """One row per (frame, instance) with the bbox corners as columns (NaN when not visible)."""
    box = np.array([b if b is not None and len(b) == 4 else [np.nan] * 4 for b in vis["bbox_2d"]], dtype=float)
    frame = pd.DataFrame({
        "row": vis["scene_id"].astype(str) + " " + vis["frame_id"].astype(str) + " instance "
               + vis["instance_id"].astype(str) + " (" + vis["label"].astype(str) + ")",
        "x_min": box[:, 0], "y_min": box[:, 1], "x_max": box[:, 2], "y_max": box[:, 3],
        "image_width": vis["image_width"].astype(float), "image_height": vis["image_height"].astype(float),
        "occlusion_ratio": vis["occlusion_ratio"], "fov_ratio": vis["fov_ratio"], "visibility": vis["visibility"],
    })
    return ValidationFrame("visibility_rows", frame)


def view_samples(views: pd.DataFrame) -> ValidationFrame:
    """One row per view sample: frame count, max and mean overlap, and the max of its pairwise overlaps."""
    frame = pd.DataFrame({
        "row": views["scene_id"].astype(str) + " sample " + views["sample_id"].astype(str) + " frames "
               + views["frame_ids"].map(lambda f: ",".join(map(str, f))),
        "scene_id": views["scene_id"], "sample_id": views["sample_id"],
        "n_frames": views["frame_ids"].map(len), "max_overlap": views["max_overlap"],
        "mean_overlap": views["mean_overlap"],
        "max_pairwise_overlap": views["pairwise_overlaps"].map(lambda o: max(o) if len(o) else np.nan),
    })
    return ValidationFrame("view_samples", frame)
