"""QA generation speed from a ready visibility table: QA per second per core (JSON on stdout).

    python benchmarks/qa.py SCENE_DIR INPUT_DIR [--repeats 3] [--out result.json]

INPUT_DIR holds ``visibility.parquet`` and ``views.parquet`` of the scene (as ``mosaic qa --out``
leaves them). The timed part is ``generate_scene_qa`` alone (tables already in memory), measured in
process CPU seconds of this single-threaded run, so QA / CPU second is the rate of one core. The
projection to the paper's scale (3M QA over 849 scenes on 16 cores) assumes that rate holds when the
per-scene caps are raised to reach the paper's ~3.5k QA per scene.
"""
from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from mosaic_pipeline.params import load_params
from mosaic_pipeline.qa.generate import generate_scene_qa
from mosaic_pipeline.scene.scannetpp import load_scene
from mosaic_pipeline.visibility.table import read_visibility
from mosaic_pipeline.visibility.views import read_views

PAPER_QA, PAPER_SCENES, PAPER_CORES = 3_000_000, 849, 16


def measure(scene_dir: Path, input_dir: Path, repeats: int) -> dict:
    params = load_params()
    scene = load_scene(scene_dir)
    visibility = read_visibility(input_dir / "visibility.parquet")
    views = read_views(input_dir / "views.parquet")
    cpu, wall, n_qa = [], [], 0
    for _ in range(repeats):
        c0, w0 = time.process_time(), time.perf_counter()
        n_qa = len(generate_scene_qa(scene, visibility, views, params))
        cpu.append(time.process_time() - c0)
        wall.append(time.perf_counter() - w0)
    rate = n_qa / statistics.median(cpu)
    return {
        "scene_id": scene.scene_id, "instances": len(scene.instances), "frames": len(scene.frames),
        "visibility_rows": len(visibility), "view_samples": len(views), "qa_per_scene": n_qa,
        "max_per_scene_task": params.qa.max_per_scene_task, "repeats": repeats,
        "cpu_seconds_median": statistics.median(cpu), "wall_seconds_median": statistics.median(wall),
        "qa_per_second_per_core": rate,
        "projection_paper": {
            "qa": PAPER_QA, "scenes": PAPER_SCENES, "cores": PAPER_CORES,
            "hours": PAPER_QA / (rate * PAPER_CORES) / 3600,
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scene_dir", type=Path)
    parser.add_argument("input_dir", type=Path)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    text = json.dumps(measure(args.scene_dir, args.input_dir, args.repeats), indent=2, sort_keys=True)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
