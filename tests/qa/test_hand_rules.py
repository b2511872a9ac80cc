"""The three wording rules of docs/tasks.md on a scene built by hand where each old rule and the new one disagree.

Frame 0: camera at (0, 0, 1) looking along +y (camera x = world x, camera y = 1 - world z, depth = world y),
640x480, f = 400. Frame 1: camera at (0, 8, 1) looking back; every object is in full view there.
Boxes are 0.2 m cubes (centre in world coordinates):
- sofa 1 (0, 3, 1): camera (0, 0, 3), 3.00 m away; visible in frame 0: the relations' source.
- lamp 2 (1.82, 2.6, 1): camera (1.82, 0, 2.6), 80 % occluded in frame 0. Its depth range [2.5, 2.7] ends
  0.2 m before the sofa's [2.9, 3.1] (the old depth rule: closer), but its centre is sqrt(1.82^2 + 2.6^2)
  = 3.17 m from the camera, 0.17 m farther than the sofa's (the new rule: farther).
- plant 3 (-4, 3, 1): camera (-4, 0, 3), projects to u ~ -213: entirely outside frame 0 (no visibility
  row there), visible in frame 1. The old rule made it an occluded target of frame 0; the new one does not.
- cups 4 (-0.5, 2, 0.8) and 5 (0.5, 2, 0.8): frame 0 shows cup 4 with 2000 px and cup 5 with 300 px;
  frame 1 cup 4 with 600 px and cup 5 with 900 px. Both count (cup 5 has 900 >= 500 px in frame 1): 2 cups.
  Best view, old rule (instances visible per frame, then pixels): 2 and 2 cups, 2300 > 1500 px: Frame 0.
  New rule (instances counted per frame): 1 cup in frame 0, 2 in frame 1: Frame 1.
- books 6 (-1, 3.5, 1) and 7 (1, 3.5, 1): book 6 has 3000 px in both frames, book 7 300 px in frame 0
  only. Old rule: 2 books (300 px is above the 20 px visibility threshold). New rule: book 7 is seen but
  too small to count anywhere, so "how many books" is not asked.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from qa_checker import check_shard

from mosaic_pipeline.qa.context import SceneIndex, sample_contexts
from mosaic_pipeline.qa.generate import generate_scene_qa
from mosaic_pipeline.qa.records import as_frame, to_table
from mosaic_pipeline.qa.relations import relations
from mosaic_pipeline.qa.tasks import best_view, count, existence
from mosaic_pipeline.scene.geometry import look_at
from mosaic_pipeline.scene.types import Camera, Frame, Instance, OrientedBox, Scene

F0, F1 = "frame_000000", "frame_000010"
BOXES = {1: ("sofa", (0, 3, 1)), 2: ("lamp", (1.82, 2.6, 1)), 3: ("plant", (-4, 3, 1)), 4: ("cup", (-0.5, 2, 0.8)),
         5: ("cup", (0.5, 2, 0.8)), 6: ("book", (-1, 3.5, 1)), 7: ("book", (1, 3.5, 1))}
# (frame, instance): visible_px, unoccluded_px, bbox_2d (original pixels)
ROWS = {
    (F0, 1): (2000, 2000, [300, 220, 340, 260]), (F0, 2): (400, 2000, [580, 230, 600, 250]),
    (F0, 4): (2000, 2000, [200, 260, 240, 300]), (F0, 5): (300, 300, [400, 260, 420, 275]),
    (F0, 6): (3000, 3000, [180, 200, 230, 260]), (F0, 7): (300, 300, [420, 200, 430, 230]),
    (F1, 1): (2000, 2000, [300, 220, 340, 260]), (F1, 2): (2000, 2000, [100, 230, 140, 270]),
    (F1, 3): (2000, 2000, [560, 220, 600, 260]), (F1, 4): (600, 600, [380, 260, 400, 290]),
    (F1, 5): (900, 900, [220, 260, 250, 290]), (F1, 6): (3000, 3000, [420, 200, 470, 260]),
}


@pytest.fixture(scope="module")
def rules_scene():
    camera = Camera(640, 480, 400.0, 400.0, 320.0, 240.0)
    frames = [Frame(F0, camera, look_at(np.array([0, 0, 1.0]), np.array([0, 5, 1.0]))),
              Frame(F1, camera, look_at(np.array([0, 8, 1.0]), np.array([0, 0, 1.0])))]
    instances = {i: Instance(i, label, OrientedBox(np.array(c, float), np.full(3, 0.2), np.eye(3)), np.zeros(0, np.int64))
                 for i, (label, c) in BOXES.items()}
    scene = Scene("rules", Path("/nonexistent"), np.zeros((0, 3)), np.zeros((0, 3), np.int64),
                  np.zeros((0, 3), np.uint8), np.zeros(0, np.int64), instances, frames, source="synthetic")
    vis = pd.DataFrame([{
        "scene_id": "rules", "frame_id": f, "instance_id": i, "label": BOXES[i][0], "visible_px": v,
        "unoccluded_px": u, "full_px": u, "occlusion_ratio": 1 - v / u, "fov_ratio": 0.0, "visibility": v / u,
        "bbox_2d": box, "is_visible": v >= 20, "render_width": 640, "render_height": 480}
        for (f, i), (v, u, box) in ROWS.items()])
    views = pd.DataFrame([{"scene_id": "rules", "sample_id": 0, "frame_ids": [F0, F1], "pairwise_overlaps": [0.05],
                           "max_overlap": 0.05, "mean_overlap": 0.05, "overlap_level": "low"}])
    return scene, vis, views


@pytest.fixture(scope="module")
def ctx(rules_scene, params):
    scene, vis, views = rules_scene
    return sample_contexts(SceneIndex(scene, vis, params.qa, params.visibility.near_plane), views)[0]


def _frame0_pairs(ctx, params, subtask):
    spec = {s.subtask: s for s in existence.specs(params.qa)}[subtask]
    return {(c.payload.target, c.payload.source): c.stratum for c in spec.enumerate(ctx) if c.query_k == 0}


def test_closer_farther_is_distance_not_depth(ctx, params):
    lamp, sofa = ctx.extent(0, 2), ctx.extent(0, 1)
    assert lamp[1][2] + params.qa.relation_margin <= sofa[0][2]  # the old depth rule: the lamp is closer
    assert relations(lamp, sofa, params.qa.relation_margin)["z"] == "farther"
    assert _frame0_pairs(ctx, params, "farther_closer")[(2, 1)] == "farther"


def test_no_relation_about_a_target_outside_the_frame(ctx, params):
    # old rule: not visible in frame 0, visible in frame 1 -> an occluded target of frame 0
    assert not ctx.visible_in(0, 3) and ctx.visible_in(1, 3) and ctx.in_front(0, 3)
    assert not ctx.occluded_target(0, 3) and ctx.occluded_target(0, 2)
    for subtask in ("left_right", "farther_closer"):
        assert 3 not in {t for t, _ in _frame0_pairs(ctx, params, subtask)}
    assert (2, 1) in _frame0_pairs(ctx, params, "left_right")  # the in-view hidden lamp is asked about


def test_counts_need_the_minimum_visible_size(ctx, params):
    candidates = {c.payload[0]: c.payload[1] for c in count.count_candidates(ctx)}
    assert candidates["cup"] == (4, 5)
    assert ctx.visible_in(0, 7) and "book" not in candidates  # old rule: 2 books
    (cups,) = [c for c in best_view.specs(params.qa)[0].enumerate(ctx) if c.payload[0] == "cup"]
    draft = best_view.specs(params.qa)[0].draft(cups, np.random.default_rng(0), ([2, 3], [0, 1]))
    assert draft.answer == "2, Frame 1"  # old rule: Frame 0
    assert draft.metadata["per_frame_visible_counts"] == [1, 2]


def test_count_threshold_scales_with_the_render_size(rules_scene, params):
    # at 320x240 the threshold is 500 / 4 = 125 px: book 7's 300 px count, so the books are asked (2)
    scene, vis, views = rules_scene
    small = vis.assign(render_width=320, render_height=240)
    ctx = sample_contexts(SceneIndex(scene, small, params.qa, params.visibility.near_plane), views)[0]
    assert {c.payload[0]: len(c.payload[1]) for c in count.count_candidates(ctx)}["book"] == 2


def test_generated_answers_agree_with_the_checker(rules_scene, params):
    qa = as_frame(to_table(generate_scene_qa(*rules_scene, params)))
    problems, checked = check_shard(qa, *rules_scene, params)
    assert problems == [] and checked == len(qa) > 0
    frame0 = qa[qa["query_frame_id"] == 0]["metadata"].map(json.loads)
    assert len(frame0) and 3 not in {m.get("target_instance_id") for m in frame0}


def test_checker_applies_the_new_rules(rules_scene, params):
    """Rows answered by the old rules are reported by the checker."""
    scene, vis, views = rules_scene
    base = {"scene_id": "rules", "sample_id": 0, "qa_id": "x", "data_source": "synthetic", "frames": [0, 1],
            "source_frame_ids": [F0, F1], "metadata": "{}", "correct_option_index": 0}
    old = pd.DataFrame([
        {**base, "question_type": "obj_existence_occ_fb", "task_type": "occlusion_aware_existence",
         "subtask": "farther_closer", "options": ["Yes", "No"], "answer": "Yes", "query_frame_id": 0,
         "question": "In Frame 0, is the lamp closer to the camera than the sofa in this viewpoint?"},
        {**base, "question_type": "obj_existence_occ_lr", "task_type": "occlusion_aware_existence",
         "subtask": "left_right", "options": ["Yes", "No"], "answer": "Yes", "query_frame_id": 0,
         "question": "In Frame 0, is the plant to the left of the sofa in this viewpoint?"},
        {**base, "question_type": "obj_count_occ", "task_type": "object_count", "subtask": None,
         "options": ["2", "1", "3", "4"], "answer": "2", "query_frame_id": None,
         "question": "How many book(s) are visible across these frames?"},
    ])
    problems, checked = check_shard(old, scene, vis, views, params)
    assert checked == 0 and len(problems) == 3, problems
    assert "but relation 1" in problems[0] and "not an occluded target" in problems[1] and "too small" in problems[2]
