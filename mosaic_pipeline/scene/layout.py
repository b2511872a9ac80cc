"""Paths of the ScanNet++ release layout (docs/scenes.md), in one place for the reader and the writer."""
from __future__ import annotations

from pathlib import Path

MESH = Path("scans/mesh_aligned_0.05.ply")
SEGMENTS = Path("scans/segments.json")
SEGMENTS_ANNO = Path("scans/segments_anno.json")
IPHONE_COLMAP = Path("iphone/colmap")
IPHONE_CAMERAS = IPHONE_COLMAP / "cameras.txt"
IPHONE_IMAGES = IPHONE_COLMAP / "images.txt"
IPHONE_RGB_DIR = Path("iphone/rgb")
IPHONE_RGB_VIDEO = Path("iphone/rgb.mkv")
IPHONE_DEPTH_DIR = Path("iphone/depth")
IPHONE_POSE_JSON = Path("iphone/pose_intrinsic_imu.json")
DSLR_COLMAP = Path("dslr/colmap")
DSLR_CAMERAS = DSLR_COLMAP / "cameras.txt"
DSLR_IMAGES = DSLR_COLMAP / "images.txt"
DSLR_UNDISTORTED = Path("dslr/nerfstudio/transforms_undistorted.json")  # PINHOLE after the toolkit's undistortion

# What a scene needs before anything is read (the RGB may be frames or the video).
REQUIRED = (MESH, SEGMENTS, SEGMENTS_ANNO, IPHONE_CAMERAS, IPHONE_IMAGES)


def scene_dir(release_root: Path, scene_id: str) -> Path:
    return Path(release_root) / "data" / scene_id


def frame_name(index: int) -> str:
    """``frame_000120`` for index 120 (ffmpeg ``frame_%06d`` numbering, start 0)."""
    return f"frame_{index:06d}"
