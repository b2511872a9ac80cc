"""Training: AdamW, cosine schedule with warmup, bf16 autocast on CUDA, gradient accumulation,
checkpoints every ``save_every`` steps, resumable after a kill, MLflow-tracked.

Determinism: the order of micro-batches is a function of (seed, micro-batch index) alone
(``ScheduleSampler``), and the checkpoint carries the torch RNG state, so a run resumed from step k
repeats exactly the steps an uninterrupted run takes after k (bitwise on the CPU).
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import mlflow
import torch
from torch import nn
from torch.utils.data import DataLoader, Sampler
from transformers import PreTrainedTokenizerBase, get_cosine_schedule_with_warmup

from mosaic_assets.params import Params

from .checkpoint import (CONFIG, TOKENIZER, TRAIN_STATE, WEIGHTS, latest_checkpoint, load_weights, read_meta,
                         save_checkpoint)
from .config import RunConfig, TrainConfig
from .data import Batch, Collate, FrameCache, QADataset, read_qa, training_texts
from .modeling import SpatialMosaicVLM
from .tokenizer import build_tokenizer, load_tokenizer
from .tracking import TrackingConfig, data_version_tags, file_sha256, mlflow_run


@dataclass(frozen=True)
class StepLog:
    step: int
    loss: float
    lr: float
    grad_norm: float
    samples_per_s: float


@dataclass(frozen=True)
class TrainResult:
    run_dir: Path
    checkpoint: Path
    history: list[StepLog]  # the steps this call ran (a resumed call starts after its checkpoint)
    mlflow_run_id: str | None


def select_device(name: str | None) -> torch.device:
    """``None``/"auto": CUDA when available, else the CPU."""
    if name in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def autocast(device: torch.device, bf16: bool) -> contextlib.AbstractContextManager:
    """bf16 autocast on CUDA only; the CPU always runs fp32 (deterministic, and what the tests check)."""
    if bf16 and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


class ScheduleSampler(Sampler[list[int]]):
    """Micro-batch m of the run = slice m mod E of the permutation of epoch m // E (seeded by seed + epoch)."""

    def __init__(self, n: int, batch_size: int, seed: int, start: int, stop: int) -> None:
        self.n, self.batch_size, self.seed, self.start, self.stop = n, batch_size, seed, start, stop
        self.per_epoch = math.ceil(n / batch_size)

    def batch(self, m: int) -> list[int]:
        epoch, pos = divmod(m, self.per_epoch)
        order = torch.randperm(self.n, generator=torch.Generator().manual_seed(self.seed + epoch))
        return order[pos * self.batch_size:(pos + 1) * self.batch_size].tolist()

    def __iter__(self) -> Iterator[list[int]]:
        return (self.batch(m) for m in range(self.start, self.stop))

    def __len__(self) -> int:
        return self.stop - self.start


def build_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.AdamW:
    """AdamW over trainable parameters; no weight decay on vectors (biases, norms, LayerScale)."""
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [{"params": [p for p in params if p.ndim >= 2], "weight_decay": cfg.weight_decay},
              {"params": [p for p in params if p.ndim < 2], "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=cfg.betas)


def parameter_counts(model: nn.Module) -> dict[str, int]:
    counts = {name: sum(p.numel() for p in child.parameters()) for name, child in model.named_children()}
    counts["total"] = sum(p.numel() for p in model.parameters())
    counts["trainable"] = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return counts


def run_name(cfg: RunConfig, qa_path: Path) -> str:
    """<size>-<QA content hash>-<config hash>: the same data and config resume the same run folder."""
    config_hash = hashlib.sha256(json.dumps(cfg.model_dump(mode="json"), sort_keys=True).encode()).hexdigest()
    return f"{cfg.model.name}-{file_sha256(qa_path)[:12]}-{config_hash[:8]}"


def _rng_state() -> dict[str, Any]:
    state = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _run_params(cfg: RunConfig, qa_path: Path, image_root: Path, counts: dict[str, int]) -> dict[str, Any]:
    return {**cfg.model_dump(mode="json"), "data": {"qa_path": str(qa_path), "image_root": str(image_root)},
            "parameters": counts}


@dataclass
class Trainer:
    """The model, its optimizer and schedule, and what one optimizer step and one checkpoint take."""

    cfg: RunConfig
    model: SpatialMosaicVLM
    tokenizer: PreTrainedTokenizerBase
    device: torch.device
    run_dir: Path
    mlflow_run_id: str | None = None

    def __post_init__(self) -> None:
        t = self.cfg.train
        self.optimizer = build_optimizer(self.model, t)
        warmup = math.ceil(t.warmup_ratio * t.max_steps)
        self.scheduler = get_cosine_schedule_with_warmup(self.optimizer, warmup, t.max_steps)
        self.trainable = [p for p in self.model.parameters() if p.requires_grad]

    def restore(self, checkpoint: Path) -> int:
        """Optimizer, schedule and RNG of ``checkpoint`` (its weights are loaded before); returns its step."""
        state = torch.load(checkpoint / TRAIN_STATE, map_location="cpu", weights_only=True)
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        _set_rng_state(state["rng"])
        meta = read_meta(checkpoint)
        self.mlflow_run_id = meta["mlflow_run_id"]
        return meta["step"]

    def step(self, step: int, batches: Iterator[Batch]) -> StepLog:
        """One optimizer step over ``grad_accum_steps`` micro-batches."""
        t = self.cfg.train
        self.model.train()
        began, loss_sum, n_samples = time.perf_counter(), 0.0, 0
        for _ in range(t.grad_accum_steps):
            batch = next(batches).to(self.device)
            with autocast(self.device, t.bf16):
                loss = self.model(batch).loss / t.grad_accum_steps
            loss.backward()
            loss_sum += loss.item()
            n_samples += len(batch.ids)
        grad_norm = float(nn.utils.clip_grad_norm_(self.trainable, t.max_grad_norm))
        lr = self.scheduler.get_last_lr()[0]
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        return StepLog(step, loss_sum, lr, grad_norm, n_samples / (time.perf_counter() - began))

    def save(self, step: int) -> Path:
        state = {"optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict(),
                 "rng": _rng_state()}
        return save_checkpoint(self.run_dir, step, self.model, self.tokenizer, self.cfg, state, self.mlflow_run_id)


def _loader(dataset: QADataset, cache: FrameCache, model: SpatialMosaicVLM, t: TrainConfig, start_step: int,
            device: torch.device) -> DataLoader:
    """Micro-batches from ``start_step`` on, in the run's fixed order."""
    sampler = ScheduleSampler(len(dataset), t.batch_size, t.seed, start_step * t.grad_accum_steps,
                              t.max_steps * t.grad_accum_steps)
    return DataLoader(dataset, batch_sampler=sampler, collate_fn=Collate(cache, model.image_sizes),
                      num_workers=t.num_workers, pin_memory=device.type == "cuda",
                      generator=torch.Generator().manual_seed(t.seed))  # keeps the global RNG (dropout) untouched


def train(cfg: RunConfig, qa_path: Path, image_root: Path, run_dir: Path, params: Params,
          tracking: TrackingConfig | None = None, on_step: Callable[[StepLog], None] | None = None,
          device: str | None = None) -> TrainResult:
    """Train (or resume the run in ``run_dir``) up to ``cfg.train.max_steps`` optimizer steps."""
    t = cfg.train
    latest = latest_checkpoint(run_dir)
    items = read_qa(qa_path, t.split)
    tokenizer = (load_tokenizer(latest / TOKENIZER) if latest
                 else build_tokenizer(cfg.model.tokenizer, training_texts(items, cfg.model.chat_template)))
    torch.manual_seed(t.seed)
    model = SpatialMosaicVLM(cfg.model, tokenizer)
    if latest:
        load_weights(model, latest)
    dev = select_device(device)
    trainer = Trainer(cfg, model.to(dev), tokenizer, dev, run_dir)
    start_step = trainer.restore(latest) if latest else 0
    if start_step >= t.max_steps:
        return TrainResult(run_dir, latest, [], trainer.mlflow_run_id)
    dataset = QADataset(items, tokenizer, cfg.model.chat_template, image_root, with_answers=True)
    cache = FrameCache.build(params.artifacts / params.model.frame_cache, dataset.frame_paths(), model.image_sizes)
    batches = iter(_loader(dataset, cache, model, t, start_step, dev))
    run = contextlib.nullcontext() if tracking is None else mlflow_run(
        tracking, run_dir.name, _run_params(cfg, qa_path, image_root, parameter_counts(model)),
        data_version_tags(qa_path), run_id=trainer.mlflow_run_id)
    history: list[StepLog] = []
    with run as active:
        trainer.mlflow_run_id = active.info.run_id if active else None
        for step in range(start_step + 1, t.max_steps + 1):
            history.append(trainer.step(step, batches))
            if active:
                mlflow.log_metrics({k: v for k, v in asdict(history[-1]).items() if k != "step"}, step=step)
            if step % t.save_every == 0 or step == t.max_steps:
                trainer.save(step)
            if on_step:
                on_step(history[-1])
        checkpoint = latest_checkpoint(run_dir)
        if active:  # the checkpoint without its optimizer state (that one only serves resuming)
            mlflow.log_dict(cfg.model_dump(mode="json"), "config.json")
            for name in (WEIGHTS, CONFIG):
                mlflow.log_artifact(str(checkpoint / name), "checkpoint")
            mlflow.log_artifacts(str(checkpoint / TOKENIZER), f"checkpoint/{TOKENIZER}")
    return TrainResult(run_dir, checkpoint, history, trainer.mlflow_run_id)
