"""Labels at real size: visibility + views per frame against a bare Open3D cast of the same frames, in ONE run
(JSON on stdout and in --out).

    nice python benchmarks/labels.py [--seed 0] [--index 0] [--out benchmarks/results/labels.json]

The room is ``params.yaml`` ``synthetic`` overridden by ``synthetic_benchmark`` and then by
``labels_benchmark.synthetic`` (>= 300k faces). Its mesh is generated under a temporary release root
(removed afterwards); its frames are ``labels_benchmark.frames`` poses of the generator's camera path
through that room at the synthetic image size (640x480), kept in memory (no images are rendered:
labels read only the mesh and the poses). The few-frames scene is the same path subsampled evenly
to ``few_frames`` poses, so that scene start-up cancels in the marginal cost per frame.

- bare: one Open3D RaycastingScene of the whole mesh, then per frame ``create_rays_pinhole`` and
  ``cast_rays`` at the working resolution: the physical floor of casting every pixel once.
- labels: what the ``visibility`` and ``view_samples`` assets do (docs/labels_performance.md): the
  visibility table and the frames' voxel sets from one cast per frame, both written, read back,
  the view samples from the sparse overlap, and the samples and the overlap matrix written; once
  with ``visibility.workers: 1`` (every frame in this process: its CPU time is exact) and once with
  one worker process per core (``frame_workers`` in the JSON; params.yaml's ``null`` takes only the idle
  cores): their CPU is this process's plus the frames' CPU as measured in the workers, without the
  workers' start-up.

Reported: wall and process-CPU seconds (all threads) of every run, per frame and as ratios to the
bare cast (wall time also shows the other processes of a shared machine: the load average is
recorded before and after), the marginal cost per extra frame (many - few) of both and its ratio
(serial and with the frame workers),
the traced peak memory of each stage (numpy and Python allocations, ``tracemalloc``; Open3D's own
buffers are per frame) at few and many frames beside the size of one frame's id and depth images
(what holding every frame's images would cost per frame), view sampling seconds at ``sampling_frames``
evenly spaced frames (and the dense all-pairs product it replaces, for contrast), and the projection
to ``projection_scenes`` scenes of ``projection_frames_per_scene`` frames on ``projection_cores``
cores from the CPU seconds per frame.
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
import tracemalloc
from dataclasses import replace
from pathlib import Path

import numpy as np
import open3d as o3d
from bench_io import emit

from mosaic_pipeline.params import LabelsBenchmarkParams, Params, load_params
from mosaic_pipeline.paths import voxels_beside
from mosaic_pipeline.scene.scannetpp import load_scene
from mosaic_pipeline.scene.types import Frame, Scene
from mosaic_pipeline.synth import benchmark_params, generate_scene
from mosaic_pipeline.synth.camera_path import camera_path, pinhole
from mosaic_pipeline.synth.room import build_room, look_targets
from mosaic_pipeline.synth.writer import frame_ids
from mosaic_pipeline.visibility.frame_pool import cores, frame_workers
from mosaic_pipeline.visibility.overlap import (
    FrameVoxels,
    SparseOverlap,
    read_frame_voxels,
    write_frame_voxels,
    write_overlap,
)
from mosaic_pipeline.visibility.raycast import image_rays
from mosaic_pipeline.visibility.table import compute_visibility, read_visibility, write_visibility
from mosaic_pipeline.visibility.views import eligible_frames, sample_views, scene_views, write_views


def room_scene(root: Path, seed: int, index: int, params: Params, bench: LabelsBenchmarkParams) -> Scene:
    """The benchmark room with ``bench.frames`` poses along the generator's camera path (same seeds)."""
    synthetic = benchmark_params(params).model_copy(update={**bench.synthetic, "n_frames": 2})
    scene = load_scene(generate_scene(root, "labels_benchmark", seed, index, synthetic))
    layout_rng, _, path_rng = (np.random.default_rng(s) for s in np.random.SeedSequence([seed, index]).spawn(3))
    room = build_room(layout_rng, synthetic)  # the generator's room: same stream, same parameters
    targets, weights = look_targets(room)
    path = camera_path(room.free, targets, weights, synthetic.model_copy(update={"n_frames": bench.frames}), path_rng)
    camera = pinhole(synthetic)
    names = frame_ids(bench.frames, synthetic.frame_stride)
    return replace(scene, frames=[Frame(n, camera, T) for n, T in zip(names, path.world_to_cam)])


def subsample(scene: Scene, n: int) -> Scene:
    keep = np.unique(np.linspace(0, len(scene.frames) - 1, n).round().astype(int))
    return replace(scene, frames=[scene.frames[i] for i in keep])


def timed(fn, *args) -> tuple[object, float, float]:
    """fn(*args), its wall seconds and its process-CPU seconds (all threads; with frame workers, plus
    the CPU the workers measured for their frames: they are the forkserver's children, not ours)."""
    t0, c0 = time.perf_counter(), time.process_time()
    out = fn(*args)
    workers_cpu = out.pop("workers_cpu_seconds", 0.0) if isinstance(out, dict) else 0.0
    return out, time.perf_counter() - t0, time.process_time() - c0 + workers_cpu


def bare_cast(scene: Scene, long_side: int) -> None:
    """The floor: every pixel of every frame cast once against the whole mesh."""
    whole = o3d.t.geometry.RaycastingScene()
    whole.add_triangles(o3d.core.Tensor(scene.vertices.astype(np.float32)), o3d.core.Tensor(scene.faces.astype(np.uint32)))
    for frame in scene.frames:
        whole.cast_rays(image_rays(frame.camera.scaled_to_long_side(long_side), frame.world_to_cam))


def visibility_stage(scene: Scene, params: Params, out: Path) -> dict:
    """The visibility asset's work: the table and the frames' voxel sets from one cast per frame, written."""
    vis_file = out / "visibility.parquet"
    result = compute_visibility(scene, params.visibility, voxel_size=params.views.voxel_size)
    write_frame_voxels(result.voxels, voxels_beside(vis_file))
    write_visibility(result.table, vis_file)
    pooled = frame_workers(params.visibility.workers) > 1
    return {"rows": len(result.table), "voxels_per_frame": round(float(result.voxels.n_voxels.mean()), 1),
            "table": result.table, "voxels": result.voxels,
            "workers_cpu_seconds": float(result.cpu_seconds_per_frame.sum()) if pooled else 0.0}


def views_stage(scene: Scene, params: Params, out: Path) -> int:
    """The view_samples asset's work: both files read back, the samples and the overlap matrix written."""
    vis_file = out / "visibility.parquet"
    views = scene_views(scene.scene_id, read_visibility(vis_file), read_frame_voxels(voxels_beside(vis_file)),
                        params.views, params.visibility.overlap_level_edges)
    write_overlap(views.matrix, out / "views.overlap.parquet")
    write_views(views.samples, out / "views.parquet")
    return len(views.samples)


def labels(scene: Scene, params: Params, out: Path) -> dict:
    """The visibility and view_samples assets' work on one scene, files included."""
    return {**visibility_stage(scene, params, out), "samples": views_stage(scene, params, out)}


def with_workers(params: Params, workers: int | None) -> Params:
    return params.model_copy(update={"visibility": params.visibility.model_copy(update={"workers": workers})})


def _run(name: str, fn, *args) -> tuple[object, dict]:
    out, wall, cpu = timed(fn, *args)
    return out, {"run": name, "wall_seconds": round(wall, 3), "cpu_seconds": round(cpu, 3),
                 "load_average_after": round(os.getloadavg()[0], 2)}


def peak_memory(fn, *args) -> float:
    """Traced peak (MiB) of Python and numpy allocations during fn(*args)."""
    tracemalloc.start()
    try:
        fn(*args)
        return round(tracemalloc.get_traced_memory()[1] / 2**20, 1)
    finally:
        tracemalloc.stop()


def sampling_table(scene: Scene, table, voxels: FrameVoxels, params: Params, counts: tuple[int, ...]) -> list[dict]:
    """View sampling (incidence build + sampler) on n evenly spaced frames; the dense product for contrast."""
    rows = []
    for n in counts:
        keep = np.unique(np.linspace(0, len(voxels.frame_ids) - 1, n).round().astype(int))
        sub = FrameVoxels.of([voxels.frame_ids[i] for i in keep], [voxels.of_frame(i) for i in keep])
        (overlap, wall_a, cpu_a) = timed(SparseOverlap, sub)
        eligible = eligible_frames(table, sub.frame_ids)
        samples, wall_b, cpu_b = timed(sample_views, scene.scene_id, overlap, eligible, params.views,
                                       params.visibility.overlap_level_edges)
        incidence = overlap.AT.T.astype(np.int32)  # frames x voxels
        _, wall_d, cpu_d = timed(lambda: incidence @ incidence.T)
        rows.append({"frames": len(keep), "samples": len(samples), "sampling_wall_seconds": round(wall_a + wall_b, 4), "sampling_cpu_seconds": round(cpu_a + cpu_b, 4),
                     "sampling_cpu_ms_per_frame": round(1000 * (cpu_a + cpu_b) / len(keep), 3),
                     "dense_all_pairs_cpu_seconds": round(cpu_d, 4)})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--index", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--frames", type=int, nargs=3, default=None, metavar=("MANY", "FEW", "SAMPLING_MAX"),
                        help="a smaller run than params.yaml labels_benchmark (smoke tests)")
    args = parser.parse_args()
    params = load_params()
    bench = params.labels_benchmark
    if args.frames:
        many_n, few_n, top = args.frames
        bench = bench.model_copy(update={"frames": many_n, "few_frames": few_n,
                                         "sampling_frames": (top // 4, top // 2, top)})
    load_before = [round(x, 2) for x in os.getloadavg()]
    with tempfile.TemporaryDirectory(prefix="labels-bench-") as tmp:
        tmp = Path(tmp)
        many = room_scene(tmp / "release", args.seed, args.index, params, bench)
        few = subsample(many, bench.few_frames)
        long_side = params.visibility.long_side
        serial, pooled = with_workers(params, 1), with_workers(params, cores())
        runs, results = [], {}
        for name, fn, scene, p in (("bare_many", bare_cast, many, None), ("labels_many", labels, many, serial),
                                   ("bare_few", bare_cast, few, None), ("labels_few", labels, few, serial),
                                   ("labels_workers_many", labels, many, pooled),
                                   ("labels_workers_few", labels, few, pooled),
                                   ("bare_many_again", bare_cast, many, None)):
            (tmp / name).mkdir()
            out, record = _run(name, fn, scene, *((long_side,) if fn is bare_cast else (p, tmp / name)))
            runs.append(record)
            results[name] = out
        memory = {}
        for scene in (few, many):  # each asset runs in its own process: their peaks do not add up
            folder = tmp / f"memory{len(scene.frames)}"
            folder.mkdir()
            memory[f"visibility_{len(scene.frames)}_frames_peak_mib"] = peak_memory(visibility_stage, scene, serial,
                                                                                    folder)
            memory[f"view_samples_{len(scene.frames)}_frames_peak_mib"] = peak_memory(views_stage, scene, params, folder)
        memory["one_frame_id_and_depth_images_mib"] = round(
            2 * 4 * many.frames[0].camera.scaled_to_long_side(long_side).width
            * many.frames[0].camera.scaled_to_long_side(long_side).height / 2**20, 2)
        sampling = sampling_table(many, results["labels_many"]["table"], results["labels_many"]["voxels"], params,
                                  bench.sampling_frames)
    emit(report(many, few, runs, results, memory, sampling, params, bench, args, load_before), args.out)


def report(many: Scene, few: Scene, runs: list[dict], results: dict, memory: dict, sampling: list[dict],
           params: Params, bench: LabelsBenchmarkParams, args, load_before: list[float]) -> dict:
    r = {x["run"]: x for x in runs}
    F, f = len(many.frames), len(few.frames)
    bare_many = {k: (r["bare_many"][k] + r["bare_many_again"][k]) / 2 for k in ("wall_seconds", "cpu_seconds")}

    def per_frame(kind: str, run: str = "labels") -> dict:
        lab, bare = r[f"{run}_many"][f"{kind}_seconds"], bare_many[f"{kind}_seconds"]
        lab_m = (lab - r[f"{run}_few"][f"{kind}_seconds"]) / (F - f)
        bare_m = (bare - r["bare_few"][f"{kind}_seconds"]) / (F - f)
        return {"labels_ms_per_frame": round(1000 * lab / F, 2), "bare_cast_ms_per_frame": round(1000 * bare / F, 2),
                "ratio": round(lab / bare, 3), "labels_marginal_ms_per_frame": round(1000 * lab_m, 2),
                "bare_cast_marginal_ms_per_frame": round(1000 * bare_m, 2), "marginal_ratio": round(lab_m / bare_m, 3)}

    cpu = per_frame("cpu")
    setup_cpu = r["labels_few"]["cpu_seconds"] - f * cpu["labels_marginal_ms_per_frame"] / 1000
    scene_cpu = setup_cpu + bench.projection_frames_per_scene * cpu["labels_marginal_ms_per_frame"] / 1000
    cam = many.frames[0].camera.scaled_to_long_side(params.visibility.long_side)
    return {
        "scene": {"faces": len(many.faces), "instances": len(many.instances), "frames_many": F, "frames_few": f,
                  "render_size": [cam.width, cam.height], "seed": args.seed, "index": args.index,
                  "labels_rows_many": results["labels_many"]["rows"],
                  "view_samples_many": results["labels_many"]["samples"],
                  "voxels_per_frame": results["labels_many"]["voxels_per_frame"]},
        "machine": {"cpus": os.cpu_count(), "frame_workers": cores(),
                    "load_average_before": load_before,
                    "load_average_after": [round(x, 2) for x in os.getloadavg()]},
        "runs": runs,
        "per_frame_cpu": cpu,
        "per_frame_wall": per_frame("wall"),
        "per_frame_cpu_workers": per_frame("cpu", "labels_workers"),
        "per_frame_wall_workers": per_frame("wall", "labels_workers"),
        "peak_memory": memory,
        "sampling": sampling,
        "projection": {
            "scenes": bench.projection_scenes, "frames_per_scene": bench.projection_frames_per_scene,
            "cores": bench.projection_cores, "setup_cpu_seconds_per_scene": round(setup_cpu, 2),
            "cpu_seconds_per_scene": round(scene_cpu, 1),
            "hours_on_cores": round(bench.projection_scenes * scene_cpu / bench.projection_cores / 3600, 2),
            "assumes": "CPU seconds scale with frames as measured here (this room's faces); one scene per core",
        },
    }


if __name__ == "__main__":
    main()
