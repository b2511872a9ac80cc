"""Floor-plan geometry: oriented rectangles (object footprints) and the walkable free space of a room."""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
from scipy import ndimage


@dataclass(frozen=True)
class Footprint:
    """An oriented rectangle on the floor plane: centre, half extents along its own axes, yaw (radians)."""

    center: np.ndarray  # (2,)
    half: np.ndarray  # (2,)
    yaw: float

    @cached_property
    def axes(self) -> np.ndarray:
        """(2, 2): rows are the rectangle's unit x and y axes in world coordinates."""
        c, s = np.cos(self.yaw), np.sin(self.yaw)
        return np.array([[c, s], [-s, c]])

    @cached_property
    def corners(self) -> np.ndarray:
        signs = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]], dtype=float)
        return self.center + (signs * self.half) @ self.axes

    def overlaps(self, other: "Footprint", margin: float = 0.0) -> bool:
        """Separating-axis test: True unless some axis separates the rectangles by at least ``margin``."""
        a, b = self.corners, other.corners
        for axis in np.concatenate([self.axes, other.axes]):
            pa, pb = a @ axis, b @ axis
            if pa.min() >= pb.max() + margin or pb.min() >= pa.max() + margin:
                return False
        return True

    def covers(self, points: np.ndarray, dilation: float = 0.0) -> np.ndarray:
        """Which of the (N, 2) points lie inside the rectangle grown by ``dilation`` on every side."""
        local = (points - self.center) @ self.axes.T
        return np.all(np.abs(local) <= self.half + dilation, axis=1)


@dataclass(frozen=True)
class FreeSpace:
    """Walkable floor cells: the largest connected region at ``clearance`` from walls and obstacles."""

    mask: np.ndarray  # (ny, nx) bool
    xs: np.ndarray  # (nx,) cell-centre x
    ys: np.ndarray  # (ny,) cell-centre y
    cell: float

    @property
    def area(self) -> float:
        return float(self.mask.sum()) * self.cell ** 2

    def points(self) -> np.ndarray:
        """(M, 2) centres of the free cells."""
        iy, ix = np.nonzero(self.mask)
        return np.stack([self.xs[ix], self.ys[iy]], axis=1)

    def contains(self, points: np.ndarray) -> np.ndarray:
        ix, iy = self._index(points)
        inside = (ix >= 0) & (ix < len(self.xs)) & (iy >= 0) & (iy < len(self.ys))
        out = np.zeros(len(points), dtype=bool)
        out[inside] = self.mask[iy[inside], ix[inside]]
        return out

    def snap(self, points: np.ndarray) -> np.ndarray:
        """Move points outside the free region to the centre of the nearest free cell."""
        _, (iy_near, ix_near) = ndimage.distance_transform_edt(~self.mask, return_indices=True)
        ix, iy = self._index(points)
        ix, iy = np.clip(ix, 0, len(self.xs) - 1), np.clip(iy, 0, len(self.ys) - 1)
        nearest = np.stack([self.xs[ix_near[iy, ix]], self.ys[iy_near[iy, ix]]], axis=1)
        return np.where(self.contains(points)[:, None], points, nearest)

    def _index(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        ix = np.floor((points[:, 0] - self.xs[0]) / self.cell + 0.5).astype(int)
        iy = np.floor((points[:, 1] - self.ys[0]) / self.cell + 0.5).astype(int)
        return ix, iy


def free_space(room_size: tuple[float, float], obstacles: list[Footprint], clearance: float, cell: float) -> FreeSpace:
    """Free cells of the room [-Lx/2, Lx/2] x [-Ly/2, Ly/2]: at ``clearance`` from walls and from every
    obstacle footprint, restricted to the largest 4-connected region (where a person can walk around)."""
    lx, ly = room_size
    xs = np.arange(-lx / 2 + cell / 2, lx / 2, cell)
    ys = np.arange(-ly / 2 + cell / 2, ly / 2, cell)
    gx, gy = np.meshgrid(xs, ys)
    pts = np.stack([gx.ravel(), gy.ravel()], axis=1)
    free = (np.abs(pts[:, 0]) <= lx / 2 - clearance) & (np.abs(pts[:, 1]) <= ly / 2 - clearance)
    for fp in obstacles:
        free &= ~fp.covers(pts, clearance)
    mask = free.reshape(gx.shape)
    labels, n = ndimage.label(mask)
    if n > 1:
        sizes = np.bincount(labels.ravel())[1:]
        mask = labels == (1 + int(np.argmax(sizes)))
    return FreeSpace(mask, xs, ys, cell)
