"""Data-parallel scaling of training: samples/s with 1..N processes on one config, as JSON on stdout.

    python benchmarks/ddp_scaling.py --qa QA.parquet --images IMAGE_ROOT [--config small]
        [--max-processes N] [--steps 20] [--warmup 3] [--accumulation 1] [--device auto] [--out result.json]

Each point is one ``torchrun --standalone --nproc-per-node n`` launch of this file's worker, which
trains ``warmup + steps`` optimizer steps of the config through ``mosaic_model.train.train`` (the code
``mosaic train`` runs). Weak scaling: every process runs the same work per step (``accumulation``
micro-batches of the config's ``batch_size``), so the global batch is batch_size x n x accumulation.
samples/s(n) = QA of the timed steps / their summed step time (each step's time includes its gradient
all-reduce); efficiency(n) = samples/s(n) / (n x samples/s(1)).

N defaults to torch.cuda.device_count() on GPUs (nccl, one GPU per process) and to 2 on the CPU
(gloo, one thread per process: a smoke run, not a measurement). NCCL_NVLS_ENABLE=0 keeps NVLink
multicast off, as the device machines require.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

from mosaic_model.config import load_run_config
from mosaic_model.train import select_device, train
from mosaic_pipeline.params import load_params

from bench_io import emit

CPU_PROCESSES = 2  # the CPU smoke run
THREADS_PER_CPU_PROCESS = 1  # n CPU processes use n cores
NCCL_ENV = {"NCCL_NVLS_ENABLE": "0"}  # NVLink multicast off (device README)
WORKER = "worker"
LAUNCH_TIMEOUT_S = 1800.0


def run_worker(args: argparse.Namespace) -> None:
    """One process of a torchrun launch: train (one checkpoint, at the end), then rank 0 writes its point."""
    steps = args.warmup + args.steps
    cfg = load_run_config(args.config, {"train": {"max_steps": steps, "save_every": steps,
                                                  "global_batch_size": args.global_batch_size}})
    result = train(cfg, args.qa, args.images, args.run_dir, load_params(), device=args.device)
    if result.world.is_main:
        timed = result.history[args.warmup:]
        qa = cfg.train.global_batch_size
        step_time = sum(qa / h.samples_per_s for h in timed)
        args.out.write_text(json.dumps({"processes": result.world.size, "global_batch_size": qa,
                                        "samples_per_s": len(timed) * qa / step_time}))


def _launch(args: argparse.Namespace, processes: int, global_batch_size: int, tmp: Path) -> dict:
    """One torchrun launch of ``processes`` workers (a fresh run folder each); its point."""
    out = tmp / f"n{processes}.json"
    env = {**os.environ, **NCCL_ENV}
    if select_device(args.device).type == "cpu":
        env["OMP_NUM_THREADS"] = str(THREADS_PER_CPU_PROCESS)
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={processes}",
               __file__, WORKER, "--qa", str(args.qa), "--images", str(args.images), "--config", args.config,
               "--steps", str(args.steps), "--warmup", str(args.warmup), "--device", args.device,
               "--global-batch-size", str(global_batch_size), "--run-dir", str(tmp / f"run{processes}"),
               "--out", str(out)]
    subprocess.run(command, env=env, check=True, timeout=args.timeout)
    return json.loads(out.read_text())


def measure(args: argparse.Namespace) -> dict:
    device = select_device(args.device)
    n_max = args.max_processes or (torch.cuda.device_count() if device.type == "cuda" else CPU_PROCESSES)
    batch_size = load_run_config(args.config).train.batch_size
    with tempfile.TemporaryDirectory() as tmp:
        points = [_launch(args, n, batch_size * n * args.accumulation, Path(tmp)) for n in range(1, n_max + 1)]
    base = points[0]["samples_per_s"]
    for p in points:
        p["efficiency"] = p["samples_per_s"] / (p["processes"] * base)
    return {"config": args.config, "device": device.type,
            "device_name": torch.cuda.get_device_name(0) if device.type == "cuda" else platform.machine(),
            "batch_size": batch_size, "accumulation": args.accumulation, "steps": args.steps, "warmup": args.warmup,
            "env": NCCL_ENV, "points": points}


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--qa", type=Path, required=True, help="QA dataset parquet (its train split is used).")
    parser.add_argument("--images", type=Path, required=True, help="Root holding {data_source}/<scene>/images.")
    parser.add_argument("--config", default="tiny", help="Model config: tiny | small | paper | a YAML path.")
    parser.add_argument("--steps", type=int, default=20, help="Timed optimizer steps per point.")
    parser.add_argument("--warmup", type=int, default=3, help="Untimed first steps per point.")
    parser.add_argument("--device", default="auto", help="auto (CUDA when available) | cpu | cuda.")


def main() -> None:
    if sys.argv[1:2] == [WORKER]:
        worker = argparse.ArgumentParser()
        _common(worker)
        worker.add_argument("--global-batch-size", type=int, required=True)
        worker.add_argument("--run-dir", type=Path, required=True)
        worker.add_argument("--out", type=Path, required=True)
        run_worker(worker.parse_args(sys.argv[2:]))
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    _common(parser)
    parser.add_argument("--max-processes", type=int, default=None, help="N; default: GPUs, or 2 on the CPU.")
    parser.add_argument("--accumulation", type=int, default=1, help="Micro-batches per process and step.")
    parser.add_argument("--timeout", type=float, default=LAUNCH_TIMEOUT_S, help="Seconds one launch may take.")
    parser.add_argument("--out", type=Path, default=None, help="Also write the JSON here.")
    args = parser.parse_args()
    emit(measure(args), args.out)


if __name__ == "__main__":
    main()
