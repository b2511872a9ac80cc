"""One triangle mesh for the whole room: shell first (instance -1), then every object's vertices in a
contiguous block; per-vertex colours; per-instance label, vertex ids and oriented box.

Vertices are rounded to float32 here, the precision of the PLY file, so that boxes, renders and the
written mesh agree exactly.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import trimesh

from ..params import SyntheticParams
from .categories import base_color
from .room import Room, shell

# Shell materials (RGB 0..1), one drawn per room.
FLOOR_COLORS = ((0.55, 0.4, 0.27), (0.45, 0.45, 0.47), (0.68, 0.58, 0.45), (0.35, 0.3, 0.28))
WALL_COLORS = ((0.9, 0.88, 0.82), (0.82, 0.86, 0.88), (0.88, 0.84, 0.76), (0.78, 0.8, 0.74))
CEILING_COLOR = (0.96, 0.96, 0.95)


@dataclass(frozen=True)
class InstanceMesh:
    object_id: int
    label: str
    vertex_ids: np.ndarray  # (n,) int64
    centroid: np.ndarray  # (3,)
    axes_lengths: np.ndarray  # (3,) full side lengths
    rotation: np.ndarray  # (3, 3): columns are the box axes (the object's construction frame)


@dataclass(frozen=True)
class SceneMesh:
    vertices: np.ndarray  # (N, 3) float64 holding float32 values
    faces: np.ndarray  # (M, 3) int64
    colors: np.ndarray  # (N, 3) uint8
    vertex_instance: np.ndarray  # (N,) int64 object id, -1 for the shell
    instances: tuple[InstanceMesh, ...]


def _jitter(rng: np.random.Generator, rgb, amount: float) -> np.ndarray:
    return np.clip(np.asarray(rgb) * rng.uniform(1 - amount, 1 + amount, size=3), 0.0, 1.0)


def _subdivided(mesh: trimesh.Trimesh, times: int) -> trimesh.Trimesh:
    for _ in range(times):
        mesh = mesh.subdivide()
    return mesh


def assemble(room: Room, rng: np.random.Generator, params: SyntheticParams) -> SceneMesh:
    verts, faces, colors, owner = [], [], [], []
    n = 0

    def add(v: np.ndarray, f: np.ndarray, rgb: np.ndarray, object_id: int) -> None:
        nonlocal n
        verts.append(v)
        faces.append(f + n)
        colors.append(np.broadcast_to(np.round(rgb * 255).astype(np.uint8), (len(v), 3)))
        owner.append(np.full(len(v), object_id, dtype=np.int64))
        n += len(v)

    materials = {"floor": _jitter(rng, FLOOR_COLORS[int(rng.integers(len(FLOOR_COLORS)))], params.color_jitter / 2),
                 "wall": _jitter(rng, WALL_COLORS[int(rng.integers(len(WALL_COLORS)))], params.color_jitter / 4),
                 "ceiling": np.asarray(CEILING_COLOR)}
    shell_cell = params.shell_cell / 2 ** params.mesh_subdivisions
    for name, planes in shell(room.size, room.height, shell_cell).items():
        for plane in planes:
            add(_f32(plane.vertices), plane.faces, materials[name], -1)

    instances = []
    for object_id, obj in enumerate(room.objects, start=1):
        base = _jitter(rng, base_color(obj.label, rng), params.color_jitter)
        first = n
        for part in obj.model.parts:
            mesh = _subdivided(part.mesh, params.mesh_subdivisions)
            world = _f32(mesh.vertices @ obj.pose[:3, :3].T + obj.pose[:3, 3])
            rgb = np.asarray(part.color) if part.color is not None else np.clip(base * part.shade, 0.0, 1.0)
            add(world, mesh.faces, rgb, object_id)
        ids = np.arange(first, n, dtype=np.int64)
        own = np.concatenate(verts[-len(obj.model.parts):])
        instances.append(_instance(object_id, obj.label, ids, own, obj.pose))
    return SceneMesh(np.concatenate(verts), np.concatenate(faces).astype(np.int64), np.concatenate(colors),
                     np.concatenate(owner), tuple(instances))


def _f32(v: np.ndarray) -> np.ndarray:
    return np.asarray(v, dtype=np.float32).astype(np.float64)


def _instance(object_id: int, label: str, ids: np.ndarray, vertices: np.ndarray, pose: np.ndarray) -> InstanceMesh:
    """The tight box of ``vertices`` in the object's construction frame (its yaw), in world coordinates."""
    R, t = pose[:3, :3], pose[:3, 3]
    local = (vertices - t) @ R
    lo, hi = local.min(axis=0), local.max(axis=0)
    return InstanceMesh(object_id, label, ids, R @ ((lo + hi) / 2) + t, hi - lo, R.copy())
