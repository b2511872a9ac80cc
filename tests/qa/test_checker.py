"""Every answer of generated shards, recomputed by the independent checker, and the option rules."""
from __future__ import annotations

import math
import re

import pandas as pd
from qa_checker import check_shard

from mosaic_pipeline.qa.generate import task_specs
from mosaic_pipeline.qa.tasks.base import ZERO_SHOT


def test_checker_recomputes_every_answer(shards, params):
    for shard in shards:
        problems, checked = check_shard(shard.qa, shard.scene, shard.visibility, shard.views, params)
        assert problems == []
        assert checked == len(shard.qa) > 0


def test_every_question_type_is_generated(shards, params):
    expected = {s.question_type for s in task_specs(params)}
    assert set(pd.concat([s.qa for s in shards])["question_type"]) == expected


def test_checker_catches_a_wrong_answer_of_every_type(shards, params):
    """Moving the answer to another option (or perturbing a free answer) is reported."""
    shard = shards[0]
    for _, group in shard.qa.groupby("question_type"):
        q = group.iloc[[0]].copy()
        options = list(q["options"].iloc[0])
        if options:
            wrong = (int(q["correct_option_index"].iloc[0]) + 1) % len(options)
            q["answer"], q["correct_option_index"] = options[wrong], wrong
        else:
            answer = q["answer"].iloc[0]
            q["answer"] = "(0,0)" if answer.startswith("(") else str(float(answer) + 1)
        problems, _ = check_shard(q, shard.scene, shard.visibility, shard.views, params)
        assert len(problems) == 1, q["question_type"].iloc[0]


def test_exactly_one_correct_and_unique_options(shards, params):
    for shard in shards:
        mc = shard.qa[shard.qa["options"].map(len) > 0]
        for q in mc.itertuples():
            options = list(q.options)
            assert len(set(options)) == len(options)
            assert options.count(q.answer) == 1 and options[q.correct_option_index] == q.answer
        free = shard.qa[shard.qa["options"].map(len) == 0]
        assert free["correct_option_index"].isna().all()
        zero_shot = {s.question_type for s in task_specs(params) if s.group == ZERO_SHOT}
        assert set(free["question_type"]) <= zero_shot


def test_no_question_twice_per_sample(shards):
    for shard in shards:
        assert not shard.qa.duplicated(["sample_id", "question"]).any()


def test_localization_options_are_separated(shards, params):
    shard = shards[0]
    loc = shard.qa[shard.qa["question_type"] == "obj_localization_occ"]
    assert len(loc) > 0
    for q in loc.itertuples():
        cam = shard.scene.frame(q.source_frame_ids[q.query_frame_id]).camera
        min_dist = params.qa.localization_min_separation * math.hypot(cam.width, cam.height)
        points = [tuple(map(int, re.findall(r"\d+", o))) for o in q.options if o != "No"]
        assert len(points) == 3  # truth + 2 decoys, or 3 decoys when the answer is "No"
        for i, a in enumerate(points):
            assert 0 <= a[0] < cam.width and 0 <= a[1] < cam.height
            assert all(math.dist(a, b) >= min_dist for b in points[:i])
