"""A hand-written QA set for the model tests: 32 multiple-choice questions over random frames.

The questions differ in their text (label, relation, frame), so a model can learn them by heart:
the overfit test checks exactly that. Images are random noise at {root}/synthetic/<scene>/images.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

from mosaic_model.config import RunConfig, load_run_config

SCENES = ("synth_0000", "synth_0001")
FRAMES_PER_SCENE = 6
LABELS = ("chair", "table", "lamp", "sofa", "bed", "desk", "plant", "shelf")
RELATIONS = (("to the left of", "left_right"), ("higher than", "above_below"),
             ("farther from the camera than", "farther_closer"), ("to the right of", "left_right"))
SUFFIX = {"left_right": "lr", "above_below": "ab", "farther_closer": "fb"}


def _frame_id(k: int) -> str:
    return f"frame_{k * 10:06d}"


def write_frames(root: Path, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    for scene in SCENES:
        images = root / "synthetic" / scene / "images"
        images.mkdir(parents=True)
        for k in range(FRAMES_PER_SCENE):
            Image.fromarray(rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)).save(images / f"{_frame_id(k)}.jpg")


def _row(i: int, question: str, qtype: str, task: str, subtask: str | None, options: list[str], correct: int) -> dict:
    n_frames = 2 + i % 4
    scene = SCENES[i % 2]
    return {
        "scene_id": scene, "sample_id": i // 4, "qa_id": f"qa-{i:02d}", "data_source": "synthetic",
        "task_type": task, "subtask": subtask, "question_type": qtype,
        "question": question, "options": options, "answer": options[correct], "correct_option_index": correct,
        "frames": list(range(n_frames)),
        "source_frame_ids": [_frame_id((i + j) % FRAMES_PER_SCENE) for j in range(n_frames)],
        "query_frame_id": 0, "metadata": json.dumps({}), "occlusion_avg": 0.1 * (i % 10),
        "occ_level": ("low", "medium", "high")[i % 3], "overlap_avg": 0.05, "overlap_level": "low",
        "vis_level": ("fully_visible", "partially_visible")[i % 2],
        "gt_scenario": ("full_coverage", "partial_coverage")[i % 2],
        "split": "train",
    }


def qa_rows() -> list[dict]:
    """32 QA: 8 counts, 8 existence, 8 attribute, 8 spatial relation; correct letters cycle A-D."""
    rows = []
    for i, label in enumerate(LABELS):
        rows.append(_row(len(rows), f"How many {label}(s) are visible across these frames?", "obj_count_occ",
                         "object_count", None, ["1", "2", "3", "4"], i % 4))
    for i, label in enumerate(LABELS):
        rel, sub = RELATIONS[i % 4]
        other = LABELS[(i + 3) % 8]
        rows.append(_row(len(rows), f"In Frame {i % 2}, is the {label} {rel} the {other} in this viewpoint?",
                         f"obj_existence_occ_{SUFFIX[sub]}", "occlusion_aware_existence", sub, ["Yes", "No"], i % 2))
    for i, label in enumerate(LABELS):
        rel, sub = RELATIONS[i % 4]
        options = [LABELS[(i + k) % 8].capitalize() for k in range(1, 5)]
        rows.append(_row(len(rows), f"In Frame {i % 3}, which object appears {rel} the {label} in this viewpoint?",
                         f"obj_attribute_occ_{SUFFIX[sub]}", "occlusion_aware_attribute", sub, options, (i + 1) % 4))
    for i, label in enumerate(LABELS):
        other = LABELS[(i + 5) % 8]
        options = [f"To the left of the {other}", f"To the right of the {other}", f"Higher than the {other}",
                   f"Farther from the camera than the {other}"]
        question = f"In Frame {i % 2}, where does the {label} appear in this view relative to the {other}?"
        rows.append(_row(len(rows), question,
                         f"obj_spatial_occ_{('lr', 'ab', 'fb')[i % 3]}", "occlusion_aware_spatial_relation", "full_3d",
                         options, (i + 2) % 4))
    return rows


def tiny_config(**train: object) -> RunConfig:
    return load_run_config("tiny", overrides={"train": dict(train)} if train else None)


def write_geometry_bundle(root: Path, side: int, depth_side: int, n_frames: int) -> None:
    """A geometry bundle (the experiment's ``bundle/``): scenes synth_0000 (train) and synth_0001 (bench) of
    ``n_frames`` random frames of ``side`` px, camera poses along x and random depth of ``depth_side`` px."""
    from mosaic_model.experiment.bundle import FRAMES, GEOMETRY, MANIFEST, QA

    rng = np.random.default_rng(0)
    scenes = {"synth_0000": "train", "synth_0001": "bench"}
    (root / GEOMETRY).mkdir(parents=True)
    for scene in scenes:
        images = root / FRAMES / "synthetic" / scene / "images"
        images.mkdir(parents=True)
        ids = [_frame_id(k) for k in range(n_frames)]
        for fid in ids:
            Image.fromarray(rng.integers(0, 256, (side, side, 3), dtype=np.uint8)).save(images / f"{fid}.jpg")
        w2c = np.tile(np.eye(4, dtype=np.float32), (n_frames, 1, 1))
        w2c[:, 0, 3] = np.arange(n_frames) * 0.1
        half = side / 2
        K = np.tile(np.array([[20.0, 0, half], [0, 20.0, half], [0, 0, 1]], dtype=np.float32), (n_frames, 1, 1))
        np.savez_compressed(root / GEOMETRY / f"{scene}.npz", frame_ids=np.array(ids), K=K, world_to_cam=w2c,
                            depth=rng.uniform(1, 3, (n_frames, depth_side, depth_side)).astype(np.float16))
    (root / QA).write_bytes(b"")
    manifest = {"scenes": {s: {"source": "synthetic", "split": sp} for s, sp in scenes.items()},
                "size": side, "depth_size": depth_side, "qa_sha256": "0"}
    (root / MANIFEST).write_text(json.dumps(manifest))
