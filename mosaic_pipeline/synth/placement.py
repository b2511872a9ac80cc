"""Placing models in a room without interpenetration: against walls, relative to other objects, on
support surfaces and hung on walls.

Every placed object is a model with a rigid pose (yaw about z plus a translation). Two objects collide
when their oriented footprints overlap AND their height intervals overlap, so a cup on a table does not
collide with the table below it, and a picture above a cabinet does not collide with the cabinet.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from .categories import Model, Surface
from .footprint import Footprint

CONTACT = 1e-6  # metres: objects that merely touch (a cup on a table, a book against a book) do not collide


def pose(yaw: float, x: float, y: float, z: float) -> np.ndarray:
    """4x4 local-to-world: rotation by ``yaw`` about z, then translation."""
    c, s = np.cos(yaw), np.sin(yaw)
    T = np.eye(4)
    T[:2, :2] = [[c, -s], [s, c]]
    T[:3, 3] = (x, y, z)
    return T


def yaw_of(T: np.ndarray) -> float:
    return float(np.arctan2(T[1, 0], T[0, 0]))


@dataclass(frozen=True)
class Placed:
    """A model at a pose; ``support`` is the index of the object it stands on (None: floor or wall)."""

    model: Model
    pose: np.ndarray
    support: int | None = None

    @property
    def label(self) -> str:
        return self.model.label

    @cached_property
    def footprint(self) -> Footprint:
        lo, hi = self.model.bounds
        centre = self.pose[:3, :3] @ ((lo + hi) / 2) + self.pose[:3, 3]
        return Footprint(centre[:2], (hi[:2] - lo[:2]) / 2, yaw_of(self.pose))

    @cached_property
    def z_range(self) -> tuple[float, float]:
        lo, hi = self.model.bounds
        return lo[2] + self.pose[2, 3], hi[2] + self.pose[2, 3]

    def surface_pose(self, surface: Surface, x: float, y: float, yaw: float) -> np.ndarray:
        """World pose of something standing at (x, y) of one of this object's surfaces, turned by ``yaw``."""
        return self.pose @ pose(yaw, x, y, surface.z)


@dataclass(frozen=True)
class Wall:
    """One of the four walls: its centre on the floor, unit tangent, inward normal and length."""

    center: np.ndarray
    tangent: np.ndarray
    normal: np.ndarray
    length: float

    @property
    def yaw(self) -> float:
        """Yaw that turns a model's front (+y) to face into the room."""
        return float(np.arctan2(-self.normal[0], self.normal[1]))


def walls(room_size: tuple[float, float]) -> list[Wall]:
    lx, ly = room_size
    return [Wall(np.array([0.0, -ly / 2]), np.array([1.0, 0.0]), np.array([0.0, 1.0]), lx),
            Wall(np.array([0.0, ly / 2]), np.array([-1.0, 0.0]), np.array([0.0, -1.0]), lx),
            Wall(np.array([-lx / 2, 0.0]), np.array([0.0, -1.0]), np.array([1.0, 0.0]), ly),
            Wall(np.array([lx / 2, 0.0]), np.array([0.0, 1.0]), np.array([-1.0, 0.0]), ly)]


def wall_pose(model: Model, wall: Wall, along: float, gap: float, z: float = 0.0) -> np.ndarray:
    """Pose of ``model`` with its back ``gap`` from ``wall``, its centre ``along`` the wall from the wall's centre."""
    lo, hi = model.bounds
    xy = wall.center + wall.tangent * (along - (lo[0] + hi[0]) / 2) + wall.normal * (gap - lo[1])
    return pose(wall.yaw, xy[0], xy[1], z)


@dataclass
class World:
    """The room and what is placed in it so far."""

    room_size: tuple[float, float]
    height: float
    objects: list[Placed] = field(default_factory=list)

    def fits(self, candidate: Placed, ignore: tuple[int, ...] = ()) -> bool:
        """Inside the room and colliding with no placed object except those in ``ignore``."""
        fp = candidate.footprint
        lx, ly = self.room_size
        corners = fp.corners
        z0, z1 = candidate.z_range
        if np.any(np.abs(corners[:, 0]) > lx / 2 + CONTACT) or np.any(np.abs(corners[:, 1]) > ly / 2 + CONTACT):
            return False
        if z0 < -CONTACT or z1 > self.height - CONTACT:
            return False
        for i, other in enumerate(self.objects):
            if i in ignore:
                continue
            o0, o1 = other.z_range
            if z0 < o1 - CONTACT and o0 < z1 - CONTACT and fp.overlaps(other.footprint, -CONTACT):
                return False
        return True

    def add(self, candidate: Placed) -> int:
        self.objects.append(candidate)
        return len(self.objects) - 1

    def try_add(self, candidate: Placed, ignore: tuple[int, ...] = ()) -> int | None:
        """Add the candidate if it fits; its index, or None."""
        return self.add(candidate) if self.fits(candidate, ignore) else None

    def place_on(self, support: int, surface: Surface, model: Model, x: float, y: float, yaw: float) -> int | None:
        """Stand ``model`` at (x, y) of a surface of object ``support`` if its footprint stays on the
        surface, it fits under the clearance and it collides with nothing but its support."""
        parent = self.objects[support]
        if not on_surface(surface, model, x, y, yaw):
            return None
        return self.try_add(Placed(model, parent.surface_pose(surface, x, y, yaw), support), ignore=(support,))

    def floor_footprints(self) -> list[Footprint]:
        """Footprints of everything standing on the floor (obstacles for a walking person)."""
        return [o.footprint for o in self.objects if o.support is None and o.z_range[0] <= CONTACT]


def on_surface(surface: Surface, model: Model, x: float, y: float, yaw: float) -> bool:
    """True when ``model`` at (x, y, yaw) in the surface's frame lies within its rectangle and clearance."""
    lo, hi = model.bounds
    if hi[2] - lo[2] > surface.clearance:
        return False
    fp = Footprint(np.array([x, y]) + _rot2(yaw) @ ((lo[:2] + hi[:2]) / 2), (hi[:2] - lo[:2]) / 2, yaw)
    c = fp.corners
    return bool(np.all(c[:, 0] >= surface.x[0] - CONTACT) and np.all(c[:, 0] <= surface.x[1] + CONTACT)
                and np.all(c[:, 1] >= surface.y[0] - CONTACT) and np.all(c[:, 1] <= surface.y[1] + CONTACT))


def _rot2(yaw: float) -> np.ndarray:
    c, s = np.cos(yaw), np.sin(yaw)
    return np.array([[c, -s], [s, c]])
