"""Training: AdamW, cosine schedule with warmup, bf16 autocast on CUDA, gradient accumulation,
data-parallel over processes launched by torchrun, checkpoints every ``save_every`` steps, resumable
after a kill (also with another number of processes), MLflow-tracked.

One optimizer step takes ``global_batch_size`` QA = batch_size x world size x accumulation: its
micro-batches of ``batch_size`` QA are split evenly among the W processes (``Shard``), each
accumulates its share, and DistributedDataParallel averages the gradients, so the update equals the
one a single process makes over all of them. Everything that decides a step is global: the
micro-batch order is a function of (seed, global micro-batch index) alone (``ScheduleSampler``), and
so is the dropout seed of each micro-batch. A checkpoint therefore holds only the step, the weights,
the optimizer and the schedule: a run resumed from step k repeats the steps an uninterrupted run
takes after k (bitwise on the CPU with the same number of processes; within float tolerance with
another, where the gradient sums run in another order).
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Sampler
from transformers import PreTrainedTokenizerBase, get_cosine_schedule_with_warmup

from mosaic_pipeline import paths
from mosaic_pipeline.params import Params
from mosaic_pipeline.provenance import data_version_tags, file_sha256

from .checkpoint import (
    CONFIG,
    TOKENIZER,
    TRAIN_STATE,
    WEIGHTS,
    latest_checkpoint,
    load_weights,
    read_meta,
    save_checkpoint,
)
from .config import RunConfig, TrainConfig
from .data import Batch, Collate, DeviceFrameCache, FrameCache, QADataset, QAItem, read_qa, training_texts
from .distributed import World, barrier, data_parallel, from_main, main_first, world
from .modeling import SpatialMosaicVLM
from .tokenizer import build_tokenizer, load_tokenizer

if TYPE_CHECKING:  # mlflow is imported where a run is tracked only (the GPU benchmark runs without it)
    from .tracking import TrackingConfig

SEED_BYTES = 8  # torch seeds are 64-bit
# Train fields that decide how fast a step runs, not what it computes: not part of a run's identity (run_name),
# so a run may be resumed with other settings.
SPEED_FIELDS = frozenset({"num_workers", "pin_memory", "log_every", "fused_adamw", "geometry_cache",
                          "frames_on_device", "compile", "gradient_checkpointing"})
GEOMETRY_WARM_CHUNK = 64  # frame sets per encoder call when the geometry cache is filled before training
TYPE_LOSS = "loss_by_type."  # MLflow metric prefix of the per-type training losses (StepLog.metrics)

@dataclass(frozen=True)
class StepLog:
    step: int
    loss: float
    lr: float
    grad_norm: float
    samples_per_s: float
    # On the last step of a read-back window only (every ``log_every`` steps): per question type, the mean
    # cross-entropy over the window's answer tokens of that type, and their number (the learning curves per
    # type of docs/training.md; the blind arm's beside the seeing ones say which types the frames help).
    type_losses: dict[str, float] | None = None
    type_tokens: dict[str, int] | None = None

    def metrics(self) -> dict[str, float]:
        """What MLflow records at this step: the scalars, and ``loss_by_type.<type>`` where present."""
        out = {k: v for k, v in asdict(self).items() if k not in ("step", "type_losses", "type_tokens")}
        return out | {f"{TYPE_LOSS}{t}": v for t, v in (self.type_losses or {}).items()}


@dataclass(frozen=True)
class TrainResult:
    run_dir: Path
    checkpoint: Path
    history: list[StepLog]  # the steps this call ran (a resumed call starts after its checkpoint)
    mlflow_run_id: str | None  # None on every process but the main one, which alone logs
    world: World


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


@dataclass(frozen=True)
class Shard:
    """The micro-batches of one process: its k-th of step s (from 1) is global micro-batch ((s-1)*A + k)*W + rank."""

    rank: int
    world_size: int  # W
    accumulation: int  # A: micro-batches per process and optimizer step

    @classmethod
    def of(cls, t: TrainConfig, w: World) -> Shard:
        if t.micro_batches_per_step % w.size:
            raise ValueError(f"train.global_batch_size {t.global_batch_size} = {t.micro_batches_per_step} "
                             f"micro-batches of {t.batch_size}, which {w.size} processes cannot share evenly")
        return cls(w.rank, w.size, t.micro_batches_per_step // w.size)

    def micro_batch(self, step: int, k: int) -> int:
        return ((step - 1) * self.accumulation + k) * self.world_size + self.rank


def micro_batch_seed(seed: int, micro_batch: int) -> int:
    """The torch seed of a micro-batch's dropout: the same whichever process runs it, before or after a resume."""
    return int.from_bytes(hashlib.sha256(f"{seed}/{micro_batch}".encode()).digest()[:SEED_BYTES], "little")


class ScheduleSampler(Sampler[list[int]]):
    """Micro-batch m of the run = slice m mod E of the permutation of epoch m // E (seeded by seed + epoch);
    this process's micro-batches of steps ``first_step``..``last_step``."""

    def __init__(self, n: int, batch_size: int, seed: int, shard: Shard, first_step: int, last_step: int) -> None:
        self.n, self.batch_size, self.seed, self.shard = n, batch_size, seed, shard
        self.steps = range(first_step, last_step + 1)
        self.per_epoch = math.ceil(n / batch_size)

    def batch(self, m: int) -> list[int]:
        epoch, pos = divmod(m, self.per_epoch)
        order = torch.randperm(self.n, generator=torch.Generator().manual_seed(self.seed + epoch))
        return order[pos * self.batch_size:(pos + 1) * self.batch_size].tolist()

    def __iter__(self) -> Iterator[list[int]]:
        return (self.batch(self.shard.micro_batch(s, k)) for s in self.steps for k in range(self.shard.accumulation))

    def __len__(self) -> int:
        return len(self.steps) * self.shard.accumulation


def build_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.AdamW:
    """AdamW over trainable parameters; no weight decay on vectors (biases, norms, LayerScale)."""
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [{"params": [p for p in params if p.ndim >= 2], "weight_decay": cfg.weight_decay},
              {"params": [p for p in params if p.ndim < 2], "weight_decay": 0.0}]
    fused = getattr(cfg, "fused_adamw", False) or None  # None: torch's default (foreach); geometry_pretrain's cfg has none
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=cfg.betas, fused=fused)


def parameter_counts(model: nn.Module) -> dict[str, int]:
    counts = {name: sum(p.numel() for p in child.parameters()) for name, child in model.named_children()}
    counts["total"] = sum(p.numel() for p in model.parameters())
    counts["trainable"] = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return counts


def run_name(cfg: RunConfig, qa_path: Path) -> str:
    """<size>-<QA content hash>-<config hash>: the same data and config resume the same run folder (the speed
    settings of ``SPEED_FIELDS`` left out; the hash of a config that leaves them at their defaults is unchanged)."""
    identity = cfg.model_dump(mode="json")
    identity["train"] = {k: v for k, v in identity["train"].items()
                         if k not in SPEED_FIELDS or k in {"num_workers", "pin_memory"}}
    config_hash = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()
    return f"{cfg.model.name}-{file_sha256(qa_path)[:12]}-{config_hash[:8]}"


def _run_params(cfg: RunConfig, qa_path: Path, image_root: Path, counts: dict[str, int]) -> dict[str, Any]:
    return {**cfg.model_dump(mode="json"), "data": {"qa_path": str(qa_path), "image_root": str(image_root)},
            "parameters": counts}


@dataclass(frozen=True)
class QuestionTypes:
    """The question type of every training QA, by index (the per-type losses of a step are a [T] vector)."""

    names: tuple[str, ...]
    of_qa: dict[str, int]  # QA id -> index into names

    @classmethod
    def of(cls, items: list[QAItem]) -> QuestionTypes:
        names = tuple(sorted({i.question_type for i in items}))
        index = {n: k for k, n in enumerate(names)}
        return cls(names, {i.id: index[i.question_type] for i in items})

    def token_losses(self, batch: Batch, logits: Tensor) -> Tensor:
        """float64 [2T]: per type, the summed cross-entropy of the answer tokens ``logits`` predict, and their count."""
        answers = torch.cat(batch.answer_ids).to(logits.device)
        lengths = torch.tensor([len(a) for a in batch.answer_ids])
        kinds = torch.tensor([self.of_qa[i] for i in batch.ids]).repeat_interleave(lengths)
        kinds = kinds.to(logits.device, non_blocking=True)  # no wait for the device (as Batch.to)
        ce = nn.functional.cross_entropy(logits.detach().float(), answers, reduction="none").double()
        out = torch.zeros(2 * len(self.names), dtype=torch.float64, device=logits.device)
        out.index_add_(0, kinds, ce)
        out.index_add_(0, kinds + len(self.names), torch.ones_like(ce))
        return out


@dataclass
class PendingStep:
    """An optimizer step whose loss and gradient norm are still on the device (read back by ``Trainer.resolve``)."""

    step: int
    totals: Tensor  # float64 [2 + 2T]: loss, samples, then per question type token losses and tokens; summed
    grad_norm: Tensor  # over processes once resolved
    lr: float


@dataclass
class Trainer:
    """The model, its optimizer and schedule, and what one optimizer step and one checkpoint take."""

    cfg: RunConfig
    model: SpatialMosaicVLM  # on world.device
    tokenizer: PreTrainedTokenizerBase
    world: World
    run_dir: Path
    mlflow_run_id: str | None = None
    types: QuestionTypes | None = None  # per-type losses are tracked when given

    def __post_init__(self) -> None:
        t = self.cfg.train
        self.shard = Shard.of(t, self.world)
        self.optimizer = build_optimizer(self.model, t)
        warmup = math.ceil(t.warmup_ratio * t.max_steps)
        self.scheduler = get_cosine_schedule_with_warmup(self.optimizer, warmup, t.max_steps)
        self.trainable = [p for p in self.model.parameters() if p.requires_grad]
        if t.gradient_checkpointing:
            self.model.enable_gradient_checkpointing()
        if t.compile:
            self.model.compile_parts()
        self.parallel = data_parallel(self.model, self.world)  # what the forward pass runs through
        self.window_began = time.perf_counter()  # host time of the last read-back (samples/s between read-backs)

    def restore(self, checkpoint: Path) -> int:
        """Optimizer and schedule of ``checkpoint`` (its weights are loaded before); returns its step."""
        state = torch.load(checkpoint / TRAIN_STATE, map_location="cpu", weights_only=True)
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        meta = read_meta(checkpoint)
        self.mlflow_run_id = meta["mlflow_run_id"]
        return meta["step"]

    def _gradient_sync(self, k: int) -> contextlib.AbstractContextManager:
        """Gradients are all-reduced in the backward pass of a process's last micro-batch of the step only."""
        if isinstance(self.parallel, DistributedDataParallel) and k < self.shard.accumulation - 1:
            return self.parallel.no_sync()
        return contextlib.nullcontext()

    def step(self, step: int, batches: Iterator[Batch]) -> StepLog:
        """One optimizer step, read back at once (synchronises with the device)."""
        return self.resolve([self.launch(step, batches)])[0]

    def launch(self, step: int, batches: Iterator[Batch]) -> PendingStep:
        """One optimizer step: this process's ``accumulation`` micro-batches, queued on the device without
        waiting for it (no host read of the loss or the gradient norm: ``resolve`` reads them)."""
        t, device, accumulation = self.cfg.train, self.world.device, self.shard.accumulation
        self.model.train()
        n_types = len(self.types.names) if self.types else 0
        loss_sum, n_samples = torch.zeros((), dtype=torch.float64, device=device), 0
        by_type = torch.zeros(2 * n_types, dtype=torch.float64, device=device)
        for k in range(accumulation):
            batch = next(batches).to(device)
            torch.manual_seed(micro_batch_seed(t.seed, self.shard.micro_batch(step, k)))
            with self._gradient_sync(k):
                with autocast(device, t.bf16):
                    out = self.parallel(batch, logits="answers")
                    loss = out.loss / accumulation
                loss.backward()
            loss_sum += loss.detach()
            n_samples += len(batch.ids)
            if self.types:
                by_type += self.types.token_losses(batch, out.logits)
        # the count made on the device (a fill kernel): a CPU tensor copied with .to() would wait for the device
        samples = torch.full((1,), float(n_samples), dtype=torch.float64, device=device)
        totals = torch.cat((loss_sum.view(1), samples, by_type))
        if self.world.distributed:
            dist.all_reduce(totals)  # queued on the device like the rest
        grad_norm = nn.utils.clip_grad_norm_(self.trainable, t.max_grad_norm)
        lr = self.scheduler.get_last_lr()[0]
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        return PendingStep(step, totals, grad_norm.detach(), lr)

    def resolve(self, pending: list[PendingStep]) -> list[StepLog]:
        """Read the steps back in one transfer; samples/s is the rate since the previous read-back."""
        if not pending:
            return []
        values = torch.stack([torch.cat((p.totals, p.grad_norm.double().view(1))) for p in pending])
        values = values.tolist()  # the one host sync
        now = time.perf_counter()
        rate = sum(v[1] for v in values) / (now - self.window_began)
        self.window_began = now
        logs = [StepLog(p.step, v[0] / self.world.size, p.lr, v[-1], rate) for p, v in zip(pending, values)]
        if not self.types:
            return logs
        n = len(self.types.names)
        sums = [sum(v[2 + k] for v in values) for k in range(2 * n)]
        seen = [k for k in range(n) if sums[n + k]]
        logs[-1] = replace(logs[-1], type_losses={self.types.names[k]: sums[k] / sums[n + k] for k in seen},
                           type_tokens={self.types.names[k]: int(sums[n + k]) for k in seen})
        return logs

    def save(self, step: int) -> None:
        """The main process writes the checkpoint (atomically); every process waits until it is complete."""
        if self.world.is_main:
            state = {"optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict()}
            save_checkpoint(self.run_dir, step, self.model, self.tokenizer, self.cfg, state, self.mlflow_run_id)
        barrier(self.world)


def build_loader(dataset: QADataset, cache: FrameCache | DeviceFrameCache, model: SpatialMosaicVLM, t: TrainConfig,
                 shard: Shard, start_step: int, device: torch.device) -> DataLoader:
    """This process's micro-batches of the steps after ``start_step``, in the run's fixed order."""
    sampler = ScheduleSampler(len(dataset), t.batch_size, t.seed, shard, start_step + 1, t.max_steps)
    return DataLoader(dataset, batch_sampler=sampler, collate_fn=Collate(cache, model.image_sizes),
                      num_workers=t.num_workers, pin_memory=t.pin_memory and device.type == "cuda",
                      generator=torch.Generator().manual_seed(t.seed))  # keeps the global RNG (dropout) untouched


def prepare_frames(cache: FrameCache, dataset: QADataset, trainer: Trainer) -> FrameCache | DeviceFrameCache:
    """The frame source of the run's batches, with what the speed settings ask for done before the first step:
    the frames loaded into device memory (``frames_on_device``), the geometry tokens of every frame set of the
    dataset computed (``geometry_cache``)."""
    t, model, device = trainer.cfg.train, trainer.model, trainer.world.device
    source: FrameCache | DeviceFrameCache = cache.to(device, model.image_sizes) if t.frames_on_device else cache
    if t.geometry_cache and model.geometry is not None:  # (the no-geometry ablation has nothing to cache)
        size = model.geometry.image_size
        sets = [tuple(str(p) for p in ex.frame_paths) for ex in dataset.examples]
        with autocast(device, t.bf16):
            model.use_geometry_cache().warm(sets, lambda paths: source.frames(size, paths).to(device),
                                            GEOMETRY_WARM_CHUNK)
    return source


def train(cfg: RunConfig, qa_path: Path, image_root: Path, run_dir: Path, params: Params,
          tracking: TrackingConfig | None = None, on_step: Callable[[StepLog], None] | None = None,
          device: str | None = None, deadline: float | None = None) -> TrainResult:
    """Train (or resume the run in ``run_dir``) up to ``cfg.train.max_steps`` optimizer steps.

    With ``deadline`` (a ``time.monotonic()`` value) training stops at the first checkpoint saved after it,
    to be resumed later; the result's checkpoint then holds fewer than ``max_steps`` steps.
    Under torchrun every process calls this; they share the run folder (a shared filesystem across hosts).
    """
    with world(select_device(device)) as w:
        return _train(cfg, qa_path, image_root, run_dir, params, tracking if w.is_main else None, on_step, w,
                      deadline)


def _trainer(cfg: RunConfig, items: list[QAItem], run_dir: Path, w: World) -> tuple[Trainer, int]:
    """The model (from scratch, or the run's latest checkpoint) and its optimizer; the step it is at."""
    latest = latest_checkpoint(run_dir)
    tokenizer = (load_tokenizer(latest / TOKENIZER) if latest else from_main(
        w, lambda: build_tokenizer(cfg.model.tokenizer, training_texts(items, cfg.model.chat_template))))
    torch.manual_seed(cfg.train.seed)
    model = SpatialMosaicVLM(cfg.model, tokenizer)
    if latest:
        load_weights(model, latest)
    trainer = Trainer(cfg, model.to(w.device), tokenizer, w, run_dir, types=QuestionTypes.of(items))
    return trainer, trainer.restore(latest) if latest else 0


def _train(cfg: RunConfig, qa_path: Path, image_root: Path, run_dir: Path, params: Params,
           tracking: TrackingConfig | None, on_step: Callable[[StepLog], None] | None, w: World,
           deadline: float | None) -> TrainResult:
    if deadline is not None and w.distributed:  # each process would read its own clock and stop at another step
        raise ValueError("train(deadline=...) runs in a single process, not under torchrun")
    t = cfg.train
    items = read_qa(qa_path, t.split)
    trainer, start_step = _trainer(cfg, items, run_dir, w)
    model = trainer.model
    if start_step >= t.max_steps:
        return TrainResult(run_dir, latest_checkpoint(run_dir), [], trainer.mlflow_run_id, w)
    dataset = QADataset(items, trainer.tokenizer, cfg.model.chat_template, image_root, with_answers=True)
    with main_first(w):  # one process writes the frame cache, the others then read it
        cache = FrameCache.build(paths.frame_cache(params), dataset.frame_paths(), model.image_sizes)
    source = prepare_frames(cache, dataset, trainer)
    batches = iter(build_loader(dataset, source, model, t, trainer.shard, start_step, w.device))
    if tracking is None:
        run = contextlib.nullcontext()
    else:
        import mlflow

        from .tracking import mlflow_run

        run = mlflow_run(tracking, run_dir.name, _run_params(cfg, qa_path, image_root, parameter_counts(model)),
                         data_version_tags(qa_path), run_id=trainer.mlflow_run_id)
    history: list[StepLog] = []
    with run as active:
        trainer.mlflow_run_id = active.info.run_id if active else None
        pending: list[PendingStep] = []
        trainer.window_began = time.perf_counter()
        for step in range(start_step + 1, t.max_steps + 1):
            pending.append(trainer.launch(step, batches))
            saving = step % t.save_every == 0 or step == t.max_steps
            if not (saving or step % t.log_every == 0):
                continue  # the device runs ahead; nothing is read back yet
            for log in trainer.resolve(pending):
                history.append(log)
                if active:
                    mlflow.log_metrics(log.metrics(), step=log.step)
                if log.step == step and saving:
                    trainer.save(step)
                if on_step:
                    on_step(log)
            pending = []
            if saving and deadline is not None and time.monotonic() > deadline:
                break  # resumed later from the checkpoint just saved
            trainer.window_began = time.perf_counter()  # the rate leaves checkpoint writing and logging out
        checkpoint = latest_checkpoint(run_dir)
        if active and read_meta(checkpoint)["step"] == t.max_steps:  # the final weights, without the optimizer
            mlflow.log_dict(cfg.model_dump(mode="json"), "config.json")
            for name in (WEIGHTS, CONFIG):
                mlflow.log_artifact(str(checkpoint / name), "checkpoint")
            mlflow.log_artifacts(str(checkpoint / TOKENIZER), f"checkpoint/{TOKENIZER}")
    return TrainResult(run_dir, checkpoint, history, trainer.mlflow_run_id, w)
