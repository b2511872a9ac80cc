"""Training-step throughput of SpatialMosaicVLM on the GPU: the pipeline's setting against a naive one (JSON).

    python benchmarks/train_throughput.py --qa QA.parquet --images ROOT [--config small] [--steps 60]
        [--warmup 10] [--workers 4] [--out result.json]

- pipeline: what ``mosaic_model.train`` runs for the config: bf16 autocast, frames decoded once into the
  FrameCache, the config's DataLoader (``train.num_workers``, ``train.pin_memory``; for ``small`` the
  batches are collated in the training process, unpinned);
- workers_pinned: the same with ``--workers`` loader processes and pinned memory (the loader before
  the H100 measurement of results/README.md, which had step stalls of 0.5-1.5 s);
- workers: ``--workers`` loader processes without pinning (tells the two causes of those stalls apart:
  the pinning thread, or the batches crossing from the workers);
- naive: fp32, every frame decoded from its JPEG and resized in the main process at every step.

All run in one process on the same data, model initialisation and batch order, through the same
``Trainer.step``. Reported per setting: samples/s over the timed steps (after warm-up; the step
ends with ``loss.item()``, so it is synchronised), the median step time, the GPU utilisation
sampled by NVML (``torch.cuda.utilization``) every 50 ms during the timed steps, and peak memory.
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import Tensor
from torch.utils.data import DataLoader, RandomSampler
from train_step import Utilisation  # this folder: the script's own (sys.path[0])

from mosaic_model.config import RunConfig, load_run_config
from mosaic_model.data import Collate, FrameCache, QADataset, _resize, read_qa, training_texts
from mosaic_model.distributed import World
from mosaic_model.modeling import SpatialMosaicVLM
from mosaic_model.tokenizer import build_tokenizer
from mosaic_model.train import Trainer
from mosaic_pipeline import paths
from mosaic_pipeline.params import load_params

from bench_io import emit


class DiskFrames:
    """The FrameCache interface, decoding and resizing every frame from its JPEG on every call."""

    def frames(self, size: int, paths: list[Path]) -> Tensor:
        out = []
        for path in paths:
            with Image.open(path) as im:
                out.append(_resize(im.convert("RGB"), size))
        return torch.from_numpy(np.stack(out))


def measure(cfg: RunConfig, dataset: QADataset, frames: Any, num_workers: int, pin_memory: bool, tokenizer: Any,
            steps: int, warmup: int) -> dict[str, Any]:
    device = torch.device("cuda")
    torch.manual_seed(cfg.train.seed)
    model = SpatialMosaicVLM(cfg.model, tokenizer).to(device)
    trainer = Trainer(cfg, model, tokenizer, World.single(device), Path(tempfile.mkdtemp()))
    per_step = cfg.train.batch_size * trainer.shard.accumulation  # samples of one optimizer step
    sampler = RandomSampler(dataset, replacement=True, num_samples=per_step * (steps + warmup),
                            generator=torch.Generator().manual_seed(cfg.train.seed))
    loader = DataLoader(dataset, batch_size=cfg.train.batch_size, sampler=sampler, num_workers=num_workers,
                        collate_fn=Collate(frames, model.image_sizes), pin_memory=pin_memory)
    batches = iter(loader)
    for step in range(warmup):
        trainer.step(step, batches)
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    step_s = []
    with Utilisation(device) as util:
        began = time.perf_counter()
        for step in range(steps):
            t0 = time.perf_counter()
            trainer.step(warmup + step, batches)
            step_s.append(time.perf_counter() - t0)
        elapsed = time.perf_counter() - began
    return {"samples_per_s": round(steps * per_step / elapsed, 2), "samples_per_step": per_step,
            "step_ms_median": round(statistics.median(step_s) * 1000, 2),
            "step_ms_p90": round(statistics.quantiles(step_s, n=10)[-1] * 1000, 2),
            "step_ms_max": round(max(step_s) * 1000, 2),
            "gpu_util_mean_pct": round(statistics.fmean(util.samples), 1) if util.samples else None,
            "gpu_util_samples": len(util.samples),
            "peak_mem_gb": round(torch.cuda.max_memory_allocated() / 1e9, 2),
            "bf16": cfg.train.bf16, "num_workers": num_workers, "pin_memory": pin_memory}


def training_set(qa: Path, images: Path, cfg: RunConfig) -> tuple[Any, QADataset, tuple[int, ...]]:
    """What ``mosaic_model.train`` reads for ``cfg``: the tokenizer, the training dataset and the frame sizes
    the model reads (also used by ``benchmarks/loader.py``)."""
    items = read_qa(qa, cfg.train.split)
    tokenizer = build_tokenizer(cfg.model.tokenizer, training_texts(items, cfg.model.chat_template))
    dataset = QADataset(items, tokenizer, cfg.model.chat_template, images, with_answers=True)
    return tokenizer, dataset, SpatialMosaicVLM(cfg.model, tokenizer).image_sizes


def run(qa: Path, images: Path, config: str, steps: int, warmup: int, workers: int) -> dict[str, Any]:
    params = load_params()
    base = load_run_config(config)
    tokenizer, dataset, sizes = training_set(qa, images, base)
    t0 = time.perf_counter()
    cache = FrameCache.build(paths.frame_cache(params), dataset.frame_paths(), sizes)
    cache_s = time.perf_counter() - t0
    naive_cfg = load_run_config(config, {"train": {"bf16": False}})
    t = base.train
    results = {"pipeline": measure(base, dataset, cache, t.num_workers, t.pin_memory, tokenizer, steps, warmup),
               "workers_pinned": measure(base, dataset, cache, workers, True, tokenizer, steps, warmup),
               "workers": measure(base, dataset, cache, workers, False, tokenizer, steps, warmup),
               "naive": measure(naive_cfg, dataset, DiskFrames(), 0, False, tokenizer, steps, warmup)}
    return {"device": torch.cuda.get_device_name(), "torch": torch.__version__, "config": config,
            "micro_batch_size": base.train.batch_size, "timed_steps": steps, "warmup_steps": warmup,
            "n_frames_cached": len(set(dataset.frame_paths())), "frame_cache_build_s": round(cache_s, 2),
            **results,
            "speedup_vs_naive": {name: round(r["samples_per_s"] / results["naive"]["samples_per_s"], 2)
                                 for name, r in results.items() if name != "naive"}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--qa", type=Path, required=True)
    parser.add_argument("--images", type=Path, required=True)
    parser.add_argument("--config", default="small")
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--workers", type=int, default=4, help="Loader processes of the worker settings.")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    result = run(args.qa, args.images, args.config, args.steps, args.warmup, args.workers)
    emit(result, args.out)


if __name__ == "__main__":
    main()
