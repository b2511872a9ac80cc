"""Visibility engine speed against a naive per-instance baseline, in ONE run on the same BIG synthetic scene
(JSON on stdout).

    python benchmarks/visibility.py [--seed 0] [--index 0] [--naive-frames 6] [--out result.json]

The scene is ``params.yaml`` ``synthetic`` overridden by ``synthetic_benchmark`` (>= 200k faces, >= 80
instances, >= 100 frames), generated under a temporary release root that is removed afterwards, and
rendered at ``visibility.long_side``. Open3D uses every core of the machine.

- engine: ``visibility.SceneVisibility.frame`` on every frame (one whole-mesh cast; coverage rays only
  where first hits leave a pixel undecided; the extended plane by block sampling).
- naive: each instance rendered separately by brute force, on ``--naive-frames`` frames spread over the
  path: per instance, a whole-mesh render of the full image (its visible pixels) and a render of the
  instance alone over every pixel of its projected extent (unoccluded and full, with the same
  extended-plane blocks as the engine). Its rows are compared with the engine's on those frames.

Reported: median and mean wall seconds per frame, median process-CPU seconds per frame (all threads;
the machine is shared, so wall time also shows other processes' load, given as the load average),
(frame x instance) rows per second of both, the speedup (rows/s ratio, and seconds-per-frame ratio on
the naive frames), and setup seconds (scene build).
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from mosaic_pipeline.params import load_params
from mosaic_pipeline.scene.scannetpp import load_scene
from mosaic_pipeline.synth import benchmark_params, generate_scene
from mosaic_pipeline.visibility.coverage import (
    FrameCast,
    frame_coverage,
    meets_image,
    pixel_boxes,
    plan_rays,
    projected_extents,
)
from mosaic_pipeline.visibility.table import SceneVisibility, rows_table

from bench_io import emit


def engine_frame(engine: SceneVisibility, frame) -> pd.DataFrame:
    """The engine's rows of one frame, as a table."""
    return rows_table(engine.scene, engine.params, [engine.frame(frame).rows]).to_pandas()


def naive_frame(engine: SceneVisibility, frame) -> pd.DataFrame:
    """(instance_id, visible_px, unoccluded_px, full_px) of one frame, each instance rendered on its own."""
    p, caster = engine.params, engine.caster
    cam = frame.camera.scaled_to_long_side(p.long_side)
    K = len(engine.ids)
    # no first hits: every pixel of an instance's box is undecided (depth 0 <= any depth), none seen
    blank = FrameCast(cam, frame.world_to_cam, p.near_plane, np.full((cam.height, cam.width), K, np.int32),
                      np.zeros((cam.height, cam.width), np.float32))
    extents = projected_extents(caster.instances, engine.extreme, cam, frame.world_to_cam, p.near_plane)
    boxes, nonempty = pixel_boxes(extents.uv)
    budget = np.where(meets_image(boxes, cam.width, cam.height), p.full_px_max_outside_rays,
                      p.full_px_max_offscreen_rays or p.full_px_max_outside_rays)  # the engine's estimator
    rows = []
    for k in np.flatnonzero(engine.annotated):
        iid = int(engine.ids[k])
        hits = caster.first_hits(cam, frame.world_to_cam, p.near_plane)  # the whole scene, again for this instance
        visible = int((caster.face_instance[hits.face[hits.hit]] == iid).sum())
        if not nonempty[k]:
            continue
        plan = plan_rays(np.array([k]), boxes, np.full(K, np.inf), budget, blank, np.zeros(K, np.int64),
                         np.full((K, 4), np.nan))
        cov = frame_coverage(caster, blank, [iid], plan)
        if cov.full_px[0] > 0:
            rows.append((iid, visible, int(cov.unoccluded_px[0]), int(cov.full_px[0])))
    return pd.DataFrame(rows, columns=["instance_id", "visible_px", "unoccluded_px", "full_px"])


def compare(engine: pd.DataFrame, naive: pd.DataFrame) -> dict:
    """Row sets and the largest differences between the two methods on the same frames. (Both are exact
    renders; a pixel whose ray grazes a shared triangle edge may count in one BVH and not the other.)"""
    m = engine.merge(naive, on=["frame", "instance_id"], how="outer", suffixes=("", "_naive"), indicator=True)
    both = m[m["_merge"] == "both"]
    out = {"rows_only_in_one": int((m["_merge"] != "both").sum())}
    for col in ("visible_px", "unoccluded_px", "full_px"):
        out[f"max_abs_diff_{col}"] = int((both[col] - both[f"{col}_naive"]).abs().max())
    with np.errstate(divide="ignore", invalid="ignore"):
        naive_occ = 1 - both.visible_px_naive / both.unoccluded_px_naive
        naive_fov = 1 - both.unoccluded_px_naive / both.full_px_naive
    out["max_abs_diff_occlusion_ratio"] = round(float((both.occlusion_ratio - naive_occ).abs().max()), 6)
    out["max_abs_diff_fov_ratio"] = round(float((both.fov_ratio - naive_fov).abs().max()), 6)
    return out


def timed(fn, *args):
    """fn(*args), its wall seconds and its process-CPU seconds (all threads)."""
    t0, c0 = time.perf_counter(), time.process_time()
    out = fn(*args)
    return out, time.perf_counter() - t0, time.process_time() - c0


def _stats(wall: list[float], cpu: list[float]) -> dict:
    return {"median_seconds_per_frame": round(float(np.median(wall)), 4),
            "mean_seconds_per_frame": round(float(np.mean(wall)), 4),
            "median_cpu_seconds_per_frame": round(float(np.median(cpu)), 4)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--index", type=int, default=0)
    parser.add_argument("--naive-frames", type=int, default=6)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    params = load_params()
    with tempfile.TemporaryDirectory(prefix="visibility-bench-") as tmp:
        scene = load_scene(generate_scene(Path(tmp), "synth_benchmark", args.seed, args.index, benchmark_params(params)))
    engine, setup, _ = timed(SceneVisibility, scene, params.visibility)
    runs = [timed(engine_frame, engine, frame) for frame in scene.frames]
    tables = [r[0] for r in runs]
    rows = sum(len(t) for t in tables)
    picks = np.linspace(0, len(scene.frames) - 1, args.naive_frames).round().astype(int)
    # the naive frames, each timed right after the engine on the same frame (the machine's load drifts)
    pairs = [(timed(engine_frame, engine, scene.frames[i]), timed(naive_frame, engine, scene.frames[i]))
             for i in picks]
    naive_tables = [naive.assign(frame=i) for i, (_, (naive, _, _)) in zip(picks, pairs)]
    naive_rows = sum(len(t) for t in naive_tables)
    mine = {"wall": [e[1] for e, _ in pairs], "cpu": [e[2] for e, _ in pairs]}
    naive = {"wall": [n[1] for _, n in pairs], "cpu": [n[2] for _, n in pairs]}
    engine_rps = rows / sum(r[1] for r in runs)
    naive_rps = naive_rows / sum(naive["wall"])
    result = {
        "scene": {"faces": len(scene.faces), "instances": len(scene.instances), "frames": len(scene.frames),
                  "render_size": [int(tables[0].render_width.iloc[0]), int(tables[0].render_height.iloc[0])]
                  if len(tables[0]) else None, "seed": args.seed, "index": args.index},
        "machine": {"cpus": os.cpu_count(), "load_average": [round(x, 2) for x in os.getloadavg()]},
        "engine": {"frames": len(runs), "setup_seconds": round(setup, 3),
                   **_stats([r[1] for r in runs], [r[2] for r in runs]),
                   "rows": rows, "rows_per_second": round(engine_rps, 1),
                   "on_naive_frames": _stats(mine["wall"], mine["cpu"])},
        "naive": {"frames": len(picks), **_stats(naive["wall"], naive["cpu"]),
                  "rows": naive_rows, "rows_per_second": round(naive_rps, 1),
                  "agreement_with_engine": compare(pd.concat([tables[i].assign(frame=i) for i in picks]),
                                                   pd.concat(naive_tables))},
        "speedup_rows_per_second": round(engine_rps / naive_rps, 1),
        "speedup_same_frames_wall": round(float(np.median(naive["wall"]) / np.median(mine["wall"])), 1),
        "speedup_same_frames_cpu": round(float(np.median(naive["cpu"]) / np.median(mine["cpu"])), 1),
    }
    emit(result, args.out)


if __name__ == "__main__":
    main()
