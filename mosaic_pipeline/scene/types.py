"""The in-memory scene model shared by the reader, the synthetic generator and every later stage.

Conventions (docs/scenes.md): metres, z up; poses are world-to-camera in the OpenCV convention
(x right, y down, z forward); intrinsics are pinhole in pixels of the ORIGINAL image.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .labels import LabelStatus


@dataclass(frozen=True)
class Camera:
    """Pinhole intrinsics of one image size (COLMAP PINHOLE; OPENCV distortion is kept, not applied)."""

    width: int
    height: int
    fx: float
    fy: float
    cx: float
    cy: float
    model: str = "PINHOLE"
    distortion: tuple[float, ...] = ()

    @property
    def K(self) -> np.ndarray:
        return np.array([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]])

    def scaled(self, width: int, height: int) -> "Camera":
        """The same camera for an image resized to width x height (pixel-centre convention of COLMAP)."""
        sx, sy = width / self.width, height / self.height
        return Camera(width, height, self.fx * sx, self.fy * sy, self.cx * sx, self.cy * sy, self.model, self.distortion)

    def scaled_to_long_side(self, long_side: int) -> "Camera":
        s = long_side / max(self.width, self.height)
        return self.scaled(int(round(self.width * s)), int(round(self.height * s)))


@dataclass(frozen=True)
class Frame:
    """One registered iPhone frame: id like ``frame_000120``, its camera and world-to-camera pose."""

    frame_id: str
    camera: Camera
    world_to_cam: np.ndarray  # (4, 4) float64, rigid
    image_path: Path | None = None
    depth_path: Path | None = None

    @property
    def cam_to_world(self) -> np.ndarray:
        R, t = self.world_to_cam[:3, :3], self.world_to_cam[:3, 3]
        out = np.eye(4)
        out[:3, :3] = R.T
        out[:3, 3] = -R.T @ t
        return out

    @property
    def center(self) -> np.ndarray:
        """Camera centre in world coordinates."""
        return self.cam_to_world[:3, 3]


@dataclass(frozen=True)
class OrientedBox:
    """ScanNet++ obb: ``rotation`` columns are the box axes (R = reshape(normalizedAxes, 3, 3).T)."""

    centroid: np.ndarray  # (3,)
    axes_lengths: np.ndarray  # (3,) full side lengths
    rotation: np.ndarray  # (3, 3)

    def corners(self) -> np.ndarray:
        """The 8 corners in world coordinates, shape (8, 3)."""
        signs = np.array([[sx, sy, sz] for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)], dtype=float)
        local = signs * (self.axes_lengths / 2.0)
        return local @ self.rotation.T + self.centroid


@dataclass(frozen=True)
class Instance:
    """One annotated object (a segGroup): ``instance_id`` is the segGroup ``objectId``.

    ``label`` is the name after the release's label mapping (what questions say), ``label_orig`` the
    segGroup's raw label; ``status`` UNLISTED: the name is outside the class list, so the instance is
    geometry and a visibility row but never a question's subject, source or option (docs/scannetpp.md).
    """

    instance_id: int
    label: str
    box: OrientedBox
    vertex_ids: np.ndarray  # (n,) int64, vertices assigned to this instance AFTER the smallest-instance rule
    label_orig: str = ""  # "" = the same as label
    status: LabelStatus = LabelStatus.KEPT

    def __post_init__(self) -> None:
        if not self.label_orig:
            object.__setattr__(self, "label_orig", self.label)

    @property
    def qa_eligible(self) -> bool:
        """A benchmark class: may be a question's subject, source or option."""
        return self.status.is_class


@dataclass(frozen=True)
class DroppedInstance:
    """A segGroup the label mapping drops (``None`` or no row in the map file): not an instance, its
    faces are background (they still occlude)."""

    instance_id: int
    label_orig: str
    status: LabelStatus


@dataclass
class Scene:
    """A loaded scene: mesh, per-vertex instance ids (-1 = none), instances and frames."""

    scene_id: str
    root: Path
    vertices: np.ndarray  # (N, 3) float64
    faces: np.ndarray  # (M, 3) int64
    vertex_colors: np.ndarray  # (N, 3) uint8
    vertex_instance: np.ndarray  # (N,) int64, -1 where no instance
    instances: dict[int, Instance]
    frames: list[Frame]
    source: str = "scannetpp"  # "scannetpp" or "synthetic"
    meta: dict = field(default_factory=dict)
    dropped: dict[int, DroppedInstance] = field(default_factory=dict)  # segGroups the label mapping drops

    def face_instance(self) -> np.ndarray:
        """Instance id per face: the id at least two of its three vertices share, else -1 (background).

        (The ScanNet++ toolkit maps pixel -> face -> vertex -> object; a majority over the face's
        vertices makes the rule independent of vertex order.)
        """
        a, b, c = self.vertex_instance[self.faces].T
        return np.where((a == b) | (a == c), a, np.where(b == c, b, -1))

    def frame(self, frame_id: str) -> Frame:
        for f in self.frames:
            if f.frame_id == frame_id:
                return f
        raise KeyError(f"scene {self.scene_id}: no frame {frame_id}")
