"""Training on the CPU: overfitting 32 QA, checkpoint round trip, resume after a kill, MLflow, CLI."""
from __future__ import annotations

import hashlib
import json
import subprocess

import mlflow
import pytest
import torch
from click.testing import CliRunner
from mlflow.tracking import MlflowClient
from model_fixtures import tiny_config
from safetensors.torch import load_file

from mosaic_cli import main
from mosaic_model.checkpoint import WEIGHTS, load_checkpoint, save_checkpoint
from mosaic_model.data import Collate, FrameCache, QADataset, read_qa, training_texts
from mosaic_model.evaluate import evaluate
from mosaic_model.modeling import SpatialMosaicVLM
from mosaic_model.tokenizer import train_bpe
from mosaic_model.tracking import TrackingConfig
from mosaic_model.train import train
from mosaic_pipeline.params import REPO_ROOT


def test_tiny_model_overfits_32_questions(qa_set, params, tmp_path):
    result = train(tiny_config(), qa_set.parquet, qa_set.image_root, tmp_path / "run", params)
    losses = [h.loss for h in result.history]
    print("\noverfit curve (step, loss):", [(h.step, round(h.loss, 4)) for h in result.history[::10]])
    assert len(losses) == tiny_config().train.max_steps
    assert sum(losses[-10:]) / 10 < sum(losses[:10]) / 10 / 10
    table = evaluate(result.checkpoint, qa_set.parquet, qa_set.image_root, tmp_path / "eval", "train", params).table
    print("accuracy on the 32 training QA:", table["micro"]["score"])
    assert table["micro"]["n"] == 32 and table["micro"]["score"] >= 90.0
    rows = [json.loads(line) for line in (tmp_path / "eval" / "predictions.jsonl").read_text().splitlines()]
    assert {"id", "prediction", "parsed", "correct", "score"} <= set(rows[0])
    assert sum(r["correct"] for r in rows) / 32 * 100 == pytest.approx(table["micro"]["score"])


def test_per_type_losses_of_a_step_weighted_by_their_tokens_give_its_loss(qa_set, params, tmp_path):
    """One micro-batch a step: its loss is the mean over its answer tokens, so the per-type means weighted by
    their token counts give it back (computed apart: the model's loss against the per-token losses grouped)."""
    cfg = tiny_config(max_steps=3)
    assert cfg.train.global_batch_size == cfg.train.batch_size
    result = train(cfg, qa_set.parquet, qa_set.image_root, tmp_path / "run", params)
    for log in result.history:
        tokens = sum(log.type_tokens.values())
        weighted = sum(log.type_losses[t] * n for t, n in log.type_tokens.items()) / tokens
        assert weighted == pytest.approx(log.loss, rel=1e-5)
    seen = set().union(*(log.type_losses for log in result.history))
    assert len(seen) >= 2 and seen <= {i.question_type for i in read_qa(qa_set.parquet, "train")}


def test_checkpoint_round_trip_gives_identical_logits(qa_set, params, tmp_path):
    cfg = tiny_config()
    items = read_qa(qa_set.parquet, "train")
    tok = train_bpe(training_texts(items, cfg.model.chat_template), cfg.model.tokenizer)
    torch.manual_seed(1)
    model = SpatialMosaicVLM(cfg.model, tok).eval()
    data = QADataset(items[:6], tok, cfg.model.chat_template, qa_set.image_root, True)
    cache = FrameCache.build(tmp_path / "frames", data.frame_paths(), model.image_sizes)
    batch = Collate(cache, model.image_sizes)(list(data))
    checkpoint = save_checkpoint(tmp_path / "run", 3, model, tok, cfg, {"note": "test"}, None)
    assert set(load_file(str(checkpoint / WEIGHTS))) == set(model.state_dict())  # nothing pretrained: all saved
    torch.manual_seed(2)  # a different init underneath, fully overwritten by the checkpoint
    loaded, loaded_tok, loaded_cfg = load_checkpoint(checkpoint, torch.device("cpu"))
    assert loaded_cfg == cfg and loaded_tok.get_vocab() == tok.get_vocab()
    with torch.no_grad():
        assert torch.equal(model(batch).logits, loaded(batch).logits)


class Killed(Exception):
    pass


def test_resume_after_a_kill_repeats_the_uninterrupted_loss_curve(qa_set, params, tmp_path):
    cfg = tiny_config(max_steps=6, save_every=2, global_batch_size=16)  # 12 micro-batches: 3 epochs of 4
    straight = train(cfg, qa_set.parquet, qa_set.image_root, tmp_path / "a", params).history

    def kill_after_step_5(log):
        if log.step == 5:  # the checkpoint of step 4 exists; step 5's progress is lost
            raise Killed

    with pytest.raises(Killed):
        train(cfg, qa_set.parquet, qa_set.image_root, tmp_path / "b", params, on_step=kill_after_step_5)
    resumed = train(cfg, qa_set.parquet, qa_set.image_root, tmp_path / "b", params)
    assert [h.step for h in resumed.history] == [5, 6]
    assert [(h.loss, h.grad_norm, h.lr) for h in resumed.history] == [(h.loss, h.grad_norm, h.lr) for h in straight[4:]]
    a, b = (load_file(str(tmp_path / run / "checkpoints" / "step_0000006" / WEIGHTS)) for run in ("a", "b"))
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert sorted(p.name for p in (tmp_path / "b" / "checkpoints").glob("step_*")) == ["step_0000004", "step_0000006"]


def test_mlflow_runs_carry_commit_data_version_and_dagster_run_id(qa_set, params, tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING", "true")
    monkeypatch.setenv("MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL", "0.2")
    monkeypatch.setenv("MLFLOW_SYSTEM_METRICS_SAMPLES_BEFORE_LOGGING", "1")
    parquet = tmp_path / "qa.parquet"
    parquet.write_bytes(qa_set.parquet.read_bytes())
    (tmp_path / "qa.parquet.dvc").write_text("outs:\n- md5: 0123456789abcdef0123456789abcdef\n  path: qa.parquet\n")
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    tracking = TrackingConfig(uri, "model-tests", dagster_run_id="dagster-run-42")
    cfg = tiny_config(max_steps=3, save_every=1)

    def kill_after_step_2(log):
        if log.step == 2:
            raise Killed

    with pytest.raises(Killed):
        train(cfg, parquet, qa_set.image_root, tmp_path / "run", params, tracking, on_step=kill_after_step_2)
    result = train(cfg, parquet, qa_set.image_root, tmp_path / "run", params, tracking)  # resumes the same MLflow run

    client = MlflowClient(uri)
    run = client.get_run(result.mlflow_run_id)
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True).stdout.strip()
    assert run.data.tags["mlflow.source.git.commit"] == commit and len(commit) == 40
    assert run.data.tags["mosaic.data.sha256"] == hashlib.sha256(parquet.read_bytes()).hexdigest()
    assert run.data.tags["mosaic.data.dvc_md5"] == "0123456789abcdef0123456789abcdef"
    assert run.data.tags["dagster.run_id"] == "dagster-run-42"
    assert run.data.params["train.lr"] == str(tiny_config().train.lr)
    assert run.data.params["model.geometry.vggt.embed_dim"] == "32"
    assert [m.step for m in client.get_metric_history(run.info.run_id, "loss")] == [1, 2, 3]
    assert len(client.search_runs([run.info.experiment_id])) == 1 and run.info.status == "FINISHED"
    assert {"lr", "samples_per_s", "grad_norm"} <= set(run.data.metrics)
    by_type = [k for k in run.data.metrics if k.startswith("loss_by_type.")]
    assert by_type and [m.step for m in client.get_metric_history(run.info.run_id, by_type[0])] <= [1, 2, 3]
    assert any(k.startswith("system/") for k in run.data.metrics)
    assert run.info.artifact_uri.startswith((tmp_path / "artifacts").as_uri())  # beside the database, not ./mlruns
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"config.json", "checkpoint"} <= artifacts
    assert {a.path.split("/")[-1] for a in client.list_artifacts(run.info.run_id, "checkpoint")} == {
        WEIGHTS, "config.json", "tokenizer"}

    evaluated = evaluate(result.checkpoint, parquet, qa_set.image_root, tmp_path / "eval", "train", params, tracking)
    eval_run = client.search_runs([run.info.experiment_id], "tags.`mosaic.train_run_id` = '%s'" % run.info.run_id)[0]
    assert eval_run.info.run_id == evaluated.mlflow_run_id
    assert {"overall", "micro"} <= set(eval_run.data.metrics)
    assert {a.path for a in client.list_artifacts(eval_run.info.run_id)} == {"predictions.jsonl", "scores.json"}
    assert eval_run.data.tags["mlflow.source.git.commit"] == commit
    mlflow.set_tracking_uri(None)


def test_train_and_evaluate_commands(qa_set, tmp_path, monkeypatch):
    monkeypatch.setenv("MOSAIC_ARTIFACTS", str(tmp_path / "artifacts"))
    runner = CliRunner()
    trained = runner.invoke(main, ["train", "--config", "tiny", "--qa", str(qa_set.parquet), "--images",
                                   str(qa_set.image_root), "--run-dir", str(tmp_path / "run"), "--no-tracking",
                                   "--set", "train.max_steps=2", "--set", "model.geometry.enabled=false"])
    assert trained.exit_code == 0, trained.output
    out = json.loads(trained.output.strip().splitlines()[-1])
    assert out["steps"] == 2 and out["checkpoint"].endswith("step_0000002")
    assert json.loads((tmp_path / "run" / "checkpoints" / "step_0000002" / "config.json").read_text()
                      )["run"]["model"]["geometry"]["enabled"] is False
    scored = runner.invoke(main, ["evaluate", "--checkpoint", out["checkpoint"], "--qa", str(qa_set.parquet),
                                  "--images", str(qa_set.image_root), "--out", str(tmp_path / "eval"),
                                  "--split", "train", "--no-tracking"])
    assert scored.exit_code == 0, scored.output
    assert json.loads(scored.output)["micro"]["n"] == 32
    assert (tmp_path / "eval" / "scores.json").is_file()
    bad = runner.invoke(main, ["train", "--qa", str(qa_set.parquet), "--images", str(qa_set.image_root),
                               "--set", "max_steps=2"])
    assert bad.exit_code != 0 and "SECTION.FIELD=VALUE" in bad.output
