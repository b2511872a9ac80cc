"""In-memory scenes for the visibility, overlap and view tests: trimesh primitives -> ``Scene``.

Each part is a trimesh mesh, either background (instance None) or one annotated instance whose
oriented box is the part's axis-aligned bounds. Cameras are placed with ``geometry.look_at``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import trimesh

from mosaic_pipeline.scene.geometry import look_at
from mosaic_pipeline.scene.types import Camera, Frame, Instance, OrientedBox, Scene


def box(center, size) -> trimesh.Trimesh:
    m = trimesh.creation.box(extents=np.asarray(size, dtype=float))
    m.apply_translation(np.asarray(center, dtype=float))
    return m


def quad(corners) -> trimesh.Trimesh:
    """A zero-thickness quad (two triangles) through 4 corners given in order around it."""
    return trimesh.Trimesh(np.asarray(corners, dtype=float), np.array([[0, 1, 2], [0, 2, 3]]), process=False)


def grid_plane(x: float, y_range: tuple[float, float], z_range: tuple[float, float], n: int) -> trimesh.Trimesh:
    """A plane x = const facing -x, as an n x n grid of vertices (2 (n-1)^2 triangles)."""
    y, z = np.meshgrid(np.linspace(*y_range, n), np.linspace(*z_range, n), indexing="ij")
    vertices = np.column_stack([np.full(n * n, x), y.ravel(), z.ravel()])
    i, j = np.meshgrid(np.arange(n - 1), np.arange(n - 1), indexing="ij")
    a = (i * n + j).ravel()
    faces = np.concatenate([np.column_stack([a, a + n, a + n + 1]), np.column_stack([a, a + n + 1, a + 1])])
    return trimesh.Trimesh(vertices, faces, process=False)


def camera(width: int = 64, height: int = 48, f: float = 40.0) -> Camera:
    return Camera(width, height, f, f, width / 2, height / 2)


@dataclass
class SceneBuilder:
    scene_id: str = "vis_test"
    vertices: list[np.ndarray] = field(default_factory=list)
    faces: list[np.ndarray] = field(default_factory=list)
    vertex_instance: list[np.ndarray] = field(default_factory=list)
    instances: dict[int, tuple[str, OrientedBox]] = field(default_factory=dict)
    frames: list[Frame] = field(default_factory=list)

    @property
    def n_vertices(self) -> int:
        return sum(len(v) for v in self.vertices)

    def add(self, mesh: trimesh.Trimesh, instance_id: int | None = None, label: str = "object") -> "SceneBuilder":
        v = np.asarray(mesh.vertices, dtype=float)
        self.faces.append(np.asarray(mesh.faces, dtype=np.int64) + self.n_vertices)
        self.vertices.append(v)
        self.vertex_instance.append(np.full(len(v), -1 if instance_id is None else instance_id, dtype=np.int64))
        if instance_id is not None:
            lo, hi = v.min(axis=0), v.max(axis=0)
            self.instances[instance_id] = (label, OrientedBox((lo + hi) / 2, hi - lo, np.eye(3)))
        return self

    def add_instance_without_faces(self, instance_id: int, label: str = "ghost") -> "SceneBuilder":
        self.instances[instance_id] = (label, OrientedBox(np.zeros(3), np.ones(3), np.eye(3)))
        return self

    def look(self, eye, target, cam: Camera | None = None) -> "SceneBuilder":
        pose = look_at(np.asarray(eye, dtype=float), np.asarray(target, dtype=float))
        self.frames.append(Frame(f"frame_{10 * len(self.frames):06d}", cam or camera(), pose))
        return self

    def build(self) -> Scene:
        vertex_instance = np.concatenate(self.vertex_instance) if self.vertex_instance else np.zeros(0, np.int64)
        instances = {iid: Instance(iid, label, obb, np.flatnonzero(vertex_instance == iid))
                     for iid, (label, obb) in self.instances.items()}
        vertices = np.concatenate(self.vertices) if self.vertices else np.zeros((0, 3))
        faces = np.concatenate(self.faces) if self.faces else np.zeros((0, 3), np.int64)
        return Scene(self.scene_id, Path("/nonexistent") / self.scene_id, vertices, faces,
                     np.full((len(vertices), 3), 128, np.uint8), vertex_instance, instances, list(self.frames),
                     source="synthetic")


def room(builder: SceneBuilder, size=(6.0, 5.0, 2.6)) -> SceneBuilder:
    """Floor, ceiling and four walls (background) of a room spanning [0, size] with normals inward."""
    shell = trimesh.creation.box(extents=size)
    shell.apply_translation(np.asarray(size) / 2)
    shell.invert()
    return builder.add(shell)


def furnished_room(seed: int, n_objects: int, n_frames: int, cam: Camera, subdivisions: int = 0,
                   scene_id: str = "furnished") -> SceneBuilder:
    """A 6 x 5 m room with boxes, spheres and cylinders; cameras at x < 1 looking into the room (+x)."""
    rng = np.random.default_rng(seed)
    b = room(SceneBuilder(scene_id))
    for k in range(n_objects):
        kind = k % 3
        if kind == 0:
            m = trimesh.creation.icosphere(subdivisions=2 + subdivisions, radius=rng.uniform(0.15, 0.4))
        elif kind == 1:
            m = trimesh.creation.cylinder(radius=rng.uniform(0.1, 0.3), height=rng.uniform(0.3, 1.2),
                                          sections=16 * 2 ** subdivisions)
        else:
            m = trimesh.creation.box(extents=rng.uniform(0.2, 1.0, 3))
            for _ in range(subdivisions):
                m = m.subdivide()
            m.apply_transform(trimesh.transformations.rotation_matrix(rng.uniform(0, np.pi), [0, 0, 1]))
        m.apply_translation([rng.uniform(1.9, 5.5), rng.uniform(0.5, 4.5), rng.uniform(0.45, 1.8)])
        b.add(m, instance_id=100 + k, label=("ball", "pillar", "crate")[kind])
    for _ in range(n_frames):
        eye = [rng.uniform(0.3, 1.0), rng.uniform(0.8, 4.2), rng.uniform(1.2, 1.7)]
        b.look(eye, [rng.uniform(3.0, 5.5), rng.uniform(0.5, 4.5), rng.uniform(0.5, 1.2)], cam)
    return b
