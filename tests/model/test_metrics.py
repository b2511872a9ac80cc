"""Scoring against hand-computed cases: letter parsing, MRA, MPA, the score table and ``mosaic score``."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from mosaic_cli import main
from mosaic_model.metrics import (
    ScoringRecord,
    official_records,
    parse_letter,
    parse_point,
    score_predictions,
    score_question,
)
from mosaic_pipeline.params import load_params

EVAL = load_params().eval


def _record(qtype: str, kind: str, gt: str, mc: str | None = None, diag: object = None, **slices: str) -> ScoringRecord:
    return ScoringRecord(id=f"{qtype}-{gt}-{mc}", question_type=qtype, kind=kind, ground_truth=gt, mc_answer=mc,
                         bbox_2d_diag=diag, slices=slices)


@pytest.mark.parametrize("raw, parsed, correct", [
    ("B", "B", True), ("B.", "B", True), ("b", "b", True), ("B. 2 chairs", "B", True), ("B..", "B", True),
    (" B", "", False),            # official: split on " " -> the first token is empty
    ("(B)", "(B)", False), ("The answer is B", "The", False), ("C", "C", False),
])
def test_letter_parsing_as_lmms_eval(raw, parsed, correct):
    assert parse_letter(raw) == parsed
    assert score_question(_record("obj_count_occ", "mc", "2", mc="B"), raw, EVAL).correct is correct


@pytest.mark.parametrize("prediction, expected", [
    ("10", 1.0), ("10.2", 1.0),      # |rel| 0.02 <= 1 - 0.95
    ("11.7", 0.7),                   # rel 0.17: theta in {0.50, ..., 0.80} pass (7 of 10)
    ("5.8 meters", 0.2),             # first token 5.8; rel 0.42: theta in {0.50, 0.55}
    ("4", 0.0),                      # rel 0.6 > 0.5
    ("about ten", 0.0),              # unparsable -> 0
    ("9", 0.9),                      # rel 0.1: 1 - theta for theta=0.9 is 0.100..01 in the official float grid
])
def test_mean_relative_accuracy(prediction, expected):
    record = _record("obj_size_occ_na", "numeric", "10")
    assert score_question(record, prediction, EVAL).score == pytest.approx(expected)


@pytest.mark.parametrize("prediction, diag, expected", [
    ("(100,110)", "50", 1.0),               # distance 10 <= 0.5 * 50
    ("Yes, at (130, 145).", "50", 0.4),     # distance 54.08: t in {1.1, 1.2, 1.3, 1.4}
    ("130, 145", 50.0, 0.4),                # "x, y" without parentheses
    ("(200,100)", "50", 0.0),               # distance 100 > 1.4 * 50
    ("no idea", "50", 0.0), ("(100,100)", None, 0.0), ("(100,100)", "0", 0.0),
])
def test_mean_point_accuracy(prediction, diag, expected):
    record = _record("obj_localization_occ_na", "point", "(100, 100)", diag=diag)
    assert score_question(record, prediction, EVAL).score == pytest.approx(expected)
    assert parse_point("first 3 then 4") == (3.0, 4.0)


def test_score_table_overall_is_the_unweighted_mean_over_types():
    records = [_record("x", "mc", "a", mc="A", occ_level="low"), _record("x", "mc", "b", mc="B", occ_level="low"),
               _record("x", "mc", "c", mc="C", occ_level="high"), _record("x", "mc", "d", mc="D", occ_level="high"),
               _record("y", "mc", "e", mc="A", occ_level="high"), _record("y", "mc", "f", mc="B", occ_level="high")]
    predictions = dict(zip([r.id for r in records], ["A", "C", "C", "D", "B", "B"]))  # x: 3/4, y: 1/2
    _, table = score_predictions(records, predictions, EVAL)
    assert table["overall"]["score"] == pytest.approx((75.0 + 50.0) / 2)
    assert table["micro"]["score"] == pytest.approx(400 / 6, abs=1e-3)
    assert table["per_type"]["x"] == {"score": 75.0, "n": 4, "ci": table["per_type"]["x"]["ci"]}
    assert table["slices"]["occ_level"]["low"]["n"] == 2 and table["slices"]["occ_level"]["low"]["score"] == 50.0
    assert table["slices"]["occ_level"]["high"]["score"] == 75.0
    for summary in (table["overall"], table["micro"], table["per_type"]["x"]):
        lo, hi = summary["ci"]
        assert 0 <= lo <= summary["score"] <= hi <= 100 and lo < hi
    assert table["slices"]["occ_level"]["low"]["ci"][0] < 50.0 < table["slices"]["occ_level"]["low"]["ci"][1]
    _, perfect = score_predictions(records, {r.id: r.mc_answer for r in records}, EVAL)
    assert perfect["overall"]["ci"] == [100.0, 100.0] and perfect["n_missing_predictions"] == 0


def _official(i: int, qtype: str, gt: str, mc: str | None, options: list[str], diag: str | None = None) -> dict:
    return {"dataset": "synthetic", "scene_name": "synth_0000", "question_type": qtype, "frames": ["frame_000010"],
            "question": f"q{i}", "options": options, "ground_truth": gt, "mc_answer": mc, "overlap_avg": 0.1,
            "occlusion_avg": 0.5, "occ_level": "medium", "overlap_level": "low", "vis_level": "partially_visible",
            "GT Scenario": "partial_coverage", "id": i, "bbox_2d": [75, 75, 125, 125], "bbox_2d_diag": diag}


def test_mosaic_score_cli_scores_official_records(tmp_path):
    mc = ["A. 1", "B. 2", "C. 3", "D. 4"]
    records = [_official(0, "obj_count_occ", "3", "C", mc), _official(1, "obj_count_occ", "1", "A", mc),
               _official(2, "obj_existence_occ_lr", "Yes", "A", ["A. Yes", "B. No"]),
               _official(3, "obj_size_occ_na", "120", None, []),
               _official(4, "obj_localization_occ_na", "(100, 100)", None, [], diag="50.0"),
               _official(5, "obj_count_occ_na", "3", None, [])]
    predictions = [{"id": 0, "prediction": "C."}, {"id": 1, "prediction": "B"}, {"id": 2, "prediction": "a"},
                   {"id": 3, "prediction": "110 cm"}, {"id": 4, "prediction": "(130,145)"}]  # id 5: no prediction
    (tmp_path / "records.json").write_text(json.dumps(records))
    (tmp_path / "preds.jsonl").write_text("".join(json.dumps(p) + "\n" for p in predictions))
    result = CliRunner().invoke(main, ["score", str(tmp_path / "records.json"), str(tmp_path / "preds.jsonl"),
                                       "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert result.stderr == f"warning: {tmp_path / 'preds.jsonl'}: 5 of 6 records have a prediction (1 without one " \
        "score 0); 0 prediction ids match no record\n"
    table = json.loads(result.stdout)
    # per type: count 1/2, existence 1, size 0.9 (rel 0.083), point 0.4, count_na 0 (missing)
    assert {t: s["score"] for t, s in table["per_type"].items()} == pytest.approx(
        {"obj_count_occ": 50.0, "obj_existence_occ_lr": 100.0, "obj_size_occ_na": 90.0,
         "obj_localization_occ_na": 40.0, "obj_count_occ_na": 0.0})
    assert table["overall"]["score"] == pytest.approx(56.0)
    assert table["micro"]["score"] == pytest.approx(55.0)
    assert table["n_missing_predictions"] == 1
    assert table["slices"]["gt_scenario"]["partial_coverage"]["n"] == 6
    rows = [json.loads(line) for line in (tmp_path / "out" / "predictions.jsonl").read_text().splitlines()]
    first = [(r["id"], r["parsed"], r["correct"]) for r in rows[:3]]
    assert first == [("0", "C", True), ("1", "B", False), ("2", "a", True)]


def test_official_records_name_the_missing_field(tmp_path):
    record = _official(0, "obj_count_occ", "3", "C", ["A. 1"])
    del record["mc_answer"]
    (tmp_path / "r.json").write_text(json.dumps([record]))
    with pytest.raises(ValueError, match="field 'record 0': missing field 'mc_answer'"):
        official_records(tmp_path / "r.json")
