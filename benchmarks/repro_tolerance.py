"""How far repeated training + evaluation runs of one commit's data drift apart, per device (JSON).

    python benchmarks/repro_tolerance.py --qa QA.parquet --images ROOT --devices cuda,cuda,cpu
        [--config tiny] [--out result.json]

Each run trains the config from scratch (same seed, same data) with ``mosaic_model.train`` on its
device (bf16 autocast on CUDA, fp32 on the CPU) and scores the checkpoint on ``model.eval_split``
with ``mosaic_model.evaluate``. For every pair of runs: the largest |difference| of any score or CI
bound (points, as ``mosaic reproduce`` compares them), how many scores differ, and how many greedy
answers differ. This measures the ``repro.score_tolerance`` a GPU reproduction needs.
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from itertools import combinations
from pathlib import Path
from typing import Any

from mosaic_model.config import load_run_config
from mosaic_model.evaluate import evaluate
from mosaic_model.train import train
from mosaic_pipeline.params import load_params
from mosaic_pipeline.repro.scores import compare_scores


def run_once(config: str, qa: Path, images: Path, work: Path, device: str) -> dict[str, Any]:
    params = load_params()
    t0 = time.perf_counter()
    trained = train(load_run_config(config), qa, images, work / "run", params, device=device)
    result = evaluate(trained.checkpoint, qa, images, work / "eval", params.model.eval_split, params, device=device)
    answers = [json.loads(line)["prediction"] for line in result.predictions.read_text().splitlines()]
    seconds = round(time.perf_counter() - t0, 1)
    return {"device": device, "seconds": seconds, "overall": result.table["overall"]["score"],
            "final_loss": trained.history[-1].loss, "table": result.table, "answers": answers}


def compare(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    diffs = [d for d in compare_scores(a["table"], b["table"], 0.0) if d.delta is not None]
    return {"runs": f"{a['device']} vs {b['device']}", "scores_differing": len(diffs),
            "max_abs_score_delta": max((abs(d.delta) for d in diffs), default=0.0),
            "answers_differing": sum(x != y for x, y in zip(a["answers"], b["answers"])), "answers": len(a["answers"])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--qa", type=Path, required=True)
    parser.add_argument("--images", type=Path, required=True)
    parser.add_argument("--devices", default="cuda,cuda,cpu", help="One run per entry, in this order.")
    parser.add_argument("--config", default="tiny")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    runs = []
    for i, device in enumerate(args.devices.split(",")):
        with tempfile.TemporaryDirectory(prefix=f"repro-tolerance-{i}-") as work:
            runs.append(run_once(args.config, args.qa, args.images, Path(work), device))
        print(f"run {i} on {device}: overall {runs[-1]['overall']} in {runs[-1]['seconds']} s", flush=True)
        if args.out:  # after every run: a cut-off keeps the pairs measured so far
            args.out.write_text(json.dumps(report(args.config, runs), indent=2))
    print(json.dumps(report(args.config, runs), indent=2))


def report(config: str, runs: list[dict[str, Any]]) -> dict[str, Any]:
    summaries = [{k: v for k, v in r.items() if k not in ("table", "answers")} for r in runs]
    return {"config": config, "runs": summaries, "pairs": [compare(a, b) for a, b in combinations(runs, 2)]}


if __name__ == "__main__":
    main()
