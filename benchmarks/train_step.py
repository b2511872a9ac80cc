"""The training step against the lean reference at equal shapes, and the paper configuration at true shapes (JSON).

    python benchmarks/train_step.py --anchor ANCHOR.py [--config anchor] [--batches 32,128]
        [--variants plain,fused_adamw,...] [--final-only-at 128] [--baseline-src DIR] [--profile]
        [--paper] [--commit SHA] [--out benchmarks/results/train_step.json]

One process, one GPU, in this order, the GPU to itself for each measurement:

- **the project's step** (``mosaic_model.train.Trainer``, the code ``mosaic train`` runs: the frame cache, the
  config's loader, ``Collate``, the model, AdamW, the schedule) on synthetic QA at the config's shapes: for
  ``anchor`` 4 frames of 224 px a QA, 94 prompt + 2 answer tokens (96 text tokens), a vocabulary of 8,192;
  2,048 QA over 512 frame sets of 1,024 frames. Settings are cumulative (``VARIANTS``): ``plain`` is the
  config as it is, each next one adds one speed setting of ``TrainConfig``; timed after ``--warmup`` steps
  for at least ``--seconds`` and ``--steps`` steps;
- **the reference** (``--anchor``, ``../shared/anchors/vlm_step.py``, a copy carried with the command) run as
  a subprocess per batch size in its modes ``bf16`` (eager) and ``bf16+compile``;
- **the code of another checkout** (``--baseline-src``: a folder holding its ``mosaic_model/``, the library
  package it imports (``mosaic_pipeline/``, or ``mosaic_assets/`` before the house move) and ``configs/``, e.g.
  the commit before this work), its ``Trainer.step`` on the same data;
- ``--profile``: torch.profiler over a few steps of the first and the last setting (top CUDA ops, busy share);
- ``--paper``: the paper configuration at true shapes with random weights (``paper_probe``).

Per measured setting: samples/s (QA of the timed steps over their wall time, ending with a device sync), the
step time from CUDA events at each step's start (median, p90; the device's timeline, so host stalls show),
GPU busy (NVML utilisation sampled every 50 ms during the timed steps), peak memory, and the loss of every
step (the same batches and dropout seeds in every setting: the curves must agree within bf16 noise).
On a machine without CUDA the same code runs on the CPU (the tests' smoke run; no reference, no NVML).
"""
from __future__ import annotations

import argparse
import contextlib
import gc
import importlib.util
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

GIB = 2**30
H100_BYTES = 81559 * 2**20  # what an H100 80GB HBM3 reports (nvidia-smi, KINDS.md)
UTIL_PERIOD_S = 0.05
ANCHOR_MODES = ("bf16", "bf16+compile")
# Cumulative settings, each adding one speed field of TrainConfig to the one before.
VARIANTS: dict[str, dict[str, Any]] = {
    "plain": {},
    "fused_adamw": {"fused_adamw": True},
    "log_every": {"log_every": 50},
    "frames_on_device": {"frames_on_device": True},
    "geometry_cache": {"geometry_cache": True},
    "compile": {"compile": True},
}
# Qwen2-7B (config.json of Qwen/Qwen2-7B-Instruct): what the paper's LLaVA-Video-7B is built on.
QWEN2_7B = {"hidden_size": 3584, "intermediate_size": 18944, "num_hidden_layers": 28, "num_attention_heads": 28,
            "num_key_value_heads": 4, "max_position_embeddings": 32768, "rope_theta": 1000000.0,
            "rms_norm_eps": 1e-6, "tie_word_embeddings": False}
QWEN2_VOCAB = 152064
# Text tokens of one QA as the official prompt builds it (paper.yaml's chat template around "<image>\nThese
# are frames of a video.\n\n{question}\n\nOptions:\nA. ...\nD. ...\nAnswer with the option's letter from the
# given choices directly."): ~20 before the frames, ~100 after (question, four options, instruction, the
# assistant header), the answer letter + <|im_end|>. Counted with ~4 characters a token (no Qwen tokenizer here).
PAPER_TEXT = (20, 100, 2)


class VocabOnly:
    """What SpatialMosaicVLM reads of a tokenizer (the benchmark trains on token ids directly)."""

    pad_token_id, eos_token_id = 0, 1

    def __init__(self, size: int) -> None:
        self.size = size

    def __len__(self) -> int:
        return self.size


class Utilisation:
    """GPU utilisation (%) sampled by NVML in a background thread while active (nothing on the CPU)."""

    def __init__(self, device: torch.device) -> None:
        self.samples: list[int] = []
        self.enabled = device.type == "cuda"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append(torch.cuda.utilization())
            time.sleep(UTIL_PERIOD_S)

    def __enter__(self) -> Utilisation:
        if self.enabled:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.enabled:
            self._stop.set()
            self._thread.join()

    def mean(self) -> float | None:
        return round(statistics.fmean(self.samples), 1) if self.samples else None


# ----------------------------------------------------------------------------- synthetic QA
QUESTION_TYPES = 12  # as many as the experiment's QA have (docs/tasks.md)


class SyntheticQA(torch.utils.data.Dataset):
    """QA of fixed text lengths over frame sets of ``frames_per_qa`` random JPEG frames (the QADataset interface)."""

    def __init__(self, root: Path, n_qa: int, n_sets: int, n_frames: int, frames_per_qa: int, image_px: int,
                 text: tuple[int, int, int], vocab: int, seed: int = 0) -> None:
        from mosaic_model.data import Example

        rng = np.random.default_rng(seed)
        images = root / "synthetic" / "scene" / "images"
        images.mkdir(parents=True, exist_ok=True)
        paths = [images / f"frame_{i:05d}.jpg" for i in range(n_frames)]
        for path in paths:  # the same pixels every time (a folder written before is reused: the frame cache's key)
            pixels = rng.integers(0, 256, (image_px, image_px, 3), dtype=np.uint8)
            if not path.is_file():
                Image.fromarray(pixels).save(path, quality=90)
        sets = [tuple(paths[j] for j in rng.choice(n_frames, frames_per_qa, replace=False)) for _ in range(n_sets)]
        prefix, prompt, answer = text

        def ids(n: int) -> torch.Tensor:
            return torch.from_numpy(rng.integers(2, vocab, n)).long()

        self.examples = [Example(f"qa-{i}", ids(prefix), ids(prompt), ids(answer), sets[i % n_sets])
                         for i in range(n_qa)]

    def frame_paths(self) -> list[Path]:
        return [p for ex in self.examples for p in ex.frame_paths]

    def question_types(self, n: int = QUESTION_TYPES) -> Any:
        """QA i is of type i mod n: the per-type losses training tracks cost what they cost in a real run."""
        from mosaic_model.train import QuestionTypes

        return QuestionTypes(tuple(f"type_{k}" for k in range(n)), {ex.id: i % n for i, ex in enumerate(self.examples)})

    def __len__(self) -> int:
        return len(self.examples)

    def __getitem__(self, i: int) -> Any:
        return self.examples[i]


def anchor_data(root: Path, cfg: Any, small: bool = False) -> SyntheticQA:
    """The benchmark's QA at ``cfg``'s frame size: 4 frames a QA and 94 + 2 text tokens (the reference's 96)."""
    size = cfg.model.vision.open_clip_config["vision_cfg"]["image_size"] if cfg.model.vision.open_clip_config else 224
    if small:  # the tests' smoke run
        return SyntheticQA(root, n_qa=16, n_sets=8, n_frames=12, frames_per_qa=2, image_px=size, text=(0, 10, 2),
                           vocab=cfg.model.tokenizer.vocab_size)
    return SyntheticQA(root, n_qa=2048, n_sets=512, n_frames=1024, frames_per_qa=4, image_px=size, text=(0, 94, 2),
                       vocab=cfg.model.tokenizer.vocab_size)


# ----------------------------------------------------------------------------- the project's step
def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _reset_memory(device: torch.device) -> None:
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


def _peak_gib(device: torch.device) -> float | None:
    return round(torch.cuda.max_memory_allocated(device) / GIB, 2) if device.type == "cuda" else None


def _timed(device: torch.device, launch: Any, resolve: Any, batch: int, steps: int, seconds: float,
           log_every: int) -> dict[str, Any]:
    """Run ``launch(i)`` for at least ``steps`` steps and ``seconds``; CUDA events mark each step's start."""
    _reset_memory(device)
    events: list[Any] = []
    losses: list[float] = []
    pending: list[Any] = []
    with Utilisation(device) as util:
        began = time.perf_counter()
        i = 0
        while i < steps or time.perf_counter() - began < seconds:
            if device.type == "cuda":
                events.append(torch.cuda.Event(enable_timing=True))
                events[-1].record()
            pending.append(launch(i))
            i += 1
            if i % log_every == 0:
                losses += [log.loss for log in resolve(pending)]
                pending = []
        losses += [log.loss for log in resolve(pending)]
        _sync(device)
        elapsed = time.perf_counter() - began
    if device.type == "cuda":
        end = torch.cuda.Event(enable_timing=True)
        end.record()
        end.synchronize()
        events.append(end)
        step_ms = [a.elapsed_time(b) for a, b in zip(events, events[1:])]
    else:
        step_ms = [elapsed / i * 1000]
    return {"samples_per_s": round(i * batch / elapsed, 1), "timed_steps": i, "timed_s": round(elapsed, 2),
            "step_ms_median": round(statistics.median(step_ms), 2),
            "step_ms_p90": round(float(np.percentile(step_ms, 90)), 2),
            "gpu_busy_pct": util.mean(), "gpu_util_samples": len(util.samples),
            "peak_memory_gib": _peak_gib(device), "losses": [round(x, 5) for x in losses]}


def measure_project(cfg: Any, dataset: SyntheticQA, cache: Any, vocab: int, device: torch.device, warmup: int,
                    steps: int, seconds: float, profile_to: Path | None = None) -> dict[str, Any]:
    """The project's training step for ``cfg`` (its speed settings included), timed after ``warmup`` steps."""
    from mosaic_model.distributed import World
    from mosaic_model.modeling import SpatialMosaicVLM
    from mosaic_model.train import Trainer, build_loader, prepare_frames

    _reset_memory(device)
    t = cfg.train
    torch.manual_seed(t.seed)
    model = SpatialMosaicVLM(cfg.model, VocabOnly(vocab)).to(device)
    with tempfile.TemporaryDirectory() as run_dir:
        trainer = Trainer(cfg, model, VocabOnly(vocab), World.single(device), Path(run_dir),
                          types=dataset.question_types())
        began = time.perf_counter()
        source = prepare_frames(cache, dataset, trainer)
        prepare_s = time.perf_counter() - began
        batches = iter(build_loader(dataset, source, model, t, trainer.shard, 0, device))
        began = time.perf_counter()
        warm_losses = [trainer.step(s + 1, batches).loss for s in range(warmup)]  # compiles, if it does
        warmup_s = time.perf_counter() - began
        out = _timed(device, lambda i: trainer.launch(warmup + i + 1, batches), trainer.resolve,
                     t.batch_size * trainer.shard.accumulation, steps, seconds, t.log_every)
        if profile_to is not None:
            out["profile"] = profile_steps(device, lambda i: trainer.launch(10_000 + i, batches), trainer.resolve,
                                           profile_to)
    out["losses"] = [round(x, 5) for x in warm_losses] + out["losses"]
    out.update(prepare_s=round(prepare_s, 2), warmup_s=round(warmup_s, 2), batch=t.batch_size,
               geometry_cache_sets=len(model.geometry_cache) if model.geometry_cache is not None else None,
               settings={k: getattr(t, k) for k in ("bf16", "log_every", "fused_adamw", "geometry_cache",
                                                     "frames_on_device", "compile", "num_workers")})
    del trainer, model, source, batches
    _reset_memory(device)
    return out


def profile_steps(device: torch.device, launch: Any, resolve: Any, out_file: Path, steps: int = 6
                  ) -> dict[str, Any]:
    """torch.profiler over ``steps`` steps: the top CUDA ops to ``out_file``, the busy share of the device."""
    from torch.profiler import ProfilerActivity, profile

    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    _sync(device)
    with profile(activities=activities) as prof:
        began = time.perf_counter()
        resolve([launch(i) for i in range(steps)])
        _sync(device)
        wall_us = (time.perf_counter() - began) * 1e6
    sort = "cuda_time_total" if device.type == "cuda" else "cpu_time_total"
    table = prof.key_averages().table(sort_by=sort, row_limit=30)
    out_file.write_text(table)
    kernels = [e for e in prof.events() if e.device_type == torch.autograd.DeviceType.CUDA]
    busy = _union_us([(e.time_range.start, e.time_range.end) for e in kernels])
    return {"file": out_file.name, "steps": steps, "wall_ms_per_step": round(wall_us / steps / 1000, 2),
            "kernel_busy_pct": round(100 * busy / wall_us, 1) if kernels else None,
            "kernels_per_step": round(len(kernels) / steps)}


def _union_us(spans: list[tuple[float, float]]) -> float:
    total, end = 0.0, float("-inf")
    for a, b in sorted(spans):
        if b > end:
            total += b - max(a, end)
            end = b
    return total


# ----------------------------------------------------------------------------- another checkout's step
def measure_baseline(src: Path, config: str, batch: int, warmup: int, steps: int, seconds: float,
                     data_root: Path) -> dict[str, Any]:
    """``Trainer.step`` of the code in ``src`` (its own mosaic_model) on the same synthetic QA: a subprocess."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker-baseline", "--config", config, "--batches", str(batch),
           "--warmup", str(warmup), "--steps", str(steps), "--seconds", str(seconds), "--data", str(data_root)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(src), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=src)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode or not lines:
        return {"error": (proc.stderr or proc.stdout)[-800:]}
    return json.loads(lines[-1])


def _worker_baseline(args: argparse.Namespace) -> None:
    """Runs in the subprocess: only what every version of mosaic_model has (Trainer.step, Collate, FrameCache)."""
    from torch.utils.data import DataLoader, RandomSampler

    from mosaic_model.config import load_run_config
    from mosaic_model.data import Collate, FrameCache
    from mosaic_model.distributed import World
    from mosaic_model.modeling import SpatialMosaicVLM
    from mosaic_model.train import Trainer

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    batch = int(args.batches)
    cfg = load_run_config(args.config, {"train": {"batch_size": batch, "global_batch_size": batch}})
    data = anchor_data(Path(args.data) / "qa", cfg)
    vocab = cfg.model.tokenizer.vocab_size
    torch.manual_seed(cfg.train.seed)
    model = SpatialMosaicVLM(cfg.model, VocabOnly(vocab)).to(device)
    cache = FrameCache.build(Path(args.data) / "cache", data.frame_paths(), model.image_sizes)
    with tempfile.TemporaryDirectory() as run_dir:
        trainer = Trainer(cfg, model, VocabOnly(vocab), World.single(device), Path(run_dir))
        sampler = RandomSampler(data, replacement=True, num_samples=batch * 100_000,
                                generator=torch.Generator().manual_seed(0))
        batches = iter(DataLoader(data, batch_size=batch, sampler=sampler, collate_fn=Collate(cache, model.image_sizes)))
        for s in range(args.warmup):
            trainer.step(s + 1, batches)
        logs: dict[int, Any] = {}

        def launch(i: int) -> int:
            logs[i] = trainer.step(args.warmup + i + 1, batches)  # synchronous: loss.item() in every step
            return i

        out = _timed(device, launch, lambda ids: [logs[i] for i in ids], batch, args.steps, args.seconds, 1)
    print(json.dumps(out))


# ----------------------------------------------------------------------------- the reference
def measure_anchor(anchor: Path, batch: int, modes: tuple[str, ...]) -> dict[str, Any]:
    """The reference's JSON lines for ``modes`` at ``batch``, run as its own process."""
    env = {**os.environ, "B": str(batch), "MODES": ",".join(modes)}
    began = time.perf_counter()
    proc = subprocess.run([sys.executable, str(anchor)], env=env, capture_output=True, text=True)
    rows = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    out: dict[str, Any] = {"wall_s": round(time.perf_counter() - began, 1)}
    for row in rows:
        if "mode" in row:
            out[row.pop("mode")] = row
        else:
            out["env"] = row
    if proc.returncode:
        out["error"] = proc.stderr[-800:]
    return out


# ----------------------------------------------------------------------------- the paper configuration
def paper_config(batch: int, gradient_checkpointing: bool) -> Any:
    """paper.yaml with random weights at the same shapes: no local weights, the LM a Qwen2-7B config."""
    from mosaic_model.config import load_run_config

    return load_run_config("paper", {
        "model": {"require_pretrained": False, "vision": {"weights": None}, "geometry": {"weights": None},
                  "lm": {"pretrained_dir": None, "qwen2": QWEN2_7B},
                  "tokenizer": {"pretrained_dir": None, "vocab_size": QWEN2_VOCAB}},
        "train": {"batch_size": batch, "global_batch_size": batch, "fused_adamw": True, "log_every": 1000,
                  "gradient_checkpointing": gradient_checkpointing, "num_workers": 0, "pin_memory": False}})


def build_in(dtype: torch.dtype, device: torch.device, make: Any) -> Any:
    """``make()`` with its tensors created on ``device`` in ``dtype`` (no fp32 copy of 9 B parameters on the host)."""
    default = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with device:
            return make()
    finally:
        torch.set_default_dtype(default)


def paper_probe(trials: list[tuple[bool, int]], frames: int, device: torch.device, warmup: int, steps: int,
                deadline: float, cfg_of: Any = paper_config, text: tuple[int, int, int] = PAPER_TEXT,
                vocab: int = QWEN2_VOCAB, on_trial: Any = None) -> dict[str, Any]:
    """Does a training step of the paper model fit, at which micro-batch, how fast: (gradient checkpointing,
    batch) trials in order; a batch that runs out of memory ends the larger ones of its setting. ``on_trial``
    gets the record so far after every trial (the caller saves it: a command stopped at its time limit in a
    later trial keeps the earlier ones; the H100 run of b595952 lost its fitting trial so).

    Frozen parts (SigLIP, VGGT, the LM's base weights) are bf16, the trained ones (LoRA, fusion, projector) fp32
    with fused AdamW; bf16 autocast; the LM head on the answer positions only. Frames are random pixels drawn on
    the device (the loader is not what limits a step of seconds)."""
    from mosaic_model.data import Batch
    from mosaic_model.distributed import World
    from mosaic_model.modeling import SpatialMosaicVLM
    from mosaic_model.train import Trainer, parameter_counts

    _reset_memory(device)
    began = time.perf_counter()
    base = cfg_of(trials[0][1], trials[0][0])
    torch.manual_seed(0)
    model = build_in(torch.bfloat16 if device.type == "cuda" else torch.float32, device,
                     lambda: SpatialMosaicVLM(base.model, VocabOnly(vocab))).to(device)  # open_clip moves its own to the CPU
    for p in model.parameters():
        if p.requires_grad:
            p.data = p.data.float()
    counts = parameter_counts(model)
    sizes, per_frame = model.image_sizes, _tokens_per_frame(model)
    weights_gib = round(torch.cuda.memory_allocated(device) / GIB, 2) if device.type == "cuda" else None
    out: dict[str, Any] = {
        "config": "paper", "frames": frames, "text_tokens": list(text), "image_tokens_per_frame": per_frame,
        "sequence_tokens": frames * per_frame + sum(text), "image_sizes": list(sizes),
        "parameters": counts, "weights_gib": weights_gib, "build_s": round(time.perf_counter() - began, 1),
        "optimizer_state_gib": round(counts["trainable"] * 8 / GIB, 2),
        "eight_bit_optimizer": {m: importlib.util.find_spec(m) is not None for m in ("bitsandbytes", "torchao")},
        "trials": []}
    gen = torch.Generator(device=device).manual_seed(0)
    failed: set[bool] = set()
    for checkpointing, batch in trials:
        if checkpointing in failed or time.perf_counter() > deadline:
            continue
        cfg = cfg_of(batch, checkpointing)
        if not checkpointing:
            lm = model.causal_lm()
            (getattr(lm, "activation_checkpointing_disable", None) or lm.gradient_checkpointing_disable)()
        trial: dict[str, Any] = {"gradient_checkpointing": checkpointing, "batch": batch}
        trainer = None
        try:
            with tempfile.TemporaryDirectory() as run_dir:
                trainer = Trainer(cfg, model, VocabOnly(vocab), World.single(device), Path(run_dir))
                data = [_random_batch(Batch, batch, frames, sizes, text, vocab, device, gen) for _ in range(2)]
                feed = (data[i % 2] for i in range(10**9))
                _reset_memory(device)
                for s in range(warmup):
                    trainer.step(s + 1, feed)
                trial.update(_timed(device, lambda i: trainer.launch(warmup + i + 1, feed), trainer.resolve,
                                    batch, steps, 0.0, 1000))
                trial["fits"] = True
        except torch.OutOfMemoryError as e:
            trial.update(fits=False, error=str(e).splitlines()[0][:200], peak_memory_gib=_peak_gib(device))
            failed.add(checkpointing)
        finally:
            trial.pop("gpu_util_samples", None)
            del trainer
            for p in model.parameters():
                p.grad = None
            _reset_memory(device)
        out["trials"].append(trial)
        print(json.dumps({"paper_trial": trial}), flush=True)
        _best_trial(out)
        if on_trial:
            on_trial(out)
    del model
    _reset_memory(device)
    return out


def _best_trial(out: dict[str, Any]) -> None:
    """The record's figures: those of its fastest trial that fits."""
    fitting = [t for t in out["trials"] if t.get("fits")]
    if fitting:
        best = max(fitting, key=lambda t: t["samples_per_s"])
        out.update(samples_per_s=best["samples_per_s"], peak_memory_gib=best["peak_memory_gib"],
                   batch=best["batch"], gradient_checkpointing=best["gradient_checkpointing"])


H100_BF16_PEAK = 989e12  # dense bf16 FLOP/s of an H100 SXM by its datasheet (the reference's MFU basis)
PROJECTED_MFU = (0.3, 0.4, 0.5)  # model FLOP utilisation assumed for projections (low, central, high)


@contextlib.contextmanager
def _open_clip_stays_put() -> Any:
    """open_clip moves the towers it builds to a device of its own (the CPU by default); on the meta device,
    where nothing can be copied, the tower stays where it was built."""
    import open_clip.factory as factory

    moved = factory._set_model_device_and_precision
    factory._set_model_device_and_precision = lambda *a, **k: None
    try:
        yield
    finally:
        factory._set_model_device_and_precision = moved


def paper_flops(frames: int, checkpointing: bool = True, cfg_of: Any = paper_config,
                text: tuple[int, int, int] = PAPER_TEXT, vocab: int = QWEN2_VOCAB, batch: int = 1) -> dict[str, Any]:
    """FLOPs of one training step of the paper model per QA, counted by torch's FlopCounterMode on the meta device
    (shapes only: no memory, no GPU; the same code as the GPU step), split into the frozen encoders' forward
    passes and the rest (fusion, projector, LoRA LM: forward, backward and, with checkpointing, the recompute);
    with the device time this takes at the assumed utilisations (PROJECTED_MFU of an H100's bf16 peak)."""
    from torch.utils.flop_counter import FlopCounterMode

    from mosaic_model.data import Batch
    from mosaic_model.modeling import SpatialMosaicVLM
    from mosaic_model.train import parameter_counts

    meta = torch.device("meta")
    cfg = cfg_of(batch, checkpointing)
    with _open_clip_stays_put():
        model = build_in(torch.float32, meta, lambda: SpatialMosaicVLM(cfg.model, VocabOnly(vocab))).train()
    if checkpointing:
        model.enable_gradient_checkpointing()

    def ids(k: int) -> list[torch.Tensor]:
        return [torch.zeros(k, dtype=torch.long, device=meta) for _ in range(batch)]

    pixels = {s: torch.zeros(batch * frames, 3, s, s, dtype=torch.uint8, device=meta) for s in model.image_sizes}
    data = Batch([f"qa-{i}" for i in range(batch)], ids(text[0]), ids(text[1]), ids(text[2]), pixels,
                 [frames] * batch)

    def count(fn: Any) -> float:
        with FlopCounterMode(display=False) as counter:
            fn()
        return counter.get_total_flops() / batch

    total = count(lambda: model(data, logits="answers").loss.backward())
    with torch.no_grad():
        vision = count(lambda: model.vision(pixels[model.vision.image_size]))
        geometry = count(lambda: model.geometry.encode(pixels[model.geometry.image_size], data.frame_counts))
    counts = parameter_counts(model)
    frozen = counts["total"] - counts["trainable"]
    static = frozen * 2 + counts["trainable"] * 16  # bf16 frozen weights; fp32 weights, gradients, 2 Adam moments
    return {"frames": frames, "gradient_checkpointing": checkpointing,
            "sequence_tokens": frames * _tokens_per_frame(model) + sum(text),
            "tflop_per_sample": _tflop(total), "vision_forward_tflop": _tflop(vision),
            "geometry_forward_tflop": _tflop(geometry), "trained_parts_tflop": _tflop(total - vision - geometry),
            "parameters": counts, "static_memory_gib": round(static / GIB, 1),
            "projected_samples_per_s": {f"mfu_{m}": round(m * H100_BF16_PEAK / total, 2) for m in PROJECTED_MFU}}


def _tflop(flops: float) -> float:
    return float(f"{flops / 1e12:.4g}")


def _tokens_per_frame(model: Any) -> int:
    side = model.vision.image_size // _patch(model)
    return (side // model.cfg.frame_pool_stride) ** 2


def _patch(model: Any) -> int:
    trunk = getattr(model.vision.visual, "trunk", None)
    size = trunk.patch_embed.patch_size if trunk is not None else model.vision.visual.patch_size
    return int(size[0] if isinstance(size, (tuple, list)) else size)


def _random_batch(batch_cls: Any, n: int, frames: int, sizes: tuple[int, ...], text: tuple[int, int, int], vocab: int,
                  device: torch.device, gen: torch.Generator) -> Any:
    def ids(k: int) -> list[torch.Tensor]:
        return list(torch.randint(2, vocab, (n, k), device=device, generator=gen).unbind(0))

    pixels = {s: torch.randint(0, 256, (n * frames, 3, s, s), dtype=torch.uint8, device=device, generator=gen)
              for s in sizes}
    return batch_cls([f"qa-{i}" for i in range(n)], ids(text[0]), ids(text[1]), ids(text[2]), pixels, [frames] * n)


# ----------------------------------------------------------------------------- the run
def run(args: argparse.Namespace) -> dict[str, Any]:
    from mosaic_model.config import load_run_config
    from mosaic_model.data import FrameCache

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    deadline = time.perf_counter() + args.budget_s
    out_dir = args.out.parent if args.out else Path(".")
    result: dict[str, Any] = {
        "device": torch.cuda.get_device_name() if device.type == "cuda" else "cpu", "torch": torch.__version__,
        "commit": args.commit, "command": " ".join(shlex.quote(a) for a in sys.argv), "config": args.config,
        "warmup_steps": args.warmup, "min_timed_steps": args.steps, "min_timed_s": args.seconds,
        "variants": {k: VARIANTS[k] for k in args.variants}, "batches": {}}

    def save() -> None:
        if args.out:
            args.out.write_text(json.dumps(result, indent=1))

    if args.batches:
        data_root = Path(tempfile.mkdtemp(prefix="train_step_"))
        base = load_run_config(args.config)
        data = anchor_data(data_root / "qa", base, small=args.smoke)
        vocab = base.model.tokenizer.vocab_size
        from mosaic_model.modeling import SpatialMosaicVLM  # the sizes the model reads: one small build

        sizes = SpatialMosaicVLM(base.model, VocabOnly(vocab)).image_sizes
        cache = FrameCache.build(data_root / "cache", data.frame_paths(), sizes)
    for batch in args.batches:
        row: dict[str, Any] = {"project": {}}
        result["batches"][str(batch)] = row
        if args.anchor and device.type == "cuda":
            modes = ANCHOR_MODES if batch in args.anchor_eager_at else ANCHOR_MODES[1:]
            row["anchor"] = measure_anchor(args.anchor, batch, modes)
            save()
        names = args.variants if batch not in args.final_only_at else [args.variants[0], *args.final_only]
        overrides: dict[str, Any] = {"batch_size": batch, "global_batch_size": batch, "max_steps": 100_000}
        for name in args.variants:
            overrides.update(VARIANTS[name])
            if name not in names:
                continue
            if time.perf_counter() > deadline:
                row["project"][name] = {"skipped": "budget spent"}
                continue
            cfg = load_run_config(args.config, {"train": dict(overrides)})
            profile = (out_dir / f"profile_b{batch}_{name}.txt"
                       if args.profile and name in (names[0], names[-1]) and batch == args.batches[0] else None)
            try:
                row["project"][name] = measure_project(cfg, data, cache, vocab, device, args.warmup, args.steps,
                                                       args.seconds, profile)
            except Exception as e:  # noqa: BLE001 - one failed setting is reported, the others still run
                row["project"][name] = {"error": f"{type(e).__name__}: {e}"[:800]}
                _reset_memory(device)
            print(json.dumps({"batch": batch, "setting": name,
                              **{k: v for k, v in row["project"][name].items() if k != "losses"}}), flush=True)
            save()
        if args.baseline_src and batch in args.baseline_at and time.perf_counter() < deadline:
            row["baseline"] = measure_baseline(args.baseline_src, args.config, batch, args.warmup, args.steps,
                                               args.seconds, data_root)
            save()
        row["summary"] = summarise(row)
        save()
    if args.paper_flops:  # no GPU needed: counted on the meta device
        result["paper_flops"] = [paper_flops(f) for f in (4, args.paper_frames)]
        save()
    if args.paper and device.type == "cuda":
        trials = [(c == "gc", int(b)) for c, b in (t.split(":") for t in args.paper_trials.split(","))]
        total = torch.cuda.get_device_properties(device).total_memory
        if total > H100_BYTES:  # an H200: the probe answers for an H100, so it gets an H100's memory
            # it takes an index: torch.device("cuda") has none (the H200 run of 896516d stopped here)
            torch.cuda.set_per_process_memory_fraction(H100_BYTES / total, torch.cuda.current_device())
            result["paper_memory_cap_gib"] = round(H100_BYTES / GIB, 2)
        try:
            result["paper"] = paper_probe(trials, args.paper_frames, device, warmup=1, steps=args.paper_steps,
                                          deadline=time.perf_counter() + args.paper_budget_s,
                                          on_trial=lambda record: (result.update(paper=record), save()))
        except Exception as e:  # noqa: BLE001
            result["paper"] = {"config": "paper", "error": f"{type(e).__name__}: {e}"[:800]}
        save()
    result["configurations"] = [dict(config=args.config, batch=int(b), **r["summary"])
                                for b, r in result["batches"].items() if r.get("summary")]
    if "paper" in result:
        p = result["paper"]
        result["configurations"].append({k: p.get(k) for k in ("config", "batch", "frames", "samples_per_s",
                                                               "peak_memory_gib", "gradient_checkpointing")})
    save()
    return result


def summarise(row: dict[str, Any]) -> dict[str, Any]:
    """The fastest setting of the project against the reference's fastest mode (and its eager one)."""
    runs = {k: v for k, v in row["project"].items() if "samples_per_s" in v}
    if not runs:
        return {}
    name, best = max(runs.items(), key=lambda kv: kv[1]["samples_per_s"])
    first = next(iter(runs.values()))
    out = {"setting": name, "samples_per_s": best["samples_per_s"], "step_ms_median": best["step_ms_median"],
           "step_ms_p90": best["step_ms_p90"], "gpu_busy_pct": best["gpu_busy_pct"],
           "peak_memory_gib": best["peak_memory_gib"],
           "speedup_vs_plain": round(best["samples_per_s"] / first["samples_per_s"], 2)}
    anchor = {m: v for m, v in row.get("anchor", {}).items() if isinstance(v, dict) and "samples_per_s" in v}
    if anchor:
        mode, ref = max(anchor.items(), key=lambda kv: kv[1]["samples_per_s"])
        out.update(anchor_samples_per_s=ref["samples_per_s"], anchor_mode=mode,
                   anchor_peak_memory_gib=ref.get("max_mem_GB"),
                   ratio=round(best["samples_per_s"] / ref["samples_per_s"], 3))
        if "bf16" in anchor:
            out["ratio_vs_anchor_eager"] = round(best["samples_per_s"] / anchor["bf16"]["samples_per_s"], 3)
    losses = [v["losses"] for v in runs.values()]
    n = min(len(x) for x in losses)
    if n:  # the same batches and seeds in every setting: the spread of each step's loss over the settings
        spread = [max(x[i] for x in losses) - min(x[i] for x in losses) for i in range(n)]
        out["loss_steps_compared"] = n
        out["loss_max_spread"] = round(max(spread), 4)
        out["loss_mean_first_last"] = [round(statistics.fmean(x[0] for x in losses), 4),
                                       round(statistics.fmean(x[n - 1] for x in losses), 4)]
    if "baseline" in row and "samples_per_s" in row["baseline"]:
        out["speedup_vs_baseline"] = round(best["samples_per_s"] / row["baseline"]["samples_per_s"], 2)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="anchor")
    parser.add_argument("--anchor", type=Path, default=None, help="The reference script (vlm_step.py).")
    parser.add_argument("--batches", default="32,128")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--anchor-eager-at", default="32", help="Batch sizes whose reference runs eager too.")
    parser.add_argument("--final-only-at", default="", help="Batch sizes that run the first and --final-only only.")
    parser.add_argument("--final-only", default="geometry_cache,compile")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--steps", type=int, default=20, help="At least this many timed steps ...")
    parser.add_argument("--seconds", type=float, default=3.0, help="... and at least this long.")
    parser.add_argument("--baseline-src", type=Path, default=None)
    parser.add_argument("--baseline-at", default="32", help="Batch sizes the --baseline-src step runs at.")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--paper", action="store_true")
    parser.add_argument("--paper-flops", action="store_true",
                        help="Count the paper step's FLOPs per QA at 4 and --paper-frames frames (CPU, meta device).")
    parser.add_argument("--paper-frames", type=int, default=8)
    parser.add_argument("--paper-steps", type=int, default=2, help="Timed steps of each paper trial (after 1).")
    parser.add_argument("--paper-trials", default="nogc:2,nogc:4,gc:8,gc:16,gc:32",
                        help="(gradient checkpointing, micro-batch) in order: nogc:B or gc:B.")
    parser.add_argument("--paper-budget-s", type=float, default=240.0)
    parser.add_argument("--budget-s", type=float, default=420.0, help="Settings after this are skipped.")
    parser.add_argument("--commit", default=None)
    parser.add_argument("--smoke", action="store_true", help="A few QA of the tiny shapes (the CPU test).")
    parser.add_argument("--data", default=None)
    parser.add_argument("--worker-baseline", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    if args.worker_baseline:
        _worker_baseline(args)
        return
    args.batches = [int(b) for b in args.batches.split(",") if b]
    args.variants = [v for v in args.variants.split(",") if v]
    args.final_only_at = [int(b) for b in args.final_only_at.split(",") if b]
    args.anchor_eager_at = [int(b) for b in args.anchor_eager_at.split(",") if b]
    args.baseline_at = [int(b) for b in args.baseline_at.split(",") if b]
    args.final_only = [v for v in args.final_only.split(",") if v in args.variants]
    result = run(args)
    print(json.dumps(result.get("configurations"), indent=1))


if __name__ == "__main__":
    with contextlib.suppress(BrokenPipeError):
        main()
