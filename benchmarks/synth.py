"""Synthetic scene generation speed: the default scene (baseline) and the BIG benchmark scene, measured in
the same run (JSON on stdout).

    python benchmarks/synth.py [--seed 0] [--index 0] [--out result.json]

Both scenes are written under a temporary release root that is removed afterwards. Reported per scene:
wall and process-CPU seconds of ``generate_scene`` (Open3D may use several threads, so CPU can exceed
wall), faces, instances, frames and the image size. The BIG scene is ``params.yaml`` ``synthetic``
overridden by ``synthetic_benchmark`` (``mosaic_pipeline.synth.benchmark_params``).
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from mosaic_pipeline.params import SyntheticParams, load_params
from mosaic_pipeline.scene.layout import IPHONE_IMAGES, MESH, SEGMENTS_ANNO
from mosaic_pipeline.synth import benchmark_params, generate_scene

from bench_io import emit


def _ply_faces(path: Path) -> int:
    with path.open("rb") as f:
        for line in f:
            if line.startswith(b"element face"):
                return int(line.split()[-1])
    raise ValueError(f"{path}: no face element")


def measure(root: Path, name: str, seed: int, index: int, params: SyntheticParams) -> dict:
    c0, w0 = time.process_time(), time.perf_counter()
    scene = generate_scene(root, f"synth_{name}", seed=seed, index=index, params=params)
    cpu, wall = time.process_time() - c0, time.perf_counter() - w0
    groups = json.loads((scene / SEGMENTS_ANNO).read_text())["segGroups"]
    n_frames = sum(1 for line in (scene / IPHONE_IMAGES).read_text().splitlines() if ".jpg" in line)
    return {"wall_seconds": round(wall, 2), "cpu_seconds": round(cpu, 2), "faces": _ply_faces(scene / MESH),
            "instances": len(groups), "frames": n_frames, "image_size": [params.image_width, params.image_height],
            "mesh_subdivisions": params.mesh_subdivisions}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--index", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    params = load_params()
    with tempfile.TemporaryDirectory(prefix="synth-bench-") as tmp:
        result = {"seed": args.seed, "index": args.index,
                  "default": measure(Path(tmp), "default", args.seed, args.index, params.synthetic),
                  "benchmark": measure(Path(tmp), "benchmark", args.seed, args.index, benchmark_params(params))}
    emit(result, args.out)


if __name__ == "__main__":
    main()
