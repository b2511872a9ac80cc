"""Visibility + views on default scenes: this tree against a baseline checkout, alternating scene by scene in
ONE run, each in a fresh process (JSON on stdout and in --out).

    git worktree add /tmp/base <baseline commit>
    nice python benchmarks/labels_default.py PARAMS_YAML --baseline-tree /tmp/base [--baseline-params YAML]
        [--scenes 6] [--out FILE]

PARAMS_YAML names the scenes (its catalog under ``paths.artifacts``, e.g. a copy of the default data's
params pointing at the same scenes) and is this tree's parameters; ``--baseline-params`` (default: the
same file) the baseline's, for keys the baseline does not know. Per scene
and tree, a child process loads the scene and times what the ``visibility`` and ``view_samples``
assets compute (files not written): the baseline's visibility table, then its overlap (which casts
every frame again) and samples; this tree's table with the frames' voxel sets from the same cast,
then its samples from them. Reported: wall and process-CPU seconds of each, their sums and the
ratio, whether the view samples are identical, and rows whose visibility columns differ.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = r'''
import inspect, json, sys, time
from mosaic_pipeline.params import load_params
from mosaic_pipeline.scene.scannetpp import load_scene
from mosaic_pipeline.visibility import table as T, views as V
from mosaic_pipeline.visibility.overlap import compute_overlap

from bench_io import emit

params = load_params(sys.argv[1])
vp = params.visibility
scene = load_scene(sys.argv[2], params=params.scannetpp)
t0, c0 = time.perf_counter(), time.process_time()
if "voxel_size" in inspect.signature(T.compute_visibility).parameters:
    result = T.compute_visibility(scene, vp, voxel_size=params.views.voxel_size)
    samples = V.scene_views(scene.scene_id, result.table, result.voxels, params.views, vp.overlap_level_edges).samples
else:
    result = T.compute_visibility(scene, vp)
    overlap = compute_overlap(scene, vp.long_side, vp.near_plane, params.views.voxel_size)
    samples = V.sample_views(scene.scene_id, overlap, V.eligible_frames(result.table, overlap.frame_ids),
                             params.views, vp.overlap_level_edges)
wall, cpu = time.perf_counter() - t0, time.process_time() - c0
T.write_visibility(result.table, sys.argv[3] + ".vis.parquet")
V.write_views(samples, sys.argv[3] + ".views.parquet")
print(json.dumps({"wall_seconds": round(wall, 2), "cpu_seconds": round(cpu, 2), "frames": len(scene.frames)}))
'''


def child(tree: Path, params: Path, scene_dir: str, out: str) -> dict:
    """One scene in a fresh interpreter that imports the project from ``tree`` alone (-P: not from the cwd)."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    done = subprocess.run([sys.executable, "-P", "-c", CHILD, str(params), scene_dir, out], env=env,
                          capture_output=True, text=True, cwd=Path(out).parent)
    if done.returncode:
        raise RuntimeError(f"{tree} on {scene_dir}:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _same(x: object, y: object) -> bool:
    """Equal cell values: NaN equals NaN, lists compare by value, None only equals None."""
    if x is None or y is None:
        return x is None and y is None
    if isinstance(x, float) and isinstance(y, float):
        return x == y or (x != x and y != y)
    if hasattr(x, "__len__") and not isinstance(x, str):
        return len(x) == len(y) and all(_same(float(a), float(b)) for a, b in zip(x, y))
    return x == y


def compare(base: str, mine: str) -> dict:
    import pandas as pd

    a, b = pd.read_parquet(base + ".vis.parquet"), pd.read_parquet(mine + ".vis.parquet")
    same_rows = a[["frame_id", "instance_id"]].equals(b[["frame_id", "instance_id"]])
    differing = {}
    if same_rows:
        for col in a.columns:
            n = sum(not _same(x, y) for x, y in zip(a[col].tolist(), b[col].tolist()))
            if n:
                differing[col] = n
    views_same = Path(base + ".views.parquet").read_bytes() == Path(mine + ".views.parquet").read_bytes()
    return {"same_rows": bool(same_rows), "rows": len(b), "columns_differing_rows": differing,
            "view_samples_identical": views_same}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("params", type=Path)
    parser.add_argument("--baseline-tree", type=Path, required=True)
    parser.add_argument("--baseline-params", type=Path, default=None)
    parser.add_argument("--scenes", type=int, default=6)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    from mosaic_pipeline.params import load_params

    catalog = json.loads((load_params(args.params).artifacts / "catalog.json").read_text())[:args.scenes]
    here = Path(__file__).resolve().parent.parent
    rows = []
    load_before = [round(x, 2) for x in os.getloadavg()]
    with tempfile.TemporaryDirectory(prefix="labels-default-") as tmp:
        for entry in catalog:
            base, mine = f"{tmp}/{entry['scene_id']}.base", f"{tmp}/{entry['scene_id']}.mine"
            row = {"scene_id": entry["scene_id"], "baseline": child(args.baseline_tree, args.baseline_params or args.params,
                                                                   entry["scene_dir"], base),
                   "this_tree": child(here, args.params, entry["scene_dir"], mine)}
            rows.append({**row, **compare(base, mine)})
    total = {k: {w: round(sum(r[k][w] for r in rows), 2) for w in ("wall_seconds", "cpu_seconds")}
             for k in ("baseline", "this_tree")}
    result = {"machine": {"cpus": os.cpu_count(), "load_average_before": load_before,
                          "load_average_after": [round(x, 2) for x in os.getloadavg()]},
              "scenes": rows, "total": total,
              "ratio_cpu": round(total["this_tree"]["cpu_seconds"] / total["baseline"]["cpu_seconds"], 3),
              "ratio_wall": round(total["this_tree"]["wall_seconds"] / total["baseline"]["wall_seconds"], 3)}
    emit(result, args.out)


if __name__ == "__main__":
    main()
