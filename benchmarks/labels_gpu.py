"""The torch backend of the visibility casts (``visibility.backend: torch``) at real size, against Open3D where
it is installed (JSON on stdout and in --out).

    python benchmarks/labels_gpu.py [--device auto] [--seconds 120] [--frames N] [--labels-frames N]
                                    [--room .labels-room/room.pkl] [--commit SHA]
                                    [--out benchmarks/results/labels_torch_gpu.json]

The room and poses are benchmarks/labels.py's (``labels_benchmark``: >= 300k faces, 640x480). Generating
them needs Open3D (the generator renders its frames) and trimesh, which a GPU machine may lack, so the
room is kept in ``--room`` (a pickle of the ``Scene``, ~15 MB; made here on the first run, read on the
next): make it where Open3D is, then carry that folder to the GPU machine.

- torch first hits: ``TorchCaster.first_hits`` per frame, frames in path order (evenly spaced over the
  path, ``--frames`` of them at most), until ``--seconds`` are spent; the first ``WARMUP_FRAMES`` frames
  are timed apart (CUDA start-up, kernel caches). Each frame's hits come back to the host as numpy (a
  synchronising copy): the time is the time to usable hits.
- Open3D (when importable): ``MeshCaster.first_hits`` on the same frames (the bare cast plus the
  near-plane recast), and the agreement: the share of pixels with the same face (hit or miss), the
  largest depth difference where faces agree, and per (frame, instance) the visible pixels' largest
  difference.
- labels: ``SceneVisibility.frame`` (the whole visibility labelling of a frame: the cast, coverage and
  rows) with the torch backend on ``--labels-frames`` frames, and with Open3D on the same frames when
  importable (then the three pixel counts' largest differences per (frame, instance)).
- on a GPU, the CPU reference in the same run: the torch backend on the CPU (whose agreement with Open3D is
  benchmarks/results/labels_torch_cpu_agreement.json) on ``--cpu-reference-frames`` of the frames: the first
  hits' agreement (``cpu_agreement``) and, on the labels frames, the pixel counts' (``cpu_labels_agreement``).
"""
from __future__ import annotations

import argparse
import os
import pickle
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from anywhere (a copied tree, no install)

from mosaic_pipeline.params import load_params  # noqa: E402
from mosaic_pipeline.scene.types import Scene  # noqa: E402
from mosaic_pipeline.visibility.mesh import Caster, FirstHits  # noqa: E402
from mosaic_pipeline.visibility.raster import TorchCaster, resolve_device  # noqa: E402
from mosaic_pipeline.visibility.table import SceneVisibility  # noqa: E402

from bench_io import emit

WARMUP_FRAMES = 3  # timed apart: the first CUDA launches compile and cache kernels
DEFAULT_ROOM = Path(".labels-room/room.pkl")


def open3d_available() -> bool:
    try:
        import open3d  # noqa: F401
    except ImportError:
        return False
    return True


def benchmark_room(path: Path) -> Scene:
    """The labels benchmark's room and its poses: read from ``path``, else generated (Open3D) and written there."""
    if path.exists():
        with path.open("rb") as f:
            return pickle.load(f)
    import tempfile

    from labels import room_scene  # benchmarks/labels.py: the generator (Open3D, trimesh)

    params = load_params()
    with tempfile.TemporaryDirectory(prefix="labels-room-") as tmp:
        scene = room_scene(Path(tmp) / "release", 0, 0, params, params.labels_benchmark)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as f:
        pickle.dump(scene, f, protocol=pickle.HIGHEST_PROTOCOL)
    return scene


def evenly(frames: list, n: int | None) -> list:
    if n is None or n >= len(frames):
        return frames
    return [frames[i] for i in np.unique(np.linspace(0, len(frames) - 1, n).round().astype(int))]


def time_casts(caster: Caster, scene: Scene, frames: list, long_side: int, near: float,
               seconds: float | None) -> tuple[list[FirstHits], list[float]]:
    """First hits of ``frames`` in order and the wall seconds of each, stopping once ``seconds`` are spent."""
    hits, times = [], []
    start = time.perf_counter()
    for frame in frames:
        cam = frame.camera.scaled_to_long_side(long_side)
        t0 = time.perf_counter()
        hits.append(caster.first_hits(cam, frame.world_to_cam, near))
        times.append(time.perf_counter() - t0)
        if seconds is not None and time.perf_counter() - start > seconds:
            break
    return hits, times


def ms_stats(times: list[float]) -> dict:
    steady = np.asarray(times[WARMUP_FRAMES:] if len(times) > WARMUP_FRAMES else times) * 1000
    return {"frames": len(times), "warmup_ms": [round(1000 * t, 2) for t in times[:WARMUP_FRAMES]],
            **{f"ms_per_frame_{name}": round(float(op(steady)), 2)
               for name, op in (("mean", np.mean), ("median", np.median), ("min", np.min), ("max", np.max))}}


def agreement(scene: Scene, ours: list[FirstHits], theirs: list[FirstHits]) -> dict:
    """Pixels with the same first face, depth where the faces agree, visible pixels per (frame, instance)."""
    owner = np.append(scene.face_instance(), -1)  # face -1 (no hit) -> -1
    ids = np.unique(owner[owner >= 0])
    same = depth_err = 0.0
    pixels = 0
    visible_diff, visible_rel = [], []
    for a, b in zip(ours, theirs):
        eq = a.face == b.face
        same += int(eq.sum())
        pixels += eq.size
        both = eq & a.hit
        if both.any():
            depth_err = max(depth_err, float(np.abs(a.depth[both].astype(np.float64) - b.depth[both]).max()))
        va, vb = (np.bincount(np.searchsorted(ids, owner[h.face][owner[h.face] >= 0]), minlength=len(ids))
                  for h in (a, b))
        visible_diff.append(np.abs(va - vb))
        visible_rel.append(np.abs(va - vb) / np.maximum(vb, 1))
    diff, rel = np.concatenate(visible_diff), np.concatenate(visible_rel)
    return {"frames": len(ours), "pixels": pixels, "pixel_agreement": round(same / pixels, 7),
            "pixels_disagreeing": int(pixels - same),
            "max_depth_difference_where_faces_agree_m": depth_err,
            "visible_px_max_abs_difference": int(diff.max()),
            "visible_px_max_relative_difference": round(float(rel.max()), 5),
            "visible_px_rows_differing": int((diff > 0).sum()), "visible_px_rows": int(len(diff))}


def time_labels(scene: Scene, params, frames: list, threads: int) -> tuple[list, list[float]]:
    engine = SceneVisibility(scene, params, cast_threads=threads)
    rows, times = [], []
    for frame in frames:
        t0 = time.perf_counter()
        rows.append(engine.frame(frame).rows)
        times.append(time.perf_counter() - t0)
    return rows, times


def count_differences(ours: list, theirs: list) -> dict:
    """Per pixel count, its largest absolute and relative (to the reference's) difference over (frame, instance) rows
    (a row only one backend has counts 0 in the other)."""
    out = {}
    for name in ("visible_px", "unoccluded_px", "full_px"):
        diffs, refs = [], []
        for a, b in zip(ours, theirs):
            ids = np.union1d(a.instance_id, b.instance_id)
            va, vb = (np.zeros(len(ids), np.int64) for _ in range(2))
            va[np.searchsorted(ids, a.instance_id)] = getattr(a, name)
            vb[np.searchsorted(ids, b.instance_id)] = getattr(b, name)
            diffs.append(np.abs(va - vb))
            refs.append(vb)
        d = np.concatenate(diffs)
        ref = np.concatenate(refs)
        out[name] = {"max_abs_difference": int(d.max()) if len(d) else 0,
                     "max_relative_difference": round(float((d / np.maximum(ref, 1)).max()), 5) if len(d) else 0.0,
                     "rows_differing": int((d > 0).sum()), "rows": int(len(d))}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto", help="torch device: auto, cpu, cuda, cuda:N")
    parser.add_argument("--seconds", type=float, default=120.0, help="stop the torch first-hit frames after this")
    parser.add_argument("--frames", type=int, default=None, help="at most this many frames, evenly spaced")
    parser.add_argument("--labels-frames", type=int, default=20, help="frames of the full labelling (0: none)")
    parser.add_argument("--cpu-reference-frames", type=int, default=20,
                        help="on a GPU: frames cast again by the torch backend on the CPU, for the agreement (0: none)")
    parser.add_argument("--threads", type=int, default=0,
                        help="torch CPU threads (0: torch's default; on a loaded machine 1 avoids barrier waits)")
    parser.add_argument("--room", type=Path, default=DEFAULT_ROOM)
    parser.add_argument("--commit", default=None, help="the commit of the tree run (a copy without git: give it here)")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    params = load_params()
    vp = params.visibility
    scene = benchmark_room(args.room)
    frames = evenly(scene.frames, args.frames)
    device = resolve_device(args.device)
    t0 = time.perf_counter()
    caster = TorchCaster(scene, str(device), args.threads)
    setup = time.perf_counter() - t0
    hits, times = time_casts(caster, scene, frames, vp.long_side, vp.near_plane, args.seconds)
    frames = frames[:len(times)]
    cam = frames[0].camera.scaled_to_long_side(vp.long_side)
    result = {
        "command": "python " + " ".join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]]),
        "commit": args.commit,
        "scene": {"faces": len(scene.faces), "vertices": len(scene.vertices), "instances": len(scene.instances),
                  "render_size": [cam.width, cam.height], "near_plane": vp.near_plane},
        "machine": {"device": str(device), "device_name": torch.cuda.get_device_name(device) if device.type == "cuda"
                    else platform.processor() or platform.machine(), "torch": torch.__version__,
                    "torch_threads": torch.get_num_threads(), "cpus": os.cpu_count(),
                    "load_average": [round(x, 2) for x in os.getloadavg()]},
        "torch_setup_seconds": round(setup, 3),
        "torch_first_hits": ms_stats(times),
    }
    have_open3d = open3d_available()
    if have_open3d:
        from mosaic_pipeline.visibility.raycast import MeshCaster
        reference, o3d_times = time_casts(MeshCaster(scene), scene, frames, vp.long_side, vp.near_plane, None)
        result["open3d_first_hits"] = ms_stats(o3d_times)
        result["agreement"] = agreement(scene, hits, reference)
    else:
        result["open3d_first_hits"] = ("Open3D is not installed here: no same-run baseline or agreement (the agreement: "
                                       "benchmarks/results/labels_torch_cpu_agreement.json, the same arithmetic on the CPU)")
    on_gpu = device.type != "cpu" and args.cpu_reference_frames > 0
    if on_gpu:
        picked = evenly(list(range(len(frames))), args.cpu_reference_frames)
        reference, _ = time_casts(TorchCaster(scene, "cpu", args.threads), scene, [frames[i] for i in picked],
                                  vp.long_side, vp.near_plane, None)
        result["cpu_agreement"] = agreement(scene, [hits[i] for i in picked], reference)
    if args.labels_frames:
        lab_frames = evenly(frames, args.labels_frames)
        torch_vp = vp.model_copy(update={"backend": "torch", "device": str(device), "workers": 1})
        rows, lab_times = time_labels(scene, torch_vp, lab_frames, args.threads)
        result["torch_labels"] = ms_stats(lab_times)
        if on_gpu:
            cpu_rows, _ = time_labels(scene, torch_vp.model_copy(update={"device": "cpu"}), lab_frames, args.threads)
            result["cpu_labels_agreement"] = count_differences(rows, cpu_rows)
        if have_open3d:
            ref_rows, ref_times = time_labels(scene, vp.model_copy(update={"backend": "open3d", "workers": 1}),
                                              lab_frames, 0)
            result["open3d_labels"] = ms_stats(ref_times)
            result["labels_agreement"] = count_differences(rows, ref_rows)
    emit(result, args.out)


if __name__ == "__main__":
    main()
