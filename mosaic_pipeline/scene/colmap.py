"""COLMAP text model IO (cameras.txt, images.txt), the format of ``iphone/colmap`` and ``dslr/colmap``.

images.txt stores world-to-camera poses as ``QW QX QY QZ TX TY TZ`` (OpenCV convention).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

# Parameter counts of the COLMAP camera models we accept (COLMAP src/colmap/sensor/models.h).
MODEL_PARAMS = {
    "SIMPLE_PINHOLE": 3,
    "PINHOLE": 4,
    "SIMPLE_RADIAL": 4,
    "RADIAL": 5,
    "OPENCV": 8,
    "OPENCV_FISHEYE": 8,
    "FULL_OPENCV": 12,
}


@dataclass(frozen=True)
class ColmapCamera:
    camera_id: int
    model: str
    width: int
    height: int
    params: tuple[float, ...]


@dataclass(frozen=True)
class ColmapImage:
    image_id: int
    qvec: np.ndarray  # (4,) w, x, y, z
    tvec: np.ndarray  # (3,)
    camera_id: int
    name: str

    @property
    def world_to_cam(self) -> np.ndarray:
        return pose_matrix(self.qvec, self.tvec)


class ColmapFormatError(ValueError):
    def __init__(self, path: Path, line_no: int, message: str):
        super().__init__(f"{path}:{line_no}: {message}")
        self.path, self.line_no, self.message = path, line_no, message


def pose_matrix(qvec: np.ndarray, tvec: np.ndarray) -> np.ndarray:
    """4x4 world-to-camera from a (w, x, y, z) quaternion and a translation."""
    w, x, y, z = qvec
    out = np.eye(4)
    out[:3, :3] = Rotation.from_quat([x, y, z, w]).as_matrix()
    out[:3, 3] = tvec
    return out


def matrix_to_qt(world_to_cam: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(w, x, y, z) quaternion with w >= 0 and translation of a rigid 4x4 world-to-camera."""
    x, y, z, w = Rotation.from_matrix(world_to_cam[:3, :3]).as_quat()
    q = np.array([w, x, y, z])
    return (q if w >= 0 else -q), world_to_cam[:3, 3].copy()


def _data_lines(path: Path):
    for no, line in enumerate(path.read_text().splitlines(), start=1):
        if line.strip() and not line.lstrip().startswith("#"):
            yield no, line


def read_cameras(path: Path) -> dict[int, ColmapCamera]:
    cams: dict[int, ColmapCamera] = {}
    for no, line in _data_lines(path):
        tok = line.split()
        if len(tok) < 4:
            raise ColmapFormatError(path, no, f"expected 'CAMERA_ID MODEL WIDTH HEIGHT PARAMS[]', got {line!r}")
        model = tok[1]
        if model not in MODEL_PARAMS:
            raise ColmapFormatError(path, no, f"unsupported camera model {model!r}")
        if len(tok) - 4 != MODEL_PARAMS[model]:
            raise ColmapFormatError(path, no, f"model {model} needs {MODEL_PARAMS[model]} params, got {len(tok) - 4}")
        try:
            cam = ColmapCamera(int(tok[0]), model, int(tok[2]), int(tok[3]), tuple(float(v) for v in tok[4:]))
        except ValueError as exc:
            raise ColmapFormatError(path, no, f"bad number: {exc}") from exc
        cams[cam.camera_id] = cam
    return cams


def read_images(path: Path) -> list[ColmapImage]:
    """Images in file order. Every image takes two lines; the second (POINTS2D, possibly long, possibly
    empty) is skipped unread: the file is streamed, so its size does not bound memory."""
    out: list[ColmapImage] = []
    with open(path) as f:
        points_line_next = False
        for no, line in enumerate(f, start=1):
            if points_line_next:
                points_line_next = False
                continue
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            out.append(_image(path, no, line.rstrip("\n")))
            points_line_next = True
    return out


def _image(path: Path, no: int, line: str) -> ColmapImage:
    tok = line.split()
    if len(tok) < 10:
        raise ColmapFormatError(path, no, f"expected 'IMAGE_ID QW QX QY QZ TX TY TZ CAMERA_ID NAME', got {line!r}")
    try:
        vals = [float(v) for v in tok[1:8]]
        return ColmapImage(int(tok[0]), np.array(vals[:4]), np.array(vals[4:]), int(tok[8]), " ".join(tok[9:]))
    except ValueError as exc:
        raise ColmapFormatError(path, no, f"bad number: {exc}") from exc


def write_cameras(path: Path, cameras: list[ColmapCamera]) -> None:
    rows = ["# Camera list with one line of data per camera:", "#   CAMERA_ID, MODEL, WIDTH, HEIGHT, PARAMS[]",
            f"# Number of cameras: {len(cameras)}"]
    rows += [" ".join([str(c.camera_id), c.model, str(c.width), str(c.height), *(repr(float(p)) for p in c.params)])
             for c in cameras]
    path.write_text("\n".join(rows) + "\n")


def write_images(path: Path, images: list[ColmapImage]) -> None:
    rows = ["# Image list with two lines of data per image:",
            "#   IMAGE_ID, QW, QX, QY, QZ, TX, TY, TZ, CAMERA_ID, NAME", "#   POINTS2D[] as (X, Y, POINT3D_ID)",
            f"# Number of images: {len(images)}, mean observations per image: 0"]
    for im in images:
        nums = " ".join(repr(float(v)) for v in (*im.qvec, *im.tvec))
        rows += [f"{im.image_id} {nums} {im.camera_id} {im.name}", ""]
    path.write_text("\n".join(rows) + "\n")
