"""A four-object scene with a hand-written visibility table: answers derived by hand, in comments.

Frame 0: camera at (0, 0, 1) looking along +y (camera x = world x, camera y = 1 - world z, depth =
world y). Frame 1: camera at (0, 8, 1) looking back along -y. Boxes (centre, size):
chair 1 (-1, 3, 0.45) 0.5x0.5x0.9; chair 2 (1, 3, 0.45) same; table 3 (0, 4, 0.4) 1.2x0.8x0.8;
lamp 4 (0, 3, 1.5) 0.3x0.3x0.6. In frame 0 chair 2 is 75 % occluded and the lamp hidden.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mosaic_pipeline.params import load_params
from mosaic_pipeline.qa.context import SceneIndex, sample_contexts
from mosaic_pipeline.qa.generate import generate_scene_qa
from mosaic_pipeline.qa.records import as_frame, to_table
from mosaic_pipeline.qa.tasks import best_view, count, existence, localization, spatial_relation
from mosaic_pipeline.scene.geometry import look_at
from mosaic_pipeline.scene.types import Camera, Frame, Instance, OrientedBox, Scene

BOXES = {1: ("chair", (-1, 3, 0.45), (0.5, 0.5, 0.9)), 2: ("chair", (1, 3, 0.45), (0.5, 0.5, 0.9)),
         3: ("table", (0, 4, 0.4), (1.2, 0.8, 0.8)), 4: ("lamp", (0, 3, 1.5), (0.3, 0.3, 0.6))}
# (frame, instance): visible_px, unoccluded_px, bbox_2d
ROWS = {
    ("frame_000000", 1): (2000, 2000, [100, 250, 160, 330]),
    ("frame_000000", 2): (500, 2000, [480, 250, 500, 330]),  # occlusion 0.75, centre (490, 290)
    ("frame_000000", 3): (5000, 5000, [250, 280, 390, 360]),  # centre (320, 320)
    ("frame_000000", 4): (0, 800, None),  # hidden
    ("frame_000010", 1): (1500, 1500, [450, 250, 510, 330]),
    ("frame_000010", 2): (2000, 2000, [130, 250, 190, 330]),
    ("frame_000010", 3): (6000, 6000, [250, 200, 390, 300]),
    ("frame_000010", 4): (800, 800, [300, 50, 340, 150]),
}


@pytest.fixture(scope="module")
def hand():
    camera = Camera(640, 480, 400.0, 400.0, 320.0, 240.0)
    frames = [Frame("frame_000000", camera, look_at(np.array([0, 0, 1.0]), np.array([0, 5, 1.0]))),
              Frame("frame_000010", camera, look_at(np.array([0, 8, 1.0]), np.array([0, 0, 1.0])))]
    instances = {i: Instance(i, label, OrientedBox(np.array(c, float), np.array(s, float), np.eye(3)),
                             np.zeros(0, np.int64)) for i, (label, c, s) in BOXES.items()}
    scene = Scene("hand", Path("/nonexistent"), np.zeros((0, 3)), np.zeros((0, 3), np.int64),
                  np.zeros((0, 3), np.uint8), np.zeros(0, np.int64), instances, frames, source="synthetic")
    vis = pd.DataFrame([{
        "scene_id": "hand", "frame_id": f, "instance_id": i, "label": BOXES[i][0], "visible_px": v,
        "unoccluded_px": u, "full_px": u, "occlusion_ratio": 1 - v / u, "fov_ratio": 0.0, "visibility": v / u,
        "bbox_2d": box, "is_visible": v >= 20, "render_width": 640, "render_height": 480}
        for (f, i), (v, u, box) in ROWS.items()])
    views = pd.DataFrame([{"scene_id": "hand", "sample_id": 0, "frame_ids": ["frame_000000", "frame_000010"],
                           "pairwise_overlaps": [0.05], "max_overlap": 0.05, "mean_overlap": 0.05,
                           "overlap_level": "low"}])
    return scene, vis, views


def _context(hand, params):
    scene, vis, views = hand
    return sample_contexts(SceneIndex(scene, vis, params.qa, params.visibility.near_plane), views)[0]


@pytest.fixture(scope="module")
def point_params():
    """The default parameters with point references allowed in relation questions ("chair(490,290)")."""
    return load_params(overrides={"qa": {"relation_point_references": True}})


def test_counts(hand, params):
    ctx = _context(hand, params)
    # chairs 1 and 2 are each counted somewhere; one table; the lamp is counted in frame 1
    assert {c.payload[0]: len(c.payload[1]) for c in count.count_candidates(ctx)} == {"chair": 2, "table": 1, "lamp": 1}
    # no label takes 4 distinct counts over the one sample (qa.count_max_answer_share): none is asked
    qa = as_frame(to_table(generate_scene_qa(*hand, params)))
    assert (qa["question_type"] != "obj_count_occ").all()


def test_best_view(hand, params):
    ctx = _context(hand, params)
    (chairs,) = [c for c in best_view.specs(params.qa)[0].enumerate(ctx) if c.payload[0] == "chair"]
    d = best_view.specs(params.qa)[0].draft(chairs, np.random.default_rng(0), ([1, 2], [0, 1]))
    # both frames show 2 chairs; frame 1 has more chair pixels (1500 + 2000 > 2000 + 500)
    assert d.answer == "2, Frame 1"
    assert sorted([d.answer, *d.distractors]) == ["1, Frame 0", "1, Frame 1", "2, Frame 0", "2, Frame 1"]


def test_localization(hand, params):
    ctx = _context(hand, params)
    spec = localization.specs(params.qa)[0]
    drafts = {(c.query_k, c.payload[0]): spec.draft(c, np.random.default_rng(0), []) for c in spec.enumerate(ctx)}
    assert drafts[(0, "table")].answer == "Yes; (320, 320)"
    assert drafts[(0, "lamp")].answer == "No"  # no lamp pixel in frame 0
    assert (0, "chair") not in drafts  # two chairs seen in frame 0


def test_existence_and_references(hand, params, point_params):
    ctx = _context(hand, point_params)
    spec = {s.subtask: s for s in existence.specs(point_params.qa)}["left_right"]
    found = {(c.payload.target, c.payload.source): c for c in spec.enumerate(ctx) if c.query_k == 0}
    # frame 0, camera x: chair 2 [0.75, 1.25], table [-0.6, 0.6], chair 1 [-1.25, -0.75], lamp [-0.15, 0.15]
    assert {k: c.stratum for k, c in found.items()} == {(2, 3): "right", (2, 1): "right", (4, 1): "right",
                                                         (4, 2): "left"}
    yes = spec.draft(found[(2, 3)], np.random.default_rng(0), True)
    no = spec.draft(found[(2, 3)], np.random.default_rng(0), False)
    assert yes.question == "In Frame 0, is the chair(490,290) to the right of the table in this viewpoint?"
    assert (yes.answer, no.answer) == ("Yes", "No")
    assert no.question == "In Frame 0, is the chair(490,290) to the left of the table in this viewpoint?"
    # lamp vs table: x overlaps (no relation); above by 0.4 m; closer by 0.45 m
    above = {s.subtask: s for s in existence.specs(point_params.qa)}["above_below"]
    assert {(c.payload.target, c.payload.source, c.stratum) for c in above.enumerate(ctx) if c.query_k == 0} >= {
        (4, 3, "higher")}
    # by default a chair named by its point ("chair(490,290)" tells where it is) is never the target; it
    # may be the source, the object the question is relative to
    default = {s.subtask: s for s in existence.specs(params.qa)}["left_right"]
    asked = {(c.payload.target, c.payload.source) for c in default.enumerate(_context(hand, params)) if c.query_k == 0}
    assert asked == {(4, 1), (4, 2)}


def test_spatial_needs_two_separated_axes(hand, point_params):
    # frame 0 (camera at (0, 0, 1)): the hidden lamp (camera (0, -0.5, 3), 3.04 m away) is right of chair 1
    # (x [-1.25, -0.75]), higher (y [-0.8, -0.2] vs [0.1, 1.0]) and closer by distance (chair 1's centre
    # (-1, 0.55, 3) is 3.21 m away; along the optical axis both are at depth 3, so depth alone would not
    # separate them); mirror image for chair 2. The lamp and the table overlap on x; chair 2 (3.21 m away)
    # is right of the table (4.04 m away, centre (0, 0.6, 4)) and closer, at the same height.
    ctx = _context(hand, point_params)
    found = {(c.payload[0].target, c.payload[0].source): (c.payload[0].rel, c.payload[1])
             for s in spatial_relation.specs(point_params.qa) for c in s.enumerate(ctx) if c.query_k == 0}
    assert {pair: rel for pair, (rel, _) in found.items()} == {
        (4, 1): {"x": "right", "y": "higher", "z": "closer"}, (4, 2): {"x": "left", "y": "higher", "z": "closer"},
        (4, 3): {"x": None, "y": "higher", "z": "closer"}, (2, 3): {"x": "right", "y": None, "z": "closer"}}
    assert found[(4, 3)][1] in ("y", "z")  # the options' second axis is the other separated one
