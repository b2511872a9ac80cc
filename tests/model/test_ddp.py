"""Data-parallel training on the CPU: 2 gloo processes against 1 with the same global batch, resume with 1."""
from __future__ import annotations

import json
import os
import shutil
import socket
import time
from dataclasses import asdict
from pathlib import Path

import pytest
import torch
from mlflow.tracking import MlflowClient
from model_fixtures import qa_rows
from safetensors.torch import load_file

from mosaic_model.checkpoint import LATEST, WEIGHTS, checkpoints_dir
from mosaic_model.config import RunConfig, load_run_config
from mosaic_model.data import Collate, FrameCache, QADataset, read_qa, training_texts
from mosaic_model.distributed import World
from mosaic_model.modeling import SpatialMosaicVLM
from mosaic_model.tokenizer import train_bpe
from mosaic_model.tracking import TrackingConfig
from mosaic_model.train import ScheduleSampler, Shard, train
from mosaic_pipeline.params import Params

PROCESSES = 2
LAUNCH_TIMEOUT_S = 240.0  # the whole 2-process run, on a loaded 2-core machine
LOSS_TOLERANCE = 1e-5  # gradient sums run in another order across processes: float rounding only
WEIGHT_ATOL, WEIGHT_RTOL = 1e-5, 1e-4
CPU = torch.device("cpu")


def ddp_config() -> RunConfig:
    """4 steps of 16 QA = 4 micro-batches of 4 (2 per process with 2 processes), no dropout."""
    return load_run_config("tiny", {"train": {"max_steps": 4, "save_every": 2, "batch_size": 4,
                                              "global_batch_size": 16},
                                    "model": {"fusion": {"dropout": 0.0}}})


def shard(rank: int, world_size: int) -> Shard:
    w = World(rank, world_size, CPU, distributed=True) if world_size > 1 else World.single(CPU)
    return Shard.of(ddp_config().train, w)


@pytest.mark.parametrize("world_size", [1, 2, 4])
def test_processes_share_each_step_s_micro_batches_in_the_global_order(world_size):
    t, n_qa = ddp_config().train, len(qa_rows())
    single = list(ScheduleSampler(n_qa, t.batch_size, t.seed, shard(0, 1), 1, t.max_steps))
    ranks = [list(ScheduleSampler(n_qa, t.batch_size, t.seed, shard(r, world_size), 1, t.max_steps))
             for r in range(world_size)]
    per_step, per_rank = t.micro_batches_per_step, t.micro_batches_per_step // world_size
    for step in range(t.max_steps):
        shared = [b for r in ranks for b in r[step * per_rank:(step + 1) * per_rank]]
        assert sorted(shared) == sorted(single[step * per_step:(step + 1) * per_step])
    assert sum(map(len, ranks)) == len(single) == t.max_steps * per_step


def test_a_global_batch_processes_cannot_share_evenly_is_refused():
    with pytest.raises(ValueError, match="cannot share evenly"):
        shard(0, 3)


def test_every_trainable_parameter_gets_a_gradient(qa_set, tmp_path):
    """What DistributedDataParallel needs without searching for unused parameters (the vision tower is pruned)."""
    cfg = load_run_config("tiny")
    items = read_qa(qa_set.parquet, "train")
    tok = train_bpe(training_texts(items, cfg.model.chat_template), cfg.model.tokenizer)
    model = SpatialMosaicVLM(cfg.model, tok).train()
    data = QADataset(items[:4], tok, cfg.model.chat_template, qa_set.image_root, True)
    cache = FrameCache.build(tmp_path / "frames", data.frame_paths(), model.image_sizes)
    model(Collate(cache, model.image_sizes)(list(data))).loss.backward()
    assert [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None] == []
    assert len(model.vision.visual.transformer.resblocks) == model.vision.layer + 1


# ----------------------------------------------------------------------------- 2 processes on gloo
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _process(rank: int, port: int, out: Path, cfg: RunConfig, qa_set, run_dir: Path, params: Params,
             tracking: TrackingConfig) -> None:
    """One process of the group, set up as torchrun sets up its workers."""
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(PROCESSES), MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port))
    torch.set_num_threads(1)
    result = train(cfg, qa_set.parquet, qa_set.image_root, run_dir, params, tracking, device="cpu")
    (out / f"rank{rank}.json").write_text(json.dumps({"world": result.world.size, "mlflow": result.mlflow_run_id,
                                                       "history": [asdict(h) for h in result.history]}))


def launch(out: Path, *args: object) -> list[dict]:
    """Run ``train`` in PROCESSES forked processes (a gloo group); each one's report."""
    context = torch.multiprocessing.start_processes(_process, (_free_port(), out, *args), nprocs=PROCESSES,
                                                    join=False, start_method="fork")
    deadline = time.monotonic() + LAUNCH_TIMEOUT_S
    while not context.join(timeout=max(0.0, deadline - time.monotonic())):
        if time.monotonic() >= deadline:
            for process in context.processes:
                process.kill()
            pytest.fail(f"{PROCESSES} training processes did not finish within {LAUNCH_TIMEOUT_S} s")
    return [json.loads((out / f"rank{r}.json").read_text()) for r in range(PROCESSES)]


def _weights(run_dir: Path, step: int) -> dict[str, torch.Tensor]:
    return load_file(str(checkpoints_dir(run_dir) / f"step_{step:07d}" / WEIGHTS))


def _assert_same_weights(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for name in a:
        torch.testing.assert_close(a[name], b[name], atol=WEIGHT_ATOL, rtol=WEIGHT_RTOL, msg=name)


def test_two_gloo_processes_train_as_one_and_a_single_process_resumes_their_run(qa_set, params, tmp_path):
    cfg = ddp_config()
    single = train(cfg, qa_set.parquet, qa_set.image_root, tmp_path / "single", params)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    ranks = launch(tmp_path, cfg, qa_set, tmp_path / "ddp", params, TrackingConfig(uri, "ddp-tests"))

    assert [r["world"] for r in ranks] == [PROCESSES] * PROCESSES
    losses = [h.loss for h in single.history]
    for r in ranks:  # every process reports the global loss, and it is the single process's
        assert [h["loss"] for h in r["history"]] == pytest.approx(losses, abs=LOSS_TOLERANCE)
    _assert_same_weights(_weights(tmp_path / "single", 4), _weights(tmp_path / "ddp", 4))
    assert sorted(p.name for p in checkpoints_dir(tmp_path / "ddp").iterdir()) == [
        LATEST, "step_0000002", "step_0000004"]  # written once: no second writer's leftovers

    client = MlflowClient(uri)
    (run,) = client.search_runs([client.get_experiment_by_name("ddp-tests").experiment_id])  # rank 0 alone logs
    assert run.info.run_id == ranks[0]["mlflow"] and ranks[1]["mlflow"] is None
    assert [m.step for m in client.get_metric_history(run.info.run_id, "loss")] == [1, 2, 3, 4]

    resumed_dir = tmp_path / "resumed"  # the 2-process run as a kill after step 3 leaves it: step 2 is the latest
    shutil.copytree(tmp_path / "ddp", resumed_dir)
    shutil.rmtree(checkpoints_dir(resumed_dir) / "step_0000004")
    (checkpoints_dir(resumed_dir) / LATEST).write_text("step_0000002")
    resumed = train(cfg, qa_set.parquet, qa_set.image_root, resumed_dir, params)  # 1 process
    assert [h.step for h in resumed.history] == [3, 4]
    assert [h.loss for h in resumed.history] == pytest.approx(losses[2:], abs=LOSS_TOLERANCE)
    _assert_same_weights(_weights(tmp_path / "single", 4), _weights(resumed_dir, 4))
