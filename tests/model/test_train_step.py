"""The training step's speed settings and benchmarks/train_step.py's code paths, at toy shapes on the CPU.

The figures come from GPU runs (benchmarks/README.md "Training step"); here: every speed setting that runs
on a CPU trains the same loss curve as the plain path, the geometry cache returns what the encoder computes,
run names ignore speed settings, and the benchmark's project / paper measurements run end to end.
"""
from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from mosaic_pipeline.params import REPO_ROOT
from mosaic_model.checkpoint import WEIGHTS
from mosaic_model.config import load_run_config
from mosaic_model.data import Collate, FrameCache, QADataset, read_qa, training_texts
from mosaic_model.modeling import SpatialMosaicVLM
from mosaic_model.tokenizer import train_bpe
from mosaic_pipeline.provenance import file_sha256
from mosaic_model.train import SPEED_FIELDS, run_name, train
from model_fixtures import tiny_config

# every speed setting that runs on a CPU (torch.compile does too, but compiling takes minutes on 2 cores)
CPU_SPEED = {"fused_adamw": True, "log_every": 3, "geometry_cache": True, "frames_on_device": True,
             "gradient_checkpointing": True}


def _bench():
    spec = importlib.util.spec_from_file_location("train_step", REPO_ROOT / "benchmarks" / "train_step.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["train_step"] = module
    spec.loader.exec_module(module)
    return module


def test_speed_settings_train_the_plain_paths_loss_curve(qa_set, params, tmp_path):
    cfg = dict(max_steps=6, save_every=3, global_batch_size=16)  # 2 micro-batches a step: accumulation too
    plain = train(tiny_config(**cfg), qa_set.parquet, qa_set.image_root, tmp_path / "plain", params)
    seen = []
    fast = train(tiny_config(**cfg, **CPU_SPEED), qa_set.parquet, qa_set.image_root, tmp_path / "fast", params,
                 on_step=lambda log: seen.append(log.step))
    assert [h.step for h in fast.history] == seen == [1, 2, 3, 4, 5, 6]
    for a, b in zip(plain.history, fast.history):
        assert b.loss == pytest.approx(a.loss, rel=1e-5) and b.grad_norm == pytest.approx(a.grad_norm, rel=1e-4)
        assert b.lr == a.lr
    a, b = (load_file(str(r.checkpoint / WEIGHTS)) for r in (plain, fast))
    # bitwise the same but for fused AdamW, whose kernel rounds otherwise than the foreach one
    assert a.keys() == b.keys() and all((a[k] - b[k]).abs().max() <= 1e-3 * a[k].abs().max() for k in a)
    # the speed settings are not part of the run's identity: the plain run's name, and the one before they existed
    assert run_name(tiny_config(**cfg, **CPU_SPEED), qa_set.parquet) == run_name(tiny_config(**cfg), qa_set.parquet)
    dump = tiny_config(**cfg).model_dump(mode="json")
    dump["train"] = {k: v for k, v in dump["train"].items() if k not in SPEED_FIELDS - {"num_workers", "pin_memory"}}
    old = hashlib.sha256(json.dumps(dump, sort_keys=True).encode()).hexdigest()[:8]
    assert run_name(tiny_config(**cfg), qa_set.parquet) == f"tiny-{file_sha256(qa_set.parquet)[:12]}-{old}"


def test_geometry_cache_returns_the_encoders_tokens_and_computes_each_frame_set_once(qa_set, params):
    cfg = load_run_config("tiny")
    items = read_qa(qa_set.parquet, "train")
    tok = train_bpe(training_texts(items, cfg.model.chat_template), cfg.model.tokenizer)
    model = SpatialMosaicVLM(cfg.model, tok).eval()
    data = QADataset(items[:6] + items[:2], tok, cfg.model.chat_template, qa_set.image_root, with_answers=True)
    cache = FrameCache.build(params.artifacts / "frames", data.frame_paths(), model.image_sizes)
    batch = Collate(cache.to(torch.device("cpu")), model.image_sizes)(list(data))
    frames = batch.frames[model.geometry.image_size]
    expected = model.geometry.encode(frames, batch.frame_counts)
    calls = []
    encode = model.geometry.encode
    model.geometry.encode = lambda f, counts: calls.append(counts) or encode(f, counts)
    tokens = model.use_geometry_cache()
    assert torch.allclose(tokens.lookup(batch.frame_sets, frames), expected, atol=1e-5)
    assert len(tokens) == 6 and calls == [batch.frame_counts[:6]]  # the 2 repeated sets computed once
    assert torch.equal(tokens.lookup(batch.frame_sets, frames), tokens.lookup(batch.frame_sets, frames))
    assert len(calls) == 1
    with torch.no_grad():  # the model's loss is the same through the cache (and the answer-only LM head)
        cached = model(batch, logits="answers").loss
        model.geometry_cache = None
        assert cached.item() == pytest.approx(model(batch).loss.item(), rel=1e-5)


def test_benchmark_runs_the_cumulative_settings_with_one_loss_curve(tmp_path):
    bench = _bench()
    names = ["plain", "fused_adamw", "log_every", "frames_on_device", "geometry_cache"]
    args = argparse.Namespace(
        config="tiny", smoke=True, batches=[4], variants=names, final_only_at=[4], final_only=["geometry_cache"],
        warmup=1, steps=2,
        seconds=0.0, anchor=None, anchor_eager_at=[], baseline_at=[], baseline_src=None, profile=True, paper=False, paper_flops=False, budget_s=600.0, commit="test",
        out=tmp_path / "train_step.json")
    result = bench.run(args)
    saved = json.loads(args.out.read_text())
    assert saved["configurations"] == result["configurations"]
    row = result["batches"]["4"]
    # at a --final-only-at batch: the first setting and the last, which has every setting before it on too
    assert list(row["project"]) == ["plain", "geometry_cache"]
    assert all("samples_per_s" in v for v in row["project"].values())
    assert all(row["project"]["geometry_cache"]["settings"][k] for k in ("fused_adamw", "frames_on_device"))
    assert row["project"]["geometry_cache"]["geometry_cache_sets"] == 8  # the smoke data's frame sets
    assert row["summary"]["loss_steps_compared"] == 3 and row["summary"]["loss_max_spread"] < 1e-3
    assert (tmp_path / "profile_b4_plain.txt").is_file() and (tmp_path / "profile_b4_geometry_cache.txt").is_file()
    assert {"samples_per_s", "step_ms_median", "step_ms_p90", "gpu_busy_pct", "peak_memory_gib"} <= set(
        result["configurations"][0])


def test_paper_probe_runs_lora_with_and_without_gradient_checkpointing_at_toy_shapes():
    bench = _bench()

    def toy_paper(batch: int, checkpointing: bool):
        return load_run_config("tiny", {"model": {"lora": {"enabled": True}},
                                        "train": {"batch_size": batch, "global_batch_size": batch,
                                                  "gradient_checkpointing": checkpointing, "log_every": 1000}})

    saved = []  # what the caller saves after each trial: a later trial cut off by the time limit loses none
    out = bench.paper_probe([(False, 2), (True, 2)], frames=3, device=torch.device("cpu"), warmup=1, steps=1,
                            deadline=float("inf"), cfg_of=toy_paper, text=(2, 8, 2), vocab=320,
                            on_trial=lambda record: saved.append(json.loads(json.dumps(record))))
    assert [len(r["trials"]) for r in saved] == [1, 2] and saved[0]["samples_per_s"] > 0
    assert [t["fits"] for t in out["trials"]] == [True, True]
    assert out["sequence_tokens"] == 3 * out["image_tokens_per_frame"] + 12 and out["samples_per_s"] > 0
    assert out["parameters"]["trainable"] < out["parameters"]["total"]
    assert all(len(t["losses"]) == 1 and t["losses"][0] > 0 for t in out["trials"])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="the reference step and torch.compile are timed on a GPU "
                    "(benchmarks/train_step.py --anchor; the figures in benchmarks/README.md)")
def test_reference_and_compiled_step_run_on_the_gpu(tmp_path):
    bench = _bench()
    anchor = Path(REPO_ROOT).parent / "shared" / "anchors" / "vlm_step.py"
    if not anchor.is_file():
        pytest.skip(f"the reference script is not at {anchor}")
    assert "samples_per_s" in bench.measure_anchor(anchor, 4, ("bf16",))["bf16"]


def test_training_forward_and_backward_read_nothing_back_from_the_device(qa_set, params):
    """Run on meta tensors, which hold no values: any host read of a device value (``.item()``, ``.all()`` in an
    ``if``, ``.tolist()``) raises. The GPU step then never waits for the device (the per-step sync it had)."""
    cfg = load_run_config("tiny")
    items = read_qa(qa_set.parquet, "train")
    tok = train_bpe(training_texts(items, cfg.model.chat_template), cfg.model.tokenizer)
    model = SpatialMosaicVLM(cfg.model, tok).train()
    data = QADataset(items[:4], tok, cfg.model.chat_template, qa_set.image_root, with_answers=True)
    cache = FrameCache.build(params.artifacts / "frames", data.frame_paths(), model.image_sizes)
    meta = torch.device("meta")
    batch = Collate(cache, model.image_sizes)(list(data)).to(meta)
    model.to(meta)
    loss = model(batch, logits="answers").loss
    loss.backward()
    assert loss.device == meta and all(p.grad is not None for p in model.parameters() if p.requires_grad)


def test_paper_flops_counts_a_training_step_on_the_meta_device():
    bench = _bench()

    def toy_paper(batch: int, checkpointing: bool):
        return load_run_config("tiny", {"model": {"lora": {"enabled": True}},
                                        "train": {"batch_size": batch, "global_batch_size": batch}})

    plain, recompute = (bench.paper_flops(3, gc, cfg_of=toy_paper, text=(2, 8, 2), vocab=320) for gc in (False, True))
    assert 0 < plain["geometry_forward_tflop"] <= plain["tflop_per_sample"]
    assert recompute["trained_parts_tflop"] > plain["trained_parts_tflop"]  # the LM's forward runs twice
    assert plain["vision_forward_tflop"] == recompute["vision_forward_tflop"]
