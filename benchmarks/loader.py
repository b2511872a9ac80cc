"""Latency of the training DataLoader alone (frame cache + Collate), in-process against worker processes (JSON).

    python benchmarks/loader.py --qa QA.parquet --images ROOT [--config small] [--workers 0 2 4]
        [--batches 60] [--out result.json]

Why: on the H100 the training step of the pipeline (4 loader workers, pinned memory) had stalls of
0.6-1 s in a tenth of its steps, which the in-process naive loop had not (results/README.md). The frames
come from the FrameCache, so a batch costs a few milliseconds to collate; this measures what the worker
processes add on top of it: every Batch crosses a process boundary as shared-memory tensors, one per
token sequence and one per frame size. No model, no GPU: it runs anywhere.

Reported per setting: median, p90 and max wall ms to fetch the next batch (after the first, which
pays the workers' start) and batches/s; the in-process setting (``--workers 0``) is the baseline.
"""
from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader, RandomSampler
from train_throughput import training_set  # this folder: the script's own (sys.path[0])

from mosaic_model.config import load_run_config
from mosaic_model.data import Collate, FrameCache, QADataset
from mosaic_pipeline import paths
from mosaic_pipeline.params import load_params

from bench_io import emit


def fetch_times(dataset: QADataset, collate: Collate, batch_size: int, workers: int, batches: int,
                seed: int) -> list[float]:
    sampler = RandomSampler(dataset, replacement=True, num_samples=batch_size * (batches + 1),
                            generator=torch.Generator().manual_seed(seed))
    loader = DataLoader(dataset, batch_size=batch_size, sampler=sampler, num_workers=workers, collate_fn=collate)
    batches_iter = iter(loader)
    next(batches_iter)  # workers start
    times = []
    for _ in range(batches):
        began = time.perf_counter()
        next(batches_iter)
        times.append(time.perf_counter() - began)
    return times


def summary(times: list[float]) -> dict[str, float]:
    return {"median_ms": round(statistics.median(times) * 1000, 2),
            "p90_ms": round(statistics.quantiles(times, n=10)[-1] * 1000, 2),
            "max_ms": round(max(times) * 1000, 2),
            "batches_per_s": round(len(times) / sum(times), 1)}


def run(qa: Path, images: Path, config: str, workers: list[int], batches: int) -> dict[str, Any]:
    params, cfg = load_params(), load_run_config(config)
    _, dataset, sizes = training_set(qa, images, cfg)
    cache = FrameCache.build(paths.frame_cache(params), dataset.frame_paths(), sizes)
    collate = Collate(cache, sizes)
    settings = {f"workers_{n}": summary(fetch_times(dataset, collate, cfg.train.batch_size, n, batches, cfg.train.seed))
                for n in workers}
    baseline = settings.get("workers_0")
    return {"config": config, "batch_size": cfg.train.batch_size, "frame_sizes": list(sizes), "batches": batches,
            "cpu_count": os.cpu_count(), "load_average": [round(x, 2) for x in os.getloadavg()],
            "settings": settings,
            "median_vs_in_process": ({k: round(v["median_ms"] / baseline["median_ms"], 2) for k, v in settings.items()}
                                     if baseline else None)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--qa", type=Path, required=True)
    parser.add_argument("--images", type=Path, required=True)
    parser.add_argument("--config", default="small")
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 2, 4])
    parser.add_argument("--batches", type=int, default=60)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    emit(run(args.qa, args.images, args.config, args.workers, args.batches), args.out)


if __name__ == "__main__":
    main()
