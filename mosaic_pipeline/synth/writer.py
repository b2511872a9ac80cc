"""Writers of the ScanNet++ release files (docs/scenes.md) for a synthetic scene; every byte deterministic.

Per scene (paths from ``mosaic_pipeline.scene.layout``): the mesh PLY (float x, y, z; uchar red, green,
blue; faces), segments.json, segments_anno.json, iphone/colmap/{cameras,images}.txt, iphone/rgb/*.jpg,
iphone/depth/*.png (uint16 mm) and iphone/pose_intrinsic_imu.json. Per release: splits/ and metadata/.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import trimesh
from PIL import Image

from ..atomic import atomic_file
from ..scene.colmap import ColmapCamera, ColmapImage, matrix_to_qt, write_cameras, write_images
from ..scene.layout import (
    IPHONE_CAMERAS,
    IPHONE_DEPTH_DIR,
    IPHONE_IMAGES,
    IPHONE_POSE_JSON,
    IPHONE_RGB_DIR,
    MESH,
    SEGMENTS,
    SEGMENTS_ANNO,
    frame_name,
)
from ..scene.types import Camera
from .assemble import SceneMesh
from .categories import CATEGORIES

APP_ID = "mosaic_assets.synth"  # written into every scene: kept from the old layout so the data stay byte-identical
MM_PER_METRE = 1000.0
SPLIT_FILES = {"train": "nvs_sem_train.txt", "bench": "nvs_sem_val.txt", "transfer": "nvs_sem_val.txt"}
SOURCE = "synthetic"  # metadata/source.txt: tells the reader which kind of release this is


def _json(path: Path, obj) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, separators=(",", ":")) + "\n")


def write_mesh(scene: Path, mesh: SceneMesh) -> None:
    """Binary little-endian PLY exactly like the release's: no alpha, no normals."""
    tm = trimesh.Trimesh(mesh.vertices, mesh.faces, process=False)
    tm.vertex_attributes = {"red": mesh.colors[:, 0].copy(), "green": mesh.colors[:, 1].copy(),
                            "blue": mesh.colors[:, 2].copy()}
    path = scene / MESH
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(tm.export(file_type="ply", encoding="binary"))


def write_segments(scene: Path, scene_id: str, mesh: SceneMesh, provenance: dict) -> None:
    """One segment per vertex (segIndices = 0..N-1), as in the current ScanNet++ release."""
    _json(scene / SEGMENTS, {"params": provenance, "sceneId": scene_id,
                             "segIndices": list(range(len(mesh.vertices)))})


def write_segments_anno(scene: Path, scene_id: str, mesh: SceneMesh, provenance: dict) -> None:
    groups = [{"id": inst.object_id, "objectId": inst.object_id, "label": inst.label,
               "segments": inst.vertex_ids.tolist(),
               "obb": {"centroid": inst.centroid.tolist(), "axesLengths": inst.axes_lengths.tolist(),
                       "normalizedAxes": inst.rotation.T.ravel().tolist()}}  # R = reshape(.., 3, 3).T
              for inst in mesh.instances]
    _json(scene / SEGMENTS_ANNO, {"sceneId": f"scannetpp.{scene_id}", "appId": APP_ID,
                                  "annId": f"{APP_ID}.{provenance['seed']}.{provenance['index']}",
                                  "segGroups": groups})


def frame_ids(n_frames: int, stride: int) -> list[str]:
    return [frame_name(i * stride) for i in range(n_frames)]


def write_colmap(scene: Path, camera: Camera, names: list[str], world_to_cam: np.ndarray) -> None:
    (scene / IPHONE_CAMERAS).parent.mkdir(parents=True, exist_ok=True)
    write_cameras(scene / IPHONE_CAMERAS, [ColmapCamera(1, "PINHOLE", camera.width, camera.height,
                                                        (camera.fx, camera.fy, camera.cx, camera.cy))])
    images = []
    for i, (name, T) in enumerate(zip(names, world_to_cam), start=1):
        q, t = matrix_to_qt(T)
        images.append(ColmapImage(i, q, t, 1, f"{name}.jpg"))
    write_images(scene / IPHONE_IMAGES, images)


def write_pose_json(scene: Path, camera: Camera, names: list[str], world_to_cam: np.ndarray) -> None:
    """``pose`` and ``aligned_pose`` are camera-to-world in the mesh frame (the same here)."""
    out = {}
    for name, T in zip(names, world_to_cam):
        c2w = np.linalg.inv(T).tolist()
        out[name] = {"intrinsic": camera.K.tolist(), "pose": c2w, "aligned_pose": c2w}
    _json(scene / IPHONE_POSE_JSON, out)


def write_frame(scene: Path, name: str, rgb: np.ndarray, depth: np.ndarray, jpeg_quality: int) -> None:
    """RGB as JPEG; depth as uint16 millimetres PNG, 0 where nothing was hit."""
    for folder in (IPHONE_RGB_DIR, IPHONE_DEPTH_DIR):
        (scene / folder).mkdir(parents=True, exist_ok=True)
    Image.fromarray(rgb).save(scene / IPHONE_RGB_DIR / f"{name}.jpg", format="JPEG", quality=jpeg_quality)
    mm = np.where(np.isfinite(depth), np.round(depth * MM_PER_METRE), 0)
    Image.fromarray(np.clip(mm, 0, np.iinfo(np.uint16).max).astype(np.uint16)).save(
        scene / IPHONE_DEPTH_DIR / f"{name}.png", format="PNG")


def write_release_metadata(release_root: Path, ids_by_split: dict[str, list[str]]) -> None:
    """splits/nvs_sem_train.txt (train), splits/nvs_sem_val.txt (bench + transfer), the label vocabulary
    in metadata/{instance,semantic}_classes.txt and metadata/source.txt; each file written atomically."""
    unknown = sorted(set(ids_by_split) - set(SPLIT_FILES))
    if unknown:
        raise ValueError(f"unknown split(s) {unknown}; expected some of {sorted(SPLIT_FILES)}")
    files: dict[str, list[str]] = {name: [] for name in sorted(set(SPLIT_FILES.values()))}
    for split in sorted(ids_by_split):
        files[SPLIT_FILES[split]] += list(ids_by_split[split])
    root = Path(release_root)
    texts = {Path("splits") / name: ids for name, ids in files.items()}
    texts[Path("metadata/instance_classes.txt")] = list(CATEGORIES)
    texts[Path("metadata/semantic_classes.txt")] = list(CATEGORIES)
    texts[Path("metadata/source.txt")] = [SOURCE]
    for rel, lines in texts.items():
        with atomic_file(root / rel) as tmp:
            tmp.write_text("".join(f"{line}\n" for line in lines))
