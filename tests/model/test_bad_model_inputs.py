"""Bad inputs of the model commands (docs/bad_input.md): a damaged checkpoint, missing pretrained weights,
predictions that cannot be scored. Each is one line naming the file (and line or field), exit 2; never a
traceback, never a silent 0 %."""
from __future__ import annotations

import json
import shutil

import pytest
from click.testing import CliRunner
from model_fixtures import tiny_config

from mosaic_cli import main
from mosaic_model.checkpoint import CONFIG, LATEST, TRAIN_STATE, WEIGHTS, latest_checkpoint, save_checkpoint
from mosaic_model.data import read_qa, training_texts
from mosaic_model.modeling import SpatialMosaicVLM
from mosaic_model.tokenizer import train_bpe

QIDS = ("0b6c2a4e-qa-0", "0b6c2a4e-qa-1", "0b6c2a4e-qa-2")


@pytest.fixture(scope="module")
def run_dir(qa_set, tmp_path_factory):
    cfg = tiny_config()
    tok = train_bpe(training_texts(read_qa(qa_set.parquet, "train"), cfg.model.chat_template), cfg.model.tokenizer)
    run = tmp_path_factory.mktemp("run")
    save_checkpoint(run, 1, SpatialMosaicVLM(cfg.model, tok), tok, cfg, {"optimizer": {}, "scheduler": {}}, None)
    return run


def _damaged(run_dir, tmp_path, damage):
    run = tmp_path / "run"
    shutil.copytree(run_dir, run)
    damage(run / "checkpoints" / "step_0000001")
    return run


def _truncate(path):
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


@pytest.mark.parametrize("damage, name, text", [
    (lambda c: _truncate(c / WEIGHTS), WEIGHTS, "truncated or corrupt weights"),
    (lambda c: (c / WEIGHTS).write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{bad json"), WEIGHTS, "corrupt weights"),
    (lambda c: _truncate(c / TRAIN_STATE), TRAIN_STATE, "truncated or corrupt training state"),
    (lambda c: _truncate(c / CONFIG), CONFIG, "truncated or corrupt JSON"),
    (lambda c: shutil.rmtree(c), LATEST, "names step_0000001, which does not exist"),
], ids=["truncated weights", "corrupt weights", "truncated train state", "truncated config", "latest dangling"])
def test_damaged_checkpoint_is_named_before_loading(run_dir, tmp_path, damage, name, text):
    assert latest_checkpoint(run_dir) is not None  # the intact copy passes
    run = _damaged(run_dir, tmp_path, damage)
    with pytest.raises(ValueError, match=text) as err:
        latest_checkpoint(run)
    assert err.value.path.name == name


def test_evaluate_names_a_corrupt_checkpoint(run_dir, qa_set, tmp_path):
    run = _damaged(run_dir, tmp_path, lambda c: _truncate(c / WEIGHTS))
    result = CliRunner().invoke(main, ["evaluate", "--checkpoint", str(run / "checkpoints" / "step_0000001"),
                                       "--qa", str(qa_set.parquet), "--images", str(qa_set.image_root),
                                       "--out", str(tmp_path / "eval"), "--no-tracking"])
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.startswith(f"error: {run / 'checkpoints' / 'step_0000001' / WEIGHTS}:")
    assert len(result.stderr.strip().splitlines()) == 1 and not (tmp_path / "eval").exists()


def test_train_names_a_missing_weights_folder(qa_set, tmp_path):
    missing = tmp_path / "qwen2-0.5b"
    result = CliRunner().invoke(main, ["train", "--config", "tiny", "--qa", str(qa_set.parquet), "--images",
                                       str(qa_set.image_root), "--run-dir", str(tmp_path / "run"), "--no-tracking",
                                       "--set", f"model.lm.pretrained_dir={missing}", "--set", "model.lm.qwen2=null"])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert f"lm.pretrained_dir: {missing} does not exist" in result.stderr


def test_a_bad_model_config_value_is_one_line(qa_set, tmp_path):
    result = CliRunner().invoke(main, ["train", "--config", "tiny", "--qa", str(qa_set.parquet), "--images",
                                       str(qa_set.image_root), "--run-dir", str(tmp_path / "run"), "--no-tracking",
                                       "--set", "train.max_steps=many"])
    assert result.exit_code == 2 and len(result.stderr.splitlines()) == 1
    assert "tiny.yaml: train.max_steps: input should be a valid integer" in result.stderr


# ---- predictions ---------------------------------------------------------------------------------------

def _records(tmp_path):
    mc = ["A. 1", "B. 2", "C. 3", "D. 4"]
    records = [{"dataset": "synthetic", "scene_name": "synth_0000", "question_type": "obj_count_occ",
                "frames": ["frame_000010"], "question": f"q{i}", "options": mc, "ground_truth": "3", "mc_answer": "C",
                "overlap_avg": 0.1, "occlusion_avg": 0.5, "occ_level": "medium", "overlap_level": "low",
                "vis_level": "Partially Visible", "GT Scenario": "Partial Coverage", "id": qid, "bbox_2d": [],
                "bbox_2d_diag": "0"} for i, qid in enumerate(QIDS)]
    path = tmp_path / "records.json"
    path.write_text(json.dumps(records))
    return path


def _score(tmp_path, lines: list[str]):
    preds = tmp_path / "preds.jsonl"
    preds.write_text("".join(line + "\n" for line in lines))
    return CliRunner().invoke(main, ["score", str(_records(tmp_path)), str(preds)]), preds


def test_malformed_prediction_line_is_named(tmp_path):
    result, preds = _score(tmp_path, [json.dumps({"id": QIDS[0], "prediction": "C"}), '{"id": "x", "prediction": '])
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: {preds}: field 'line 2': not a JSON object (Expecting value")


def test_prediction_without_a_field_and_a_repeated_id(tmp_path):
    result, preds = _score(tmp_path, [json.dumps({"id": QIDS[0]})])
    assert result.exit_code == 2 and f"{preds}: field 'line 1': missing field 'prediction'" in result.stderr
    line = json.dumps({"id": QIDS[0], "prediction": "C"})
    result, preds = _score(tmp_path, [line, line])
    assert result.exit_code == 2 and f"field 'line 2': id {QIDS[0]} already predicted on line 1" in result.stderr


def test_ids_matching_no_record_are_an_error_not_zero(tmp_path):
    """Predictions numbered like the rows (another id scheme) match nothing: exit 2, both schemes shown."""
    result, preds = _score(tmp_path, [json.dumps({"id": i, "prediction": "C"}) for i in range(3)])
    assert result.exit_code == 2 and result.stdout == ""
    assert f"{preds}: field 'id': none of its 3 ids is one of the 3 records' ids" in result.stderr
    assert "'0', '1'" in result.stderr and repr(QIDS[0]) in result.stderr and "qa_id" in result.stderr


def test_partial_predictions_warn_with_the_counts(tmp_path):
    result, preds = _score(tmp_path, [json.dumps({"id": QIDS[0], "prediction": "C"}),
                                      json.dumps({"id": "unknown", "prediction": "C"})])
    assert result.exit_code == 0
    assert result.stderr == (f"warning: {preds}: 1 of 3 records have a prediction (2 without one score 0); "
                             "1 prediction ids match no record\n")
    table = json.loads(result.stdout)
    assert table["n_missing_predictions"] == 2 and table["micro"]["score"] == pytest.approx(100 / 3, abs=1e-3)
