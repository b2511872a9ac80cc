"""Hand-built inputs for QA tests: a box room with cameras, a visibility table and view samples.

Visibility here is NOT rendered: each (frame, instance) gets the box's projected rectangle as its
full / in-image coverage and an occlusion drawn from a fixed menu, so every number is simple and
self-consistent (visible <= unoccluded <= full; ratios as docs/visibility.md defines them). QA generation
only reads the table, so its answers can be checked against the same table and the 3D boxes.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from mosaic_pipeline.params import Params
from mosaic_pipeline.qa.generate import generate_scene_qa
from mosaic_pipeline.qa.records import as_frame, to_table
from mosaic_pipeline.scene.geometry import look_at, project
from mosaic_pipeline.scene.types import Camera, Frame, Instance, OrientedBox, Scene

WIDTH, HEIGHT, FOCAL = 640, 480, 420.0
MIN_VISIBLE_PX = 20
# label -> (box size in metres, how many of them, height of the box bottom above the floor)
FURNITURE = {
    "chair": ((0.5, 0.5, 0.9), 5, 0.0), "table": ((1.4, 0.8, 0.75), 1, 0.0), "sofa": ((2.0, 0.9, 0.8), 1, 0.0),
    "lamp": ((0.3, 0.3, 1.6), 1, 0.0), "plant": ((0.4, 0.4, 1.0), 2, 0.0), "cabinet": ((0.8, 0.5, 1.2), 1, 0.0),
    "monitor": ((0.6, 0.2, 0.4), 1, 0.75), "box": ((0.4, 0.4, 0.4), 4, 0.0), "bed": ((2.0, 1.6, 0.6), 1, 0.0),
    "clock": ((0.3, 0.1, 0.3), 1, 1.9), "picture": ((0.6, 0.05, 0.4), 1, 1.4), "cup": ((0.1, 0.1, 0.12), 1, 0.75),
    "stool": ((0.35, 0.35, 0.45), 1, 0.0), "wall": ((6.0, 0.1, 2.6), 1, 0.0),
}
OCCLUSION_MENU = (0.0, 0.0, 0.1, 0.3, 0.55, 0.8, 0.97, 1.0)
N_SAMPLES = 60  # like views.samples_per_scene: enough for every question type to reach its cap


def box_room(scene_id: str = "fixture_0000", seed: int = 0, n_frames: int = 24, source: str = "synthetic") -> Scene:
    rng = np.random.default_rng(seed)
    instances, iid = {}, 1
    for label, (size, count, base) in FURNITURE.items():
        for _ in range(count):
            size_v = np.array(size) * rng.uniform(0.8, 1.2, 3)
            centre = np.array([rng.uniform(-2.5, 2.5), rng.uniform(-2.0, 2.0), base + size_v[2] / 2])
            yaw = rng.uniform(0, np.pi)
            c, s = np.cos(yaw), np.sin(yaw)
            rot = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1.0]])
            instances[iid] = Instance(iid, label, OrientedBox(centre, size_v, rot), np.zeros(0, np.int64))
            iid += 1
    camera = Camera(WIDTH, HEIGHT, FOCAL, FOCAL, WIDTH / 2, HEIGHT / 2)
    frames = []
    for f in range(n_frames):
        eye = np.array([rng.uniform(-3.0, 3.0), rng.uniform(-2.5, 2.5), rng.uniform(1.2, 1.7)])
        target = np.array([rng.uniform(-2.0, 2.0), rng.uniform(-1.5, 1.5), rng.uniform(0.3, 0.9)])
        frames.append(Frame(f"frame_{f * 10:06d}", camera, look_at(eye, target)))
    return Scene(scene_id, Path("/nonexistent") / scene_id, np.zeros((0, 3)), np.zeros((0, 3), np.int64),
                 np.zeros((0, 3), np.uint8), np.zeros(0, np.int64), instances, frames, source=source)


def _row(scene: Scene, frame: Frame, inst: Instance, occlusion: float) -> dict | None:
    corners = inst.box.corners()
    uv, z = project(frame.camera, frame.world_to_cam, corners)
    front = z > 0.05
    if not front.any():
        return None
    x0, y0 = np.nanmin(uv[front], axis=0)
    x1, y1 = np.nanmax(uv[front], axis=0)
    full = int(round((x1 - x0) * (y1 - y0)))
    cx0, cy0, cx1, cy1 = max(x0, 0), max(y0, 0), min(x1, WIDTH), min(y1, HEIGHT)
    unocc = int(round(max(cx1 - cx0, 0) * max(cy1 - cy0, 0)))
    if full <= 0:
        return None
    visible = int(np.floor(unocc * (1 - occlusion)))
    keep = 1 - occlusion
    bbox = [float(cx0), float(cy0), float(cx0 + (cx1 - cx0) * max(keep, 0.05)), float(cy1)] if visible > 0 else None
    pc = (corners @ frame.world_to_cam[:3, :3].T) + frame.world_to_cam[:3, 3]
    return {
        "scene_id": scene.scene_id, "frame_id": frame.frame_id, "instance_id": inst.instance_id, "label": inst.label,
        "visible_px": visible, "unoccluded_px": unocc, "full_px": full,
        "occlusion_ratio": 1 - visible / unocc if unocc else float("nan"),
        "fov_ratio": 1 - unocc / full, "visibility": visible / full, "bbox_2d": bbox,
        "image_width": WIDTH, "image_height": HEIGHT, "render_width": WIDTH, "render_height": HEIGHT,
        "depth_median": float(pc[:, 2].mean()) if visible else float("nan"),
        "center_cam": pc.mean(axis=0).tolist(), "min_cam": pc.min(axis=0).tolist(), "max_cam": pc.max(axis=0).tolist(),
        "is_visible": visible >= MIN_VISIBLE_PX,
    }


def visibility_table(scene: Scene, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed + 1)
    rows = []
    for frame in scene.frames:
        for iid in sorted(scene.instances):
            row = _row(scene, frame, scene.instances[iid], float(rng.choice(OCCLUSION_MENU)))
            if row is not None:
                rows.append(row)
    df = pd.DataFrame(rows)
    for col in ("visible_px", "unoccluded_px", "full_px", "instance_id", "image_width", "image_height",
                "render_width", "render_height"):
        df[col] = df[col].astype("int64")
    return df


def views_table(scene: Scene, n_samples: int = 20, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed + 2)
    ids = [f.frame_id for f in scene.frames]
    rows = []
    for s in range(n_samples):
        n = int(rng.integers(2, 6))
        frames = [ids[i] for i in rng.choice(len(ids), size=n, replace=False)]
        overlaps = rng.uniform(0, 0.3, n * (n - 1) // 2).round(4).tolist()
        mean = float(np.mean(overlaps))
        rows.append({"scene_id": scene.scene_id, "sample_id": s, "frame_ids": frames, "n_frames": n,
                     "pairwise_overlaps": overlaps, "max_overlap": max(overlaps), "mean_overlap": mean,
                     "overlap_level": "low" if mean < 0.1 else "medium" if mean < 0.3 else "high"})
    return pd.DataFrame(rows)


@dataclass
class Shard:
    scene: Scene
    visibility: pd.DataFrame
    views: pd.DataFrame
    qa: pd.DataFrame


def make_shard(seed: int, params: Params, split: str | None = None) -> Shard:
    scene = box_room(f"fixture_{seed:04d}", seed=seed)
    vis, views = visibility_table(scene, seed), views_table(scene, N_SAMPLES, seed)
    qa = as_frame(to_table(generate_scene_qa(scene, vis, views, params, split=split)))
    return Shard(scene, vis, views, qa)
