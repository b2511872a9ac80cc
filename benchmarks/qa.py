"""QA generation speed from a ready visibility table: QA per second per core (JSON on stdout).

    python benchmarks/qa.py SCENE_DIR VISIBILITY VIEWS [--params P] [--baseline-tree DIR] [--repeats 3] [--out F]

VISIBILITY and VIEWS are the scene's visibility table and view samples (the assets' files, or what
``mosaic qa --out`` leaves). The timed part is ``generate_scene_qa`` alone (tables already in memory),
measured in process CPU seconds of this single-threaded run, so QA / CPU second is the rate of one core.
With ``--baseline-tree`` (a checkout of another commit) the same measurement runs on that code in a
child process first; the JSON holds both, the speed-up and whether both generated the same table
(sha256 of its Parquet bytes). The projection to the paper's scale (3M QA over 849 scenes on 16 cores)
assumes the rate holds when the per-scene caps are raised to reach the paper's ~3.5k QA per scene.
"""
from __future__ import annotations

import argparse
import hashlib
import io
import statistics
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq

from mosaic_pipeline.params import load_params
from mosaic_pipeline.qa.generate import generate_scene_qa
from mosaic_pipeline.qa.records import to_table
from mosaic_pipeline.scene.scannetpp import load_scene
from mosaic_pipeline.visibility.table import read_visibility
from mosaic_pipeline.visibility.views import read_views

from bench_io import emit, run_baseline

PAPER_QA, PAPER_SCENES, PAPER_CORES = 3_000_000, 849, 16


def measure(scene_dir: Path, visibility_file: Path, views_file: Path, params_file: Path | None,
            repeats: int) -> dict:
    params = load_params(params_file)
    scene = load_scene(scene_dir, extract_frames=False)
    visibility = read_visibility(visibility_file)
    views = read_views(views_file)
    cpu, wall, n_qa = [], [], 0
    for _ in range(repeats):
        c0, w0 = time.process_time(), time.perf_counter()
        rows = generate_scene_qa(scene, visibility, views, params)
        cpu.append(time.process_time() - c0)
        wall.append(time.perf_counter() - w0)
        n_qa = len(rows)
    buffer = io.BytesIO()
    pq.write_table(to_table(rows), buffer)
    rate = n_qa / statistics.median(cpu)
    return {
        "scene_id": scene.scene_id, "instances": len(scene.instances), "frames": len(scene.frames),
        "visibility_rows": len(visibility), "view_samples": len(views), "qa_per_scene": n_qa,
        "max_per_scene_task": params.qa.max_per_scene_task, "repeats": repeats,
        "cpu_seconds_median": statistics.median(cpu), "wall_seconds_median": statistics.median(wall),
        "qa_per_second_per_core": rate, "table_sha256": hashlib.sha256(buffer.getvalue()).hexdigest(),
        "projection_paper": {
            "qa": PAPER_QA, "scenes": PAPER_SCENES, "cores": PAPER_CORES,
            "hours": PAPER_QA / (rate * PAPER_CORES) / 3600,
        },
    }


def baseline(tree: Path, args: argparse.Namespace) -> dict:
    """The same measurement on the code of ``tree`` (a child process importing that checkout first)."""
    argv = [str(args.scene_dir), str(args.visibility), str(args.views), "--repeats", str(args.repeats)]
    return run_baseline(tree, __file__, argv + (["--params", str(args.params)] if args.params else []))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scene_dir", type=Path)
    parser.add_argument("visibility", type=Path)
    parser.add_argument("views", type=Path)
    parser.add_argument("--params", type=Path, default=None, help="Parameter file (default: params.yaml).")
    parser.add_argument("--baseline-tree", type=Path, default=None)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    result = {"command": " ".join(sys.argv)}
    if args.baseline_tree:
        result["baseline"] = baseline(args.baseline_tree, args)
    result["this_tree"] = measure(args.scene_dir, args.visibility, args.views, args.params, args.repeats)
    if args.baseline_tree:
        mine, base = result["this_tree"], result["baseline"]
        result["speedup_cpu"] = base["cpu_seconds_median"] / mine["cpu_seconds_median"]
        result["same_table"] = base["table_sha256"] == mine["table_sha256"]
    emit(result, args.out)


if __name__ == "__main__":
    main()
