"""The scene reader on a scene of ScanNet++ size: wall time and peak memory, with baselines of the same run.

    nice python benchmarks/reader.py [--faces 1000000] [--frames 1000] [--stride 10] [--repeats 3]
                                     [--out benchmarks/results/reader.json]

A scene in the release layout is generated in a temporary folder (removed afterwards, nothing is
committed): a ~1M-face mesh (a rippled grid, vertex colours), segIndices 0..N-1, ~300 annotated
segGroups with free-text raw labels and the toolkit's label files, ``--frames`` registered 1920x1440
frames every ``--stride`` video frames (COLMAP images.txt with ``--points2d`` observations per image),
and only ``iphone/rgb.mkv`` (H.264, 60 fps) as RGB.

Every measurement runs in a fresh process (``nice``d like this one) and reports its wall seconds and
peak resident memory (``ru_maxrss`` of that process, from ``os.wait4``):

- ``imports``: the reader's imports only (memory floor of every other run);
- ``mesh_only`` (baseline): ``trimesh.load`` of the PLY, the library call the reader's mesh read is built on;
- ``check``: ``load_scene(extract_frames=False)``, what ``mosaic scenes check`` does (the video probed);
- ``decode_only`` (baseline): PyAV decoding the video up to the last registered frame, no conversion;
- ``load``: ``load_scene`` extracting the registered frames (``iphone/rgb/`` removed before each run);
- ``load_quarter``: the same with the first quarter of the registered frames: bounded memory means its
  peak is the same as ``load``'s although it writes a quarter of the frames.

Medians over ``--repeats`` runs (``load`` and ``load_quarter`` run ``--load-repeats`` times).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import av
import numpy as np
from scipy.spatial.transform import Rotation

from bench_io import emit

REPO = Path(__file__).resolve().parents[1]
SCENE_ID = "0f0f0f0f0f"
WIDTH, HEIGHT, FPS = 1920, 1440, 60
FX = FY = 1440.0
DISTINCT_FRAMES = 8  # video content cycles through this many pictures (x264 then encodes ~80 fps here)
RAW_LABELS = ("table", "desk", "chair", "office chair", "cabinet", "shelf", "monitor", "box", "lamp", "sofa",
              "wall", "floor", "REMOVE", "SPLIT", "whiteboard", "plant")
MAP_CSV = ("class,count,semantic_map_to,instance_map_to\ntable,1520,,\ndesk,690,table,table\nchair,2210,,\n"
           "office chair,415,chair,chair\ncabinet,900,,\nshelf,700,,\nmonitor,650,,\nbox,1200,,\nlamp,310,,\n"
           "sofa,240,,\nwall,3000,,\nfloor,1000,,None\nREMOVE,35,None,None\nSPLIT,12,None,None\n"
           "plant,300,potted plant,potted plant\n")
TOP100 = ("table", "chair", "cabinet", "shelf", "monitor", "box", "lamp", "sofa", "potted plant")


# ---- the scene ---------------------------------------------------------------------------------------

def _grid(n_faces: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """A rippled square grid of about ``n_faces`` triangles over 10 x 10 m: vertices, colours, faces, side."""
    side = int(np.sqrt(n_faces / 2))
    u, v = np.meshgrid(np.linspace(0, 10, side + 1), np.linspace(0, 10, side + 1), indexing="ij")
    z = 0.3 * np.sin(u * 2.1) * np.cos(v * 1.7)
    vertices = np.stack([u, v, z], axis=-1).reshape(-1, 3).astype(np.float32)
    colors = (np.stack([u / 10, v / 10, 0.5 + z], axis=-1).reshape(-1, 3).clip(0, 1) * 255).astype(np.uint8)
    i, j = np.meshgrid(np.arange(side), np.arange(side), indexing="ij")
    a = (i * (side + 1) + j).ravel()
    b, c, d = a + 1, a + side + 1, a + side + 2
    faces = np.concatenate([np.stack([a, c, b], 1), np.stack([b, c, d], 1)]).astype(np.int32)
    return vertices, colors, faces, side


def _write_ply(path: Path, vertices: np.ndarray, colors: np.ndarray, faces: np.ndarray) -> None:
    header = ("ply\nformat binary_little_endian 1.0\n"
              f"element vertex {len(vertices)}\nproperty float x\nproperty float y\nproperty float z\n"
              "property uchar red\nproperty uchar green\nproperty uchar blue\n"
              f"element face {len(faces)}\nproperty list uchar int vertex_indices\nend_header\n")
    vrec = np.zeros(len(vertices), dtype=[("xyz", "<f4", 3), ("rgb", "u1", 3)])
    vrec["xyz"], vrec["rgb"] = vertices, colors
    frec = np.zeros(len(faces), dtype=[("n", "u1"), ("idx", "<i4", 3)])
    frec["n"], frec["idx"] = 3, faces
    with path.open("wb") as f:
        f.write(header.encode("ascii"))
        f.write(vrec.tobytes())
        f.write(frec.tobytes())


def _groups(vertices: np.ndarray, side: int, tiles: int) -> list[dict]:
    """One segGroup per tile of the grid (raw labels cycling through RAW_LABELS), plus every SPLIT tile
    listing its neighbour's first row again (overlaps for the smallest-instance rule)."""
    n = side + 1
    index = np.arange(n * n).reshape(n, n)
    edges = np.linspace(0, n, tiles + 1).astype(int)
    groups = []
    for ti in range(tiles):
        for tj in range(tiles):
            ids = index[edges[ti]:edges[ti + 1], edges[tj]:edges[tj + 1]].ravel()
            label = RAW_LABELS[len(groups) % len(RAW_LABELS)]
            if label == "SPLIT" and edges[ti + 1] < n:
                ids = np.concatenate([ids, index[edges[ti + 1], edges[tj]:edges[tj + 1]]])
            pts = vertices[ids].astype(float)
            lo, hi = pts.min(0), pts.max(0)
            groups.append({"id": len(groups) + 1, "objectId": len(groups) + 1, "label": label,
                           "segments": ids.tolist(),
                           "obb": {"centroid": ((lo + hi) / 2).tolist(), "axesLengths": (hi - lo).tolist(),
                                   "normalizedAxes": np.eye(3).ravel().tolist()}})
    return groups


def _world_to_cam(k: int, n: int) -> np.ndarray:
    """A camera circling over the grid, looking at its centre (OpenCV axes)."""
    angle = 2 * np.pi * k / n
    eye = np.array([5 + 4 * np.cos(angle), 5 + 4 * np.sin(angle), 2.5])
    forward = (np.array([5.0, 5.0, 0.0]) - eye) / np.linalg.norm(np.array([5.0, 5.0, 0.0]) - eye)
    right = np.cross(forward, [0, 0, 1.0])
    right /= np.linalg.norm(right)
    R = np.stack([right, np.cross(forward, right), forward])
    T = np.eye(4)
    T[:3, :3], T[:3, 3] = R, -R @ eye
    return T


def _write_colmap(folder: Path, frame_indices: list[int], points2d: int) -> None:
    """cameras.txt and images.txt, each image with a POINTS2D line of ``points2d`` observations."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "cameras.txt").write_text(f"1 OPENCV {WIDTH} {HEIGHT} {FX} {FY} {WIDTH / 2} {HEIGHT / 2} 0 0 0 0\n")
    rng = np.random.default_rng(0)
    with (folder / "images.txt").open("w") as f:
        for image_id, index in enumerate(frame_indices, start=1):
            T = _world_to_cam(image_id, len(frame_indices))
            x, y, z, w = Rotation.from_matrix(T[:3, :3]).as_quat()
            numbers = " ".join(f"{v:.17g}" for v in (w, x, y, z, *T[:3, 3]))
            points = np.column_stack([rng.uniform(0, WIDTH, points2d), rng.uniform(0, HEIGHT, points2d),
                                      rng.integers(0, 10 ** 6, points2d)])
            f.write(f"{image_id} {numbers} 1 frame_{index:06d}.jpg\n")
            f.write(" ".join(f"{u:.2f} {v:.2f} {int(p)}" for u, v, p in points) + "\n")


def _write_video(path: Path, n_frames: int) -> None:
    u = (np.arange(WIDTH) * 255 // WIDTH).astype(np.uint8)
    base = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    base[..., 0], base[..., 1] = u[None, :], (np.arange(HEIGHT) * 255 // HEIGHT).astype(np.uint8)[:, None]
    pictures = [av.VideoFrame.from_ndarray(np.roll(base, 97 * k, axis=1), format="rgb24").reformat(format="yuv420p")
                for k in range(DISTINCT_FRAMES)]
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        stream.options = {"preset": "ultrafast", "crf": "30"}
        for i in range(n_frames):
            picture = pictures[(i // 10) % DISTINCT_FRAMES]
            picture.pts = None
            container.mux(stream.encode(picture))
        container.mux(stream.encode())


def make_scene(root: Path, n_faces: int, n_frames: int, stride: int, tiles: int, points2d: int) -> dict:
    scene = root / "data" / SCENE_ID
    (scene / "scans").mkdir(parents=True)
    vertices, colors, faces, side = _grid(n_faces)
    _write_ply(scene / "scans/mesh_aligned_0.05.ply", vertices, colors, faces)
    (scene / "scans/segments.json").write_text(json.dumps({"sceneId": SCENE_ID,
                                                           "segIndices": list(range(len(vertices)))}))
    groups = _groups(vertices, side, tiles)
    (scene / "scans/segments_anno.json").write_text(json.dumps({"sceneId": f"scannetpp.{SCENE_ID}",
                                                                "segGroups": groups}))
    indices = [stride * k for k in range(n_frames)]
    _write_colmap(scene / "iphone/colmap", indices, points2d)
    (scene / "iphone").mkdir(exist_ok=True)
    video_frames = indices[-1] + 1
    _write_video(scene / "iphone/rgb.mkv", video_frames)
    bench = root / "metadata/semantic_benchmark"
    bench.mkdir(parents=True)
    (bench / "map_benchmark.csv").write_text(MAP_CSV)
    (bench / "top100_instance.txt").write_text("\n".join(TOP100) + "\n")
    return {"faces": len(faces), "vertices": len(vertices), "seg_groups": len(groups), "registered_frames": n_frames,
            "video_frames": video_frames, "image_size": [WIDTH, HEIGHT],
            "mesh_mb": round((scene / "scans/mesh_aligned_0.05.ply").stat().st_size / 1e6, 1),
            "images_txt_mb": round((scene / "iphone/colmap/images.txt").stat().st_size / 1e6, 1),
            "video_mb": round((scene / "iphone/rgb.mkv").stat().st_size / 1e6, 1)}


def quarter_copy(root: Path, n_frames: int) -> Path:
    """The scene again (big files linked, not copied) with the first quarter of its registered frames."""
    src, dst = root / "data" / SCENE_ID, root / "quarter" / "data" / SCENE_ID
    (dst / "iphone/colmap").mkdir(parents=True)
    (dst / "scans").mkdir()
    for rel in ("scans/mesh_aligned_0.05.ply", "scans/segments.json", "scans/segments_anno.json", "iphone/rgb.mkv",
                "iphone/colmap/cameras.txt"):
        os.link(src / rel, dst / rel)
    lines = (src / "iphone/colmap/images.txt").read_text().splitlines()
    (dst / "iphone/colmap/images.txt").write_text("\n".join(lines[: 2 * (n_frames // 4)]) + "\n")
    shutil.copytree(root / "metadata", root / "quarter" / "metadata")
    return dst


# ---- measuring ---------------------------------------------------------------------------------------

PROGRAMS = {
    "imports": "from mosaic_pipeline.scene.scannetpp import load_scene",
    "mesh_only": "import trimesh\ntrimesh.load(SCENE + '/scans/mesh_aligned_0.05.ply', file_type='ply', process=False)",
    "check": "from mosaic_pipeline.scene.scannetpp import load_scene\nload_scene(Path(SCENE), extract_frames=False)",
    "decode_only": textwrap.dedent("""\
        import av
        with av.open(SCENE + '/iphone/rgb.mkv') as c:
            for i, frame in enumerate(c.decode(c.streams.video[0])):
                if i == LAST:
                    break"""),
    "load": "from mosaic_pipeline.scene.scannetpp import load_scene\nload_scene(Path(SCENE))",
}


PEAK = "\nprint('VmHWM', [l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM')][0])\n"


def run_once(program: str, scene: Path, last: int) -> dict:
    """Wall seconds and peak RSS (MB) of ``program`` in a fresh (niced, as this one) process. The peak is the
    process's own VmHWM: ``ru_maxrss`` of a child would include this parent's memory (Linux keeps it over exec)."""
    code = f"from pathlib import Path\nSCENE = {str(scene)!r}\nLAST = {last}\n{program}{PEAK}"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code], env=env, cwd=REPO, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if done.returncode != 0:
        raise RuntimeError(f"benchmark program failed:\n{code}\n{done.stderr}")
    peak_kb = int(done.stdout.split("VmHWM")[-1].strip().strip("[]'"))
    return {"wall_s": wall, "peak_rss_mb": peak_kb / 1024}


def measure(name: str, scene: Path, last: int, repeats: int) -> dict:
    runs = []
    for _ in range(repeats):
        shutil.rmtree(scene / "iphone/rgb", ignore_errors=True)
        runs.append(run_once(PROGRAMS[name.removesuffix("_quarter")], scene, last))
    return {"runs": len(runs), "wall_s_median": round(statistics.median(r["wall_s"] for r in runs), 2),
            "wall_s": [round(r["wall_s"], 2) for r in runs],
            "peak_rss_mb_median": round(statistics.median(r["peak_rss_mb"] for r in runs), 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faces", type=int, default=1_000_000)
    parser.add_argument("--frames", type=int, default=1000)
    parser.add_argument("--stride", type=int, default=10, help="video frames per registered frame")
    parser.add_argument("--tiles", type=int, default=17, help="segGroups = tiles^2")
    parser.add_argument("--points2d", type=int, default=2000, help="COLMAP 2D observations per image")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--load-repeats", type=int, default=1)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks/results/reader.json")
    args = parser.parse_args()
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="reader-bench-") as tmp:
        root = Path(tmp)
        t0 = time.perf_counter()
        sizes = make_scene(root, args.faces, args.frames, args.stride, args.tiles, args.points2d)
        generate_s = time.perf_counter() - t0
        scene, quarter = root / "data" / SCENE_ID, quarter_copy(root, args.frames)
        last = sizes["video_frames"] - 1
        quarter_last = args.stride * (args.frames // 4 - 1)
        results = {name: measure(name, scene, last, args.repeats) for name in ("imports", "mesh_only", "check")}
        results["decode_only"] = measure("decode_only", scene, last, args.load_repeats)
        results["load"] = measure("load", scene, last, args.load_repeats)
        results["load_quarter"] = measure("load_quarter", quarter, quarter_last, args.load_repeats)
    wall = {k: v["wall_s_median"] for k, v in results.items()}
    peak = {k: v["peak_rss_mb_median"] for k, v in results.items()}
    report = {
        "scene": sizes, "generate_s": round(generate_s, 1), "results": results,
        "ratios": {
            "check_wall_over_mesh_only": round(wall["check"] / wall["mesh_only"], 2),
            "load_wall_over_decode_only": round(wall["load"] / wall["decode_only"], 2),
            "load_peak_over_check_peak": round(peak["load"] / peak["check"], 2),
            "load_peak_over_load_quarter_peak": round(peak["load"] / peak["load_quarter"], 2),
            "check_peak_over_imports_peak": round(peak["check"] / peak["imports"], 2),
        },
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "nice": os.nice(0),
                    "platform": platform.platform(), "load_average_before": [round(x, 1) for x in load_before],
                    "load_average_after": [round(x, 1) for x in os.getloadavg()]},
        "command": "nice python benchmarks/reader.py " + " ".join(sys.argv[1:]),
    }
    emit(report, args.out)


if __name__ == "__main__":
    main()
