"""A procedural room: its shell (floor, four walls, ceiling; not instances) and its furnished contents.

The room is the rectangle [-Lx/2, Lx/2] x [-Ly/2, Ly/2] on the floor z = 0, walls up to the ceiling at
``wall_height``. Furniture groups are added (anchor arrangement of the room type first) until the drawn
number of floor-standing pieces is reached, never leaving less walkable floor than
``min_free_fraction`` of the room; then pictures and clocks go on the walls and small objects on
every surface.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import trimesh

from ..params import SyntheticParams
from .arrangements import ARRANGEMENTS, ROOM_TYPES, Arranger, fill_surfaces, hang_wall_items
from .footprint import FreeSpace, free_space
from .placement import Placed, World

ARRANGEMENT_ATTEMPTS_PER_PIECE = 4  # arrangement draws per wanted floor piece before the room is called full


class RoomError(ValueError):
    """The parameters leave no room to furnish or to walk (reported as a SceneError by the generator)."""


@dataclass(frozen=True)
class Room:
    room_type: str
    size: tuple[float, float]
    height: float
    objects: tuple[Placed, ...]
    free: FreeSpace  # walkable floor for the camera path


def walkable(world: World, params: SyntheticParams) -> FreeSpace:
    return free_space(world.room_size, world.floor_footprints(), params.camera_clearance, params.floor_grid_cell)


def build_room(rng: np.random.Generator, params: SyntheticParams) -> Room:
    size = (float(rng.uniform(params.room_size_min[0], params.room_size_max[0])),
            float(rng.uniform(params.room_size_min[1], params.room_size_max[1])))
    world = World(size, params.wall_height)
    room_type = sorted(ROOM_TYPES)[int(rng.integers(len(ROOM_TYPES)))]
    anchor, weights = ROOM_TYPES[room_type]
    kinds = sorted(weights)
    p = np.array([weights[k] for k in kinds])
    p = p / p.sum()
    arranger = Arranger(world, rng, params)
    target = int(rng.integers(params.n_furniture_min, params.n_furniture_max + 1))
    min_area = params.min_free_fraction * size[0] * size[1]
    if walkable(world, params).area < min_area:
        raise RoomError(f"a {size[0]:.2f} x {size[1]:.2f} m room leaves less than min_free_fraction "
                        f"{params.min_free_fraction} of its floor walkable at camera_clearance {params.camera_clearance} m")
    n_floor = 0
    for attempt in range(ARRANGEMENT_ATTEMPTS_PER_PIECE * target):
        if n_floor >= target:
            break
        kind = anchor if attempt == 0 else kinds[int(rng.choice(len(kinds), p=p))]
        before = len(world.objects)
        ARRANGEMENTS[kind](arranger)
        if walkable(world, params).area < min_area:
            del world.objects[before:]  # this group would block the room: take it back
        n_floor = len(world.floor_footprints())
    hang_wall_items(arranger, int(rng.integers(0, params.wall_items_max + 1)))
    fill_surfaces(arranger)
    if not world.floor_footprints():
        raise RoomError(f"no furniture fits a {size[0]:.2f} x {size[1]:.2f} m room")
    return Room(room_type, size, params.wall_height, tuple(world.objects), walkable(world, params))


def look_targets(room: Room) -> tuple[np.ndarray, np.ndarray]:
    """Box centres of the floor and wall objects, weighted by 1 + the number of objects standing on them."""
    carried = np.bincount([o.support for o in room.objects if o.support is not None], minlength=len(room.objects))
    anchors = [i for i, o in enumerate(room.objects) if o.support is None]
    centres = []
    for i in anchors:
        obj = room.objects[i]
        z0, z1 = obj.z_range
        centres.append([*obj.footprint.center, (z0 + z1) / 2])
    return np.array(centres).reshape(-1, 3), 1.0 + carried[anchors]


def grid_plane(origin: np.ndarray, u: np.ndarray, v: np.ndarray, cell: float) -> trimesh.Trimesh:
    """A rectangle origin + [0, 1] u + [0, 1] v split into roughly ``cell``-sized squares (two triangles
    each), normal u x v. A grid rather than two triangles so the shell has vertices everywhere."""
    nu = max(1, int(np.ceil(np.linalg.norm(u) / cell)))
    nv = max(1, int(np.ceil(np.linalg.norm(v) / cell)))
    a, b = np.meshgrid(np.linspace(0, 1, nu + 1), np.linspace(0, 1, nv + 1), indexing="ij")
    vertices = origin + a.reshape(-1, 1) * u + b.reshape(-1, 1) * v
    idx = np.arange((nu + 1) * (nv + 1)).reshape(nu + 1, nv + 1)
    p00, p10, p01, p11 = idx[:-1, :-1].ravel(), idx[1:, :-1].ravel(), idx[:-1, 1:].ravel(), idx[1:, 1:].ravel()
    faces = np.concatenate([np.stack([p00, p10, p11], 1), np.stack([p00, p11, p01], 1)])
    return trimesh.Trimesh(vertices, faces, process=False)


def shell(size: tuple[float, float], height: float, cell: float) -> dict[str, list[trimesh.Trimesh]]:
    """Floor, walls and ceiling with normals facing into the room."""
    lx, ly = size
    x, y, z = np.array([lx, 0, 0]), np.array([0, ly, 0]), np.array([0, 0, height])
    c = np.array([-lx / 2, -ly / 2, 0.0])
    return {
        "floor": [grid_plane(c, x, y, cell)],
        "ceiling": [grid_plane(c + z, y, x, cell)],
        "wall": [grid_plane(c, z, x, cell), grid_plane(c + y, x, z, cell),
                 grid_plane(c, y, z, cell), grid_plane(c + x, z, y, cell)],
    }
