"""Baselines: the answer prior checked by hand, chance as the exact 1/n_options expectation, blank frames."""
from __future__ import annotations

import pytest
from PIL import Image

from mosaic_model.data import QAItem
from mosaic_model.experiment.baselines import (
    BLANK_GREY,
    answer_prior,
    chance_score,
    chance_table,
    prior_prediction,
    write_blank_frames,
)
from mosaic_pipeline.params import load_params


def _item(i: int, qtype: str, answer: str, options: list[str], scene: str = "synth_0000") -> QAItem:
    return QAItem(id=f"q{i}", data_source="synthetic", scene_id=scene, frame_ids=("frame_000000", "frame_000010"),
                  question_type=qtype, prompt="<image>\nq", target=answer, has_options=bool(options), answer=answer,
                  correct_option_index=options.index(answer) if options else None, metadata={},
                  slices={"occ_level": "low"})


TRAIN = [_item(0, "obj_count_occ", "2", ["2", "3", "4", "1"]), _item(1, "obj_count_occ", "2", ["1", "2", "3", "4"]),
         _item(2, "obj_count_occ", "3", ["4", "3", "2", "1"]),
         _item(3, "obj_existence_occ_lr", "No", ["Yes", "No"]),
         _item(4, "obj_distance_occ_na", "1.5", []), _item(5, "obj_distance_occ_na", "2.5", []),
         _item(6, "obj_distance_occ_na", "4.0", [])]


def test_answer_prior_predicts_the_option_of_the_most_frequent_train_answer():
    prior = answer_prior(TRAIN)
    assert prior_prediction(_item(9, "obj_count_occ", "4", ["3", "4", "2", "1"]), ["3", "4", "2", "1"], prior) == "C"
    assert prior_prediction(_item(9, "obj_existence_occ_lr", "Yes", ["Yes", "No"]), ["Yes", "No"], prior) == "B"


def test_answer_prior_falls_back_to_the_most_frequent_letter():
    prior = answer_prior(TRAIN)  # no option "2" or "3": the most frequent correct letter of obj_count_occ (A, B, B)
    assert prior_prediction(_item(9, "obj_count_occ", "5", ["5", "6", "7", "8"]), ["5", "6", "7", "8"], prior) == "B"


def test_answer_prior_of_a_numeric_type_is_the_median():
    assert prior_prediction(_item(9, "obj_distance_occ_na", "3.0", []), [], answer_prior(TRAIN)) == "2.5"


def test_chance_is_one_over_the_number_of_options():
    prior, params = answer_prior(TRAIN), load_params().eval
    items = [_item(10, "obj_count_occ", "2", ["2", "3", "4", "1"]), _item(11, "obj_existence_occ_lr", "No",
                                                                        ["Yes", "No"])]
    options = {it.id: ["a"] * (4 if it.question_type == "obj_count_occ" else 2) for it in items}
    assert [chance_score(it, len(options[it.id]), prior, params) for it in items] == [0.25, 0.5]
    table = chance_table(items, options, prior, params)
    assert table["overall"]["score"] == pytest.approx(37.5)
    assert table["per_type"]["obj_count_occ"]["ci"] == [25.0, 25.0]


def test_chance_of_a_numeric_type_is_the_mean_score_of_the_train_answers():
    params = load_params().eval
    # gt 2.5: 1.5 is 40 % off (MRA 0.3: theta 0.50, 0.55, 0.60), 2.5 exact (1.0), 4.0 is 60 % off (0.0)
    score = chance_score(_item(12, "obj_distance_occ_na", "2.5", []), 0, answer_prior(TRAIN), params)
    assert score == pytest.approx((0.3 + 1.0 + 0.0) / 3)


def test_blank_frames_are_grey_at_every_referenced_path(tmp_path):
    root = write_blank_frames(TRAIN[:2], tmp_path, 16)
    paths = sorted(root.rglob("*.jpg"))
    assert [p.name for p in paths] == ["frame_000000.jpg", "frame_000010.jpg"]
    with Image.open(paths[0]) as im:
        assert im.size == (16, 16) and im.getpixel((3, 3)) == (BLANK_GREY,) * 3
