"""Read and validate a scene mesh (``scans/mesh_aligned_0.05.ply``): vertices, triangles, vertex colours.

What is refused: an unreadable or truncated file, a mesh without faces or vertex colours, non-finite
vertices, faces indexing vertices that do not exist, and a mesh whose every face is degenerate.
Non-manifold edges and isolated degenerate faces are normal in scanned meshes and are kept as they
are (face indices stay those of the file, which the annotation and the renderers rely on).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import trimesh

from ..errors import SceneError


@dataclass(frozen=True)
class Mesh:
    vertices: np.ndarray  # (N, 3) float64, metres
    faces: np.ndarray  # (M, 3) int64
    colors: np.ndarray  # (N, 3) uint8


def read_mesh(path: Path, scene_id: str) -> Mesh:
    """Load the PLY with trimesh (no processing: vertex order and faces as in the file) and validate it."""
    try:
        loaded = trimesh.load(path, file_type="ply", process=False)
    except Exception as exc:  # trimesh raises ValueError, IndexError, KeyError, ... on malformed files
        raise SceneError(scene_id, path, f"unreadable or truncated PLY ({type(exc).__name__}: {exc})") from exc
    if not isinstance(loaded, trimesh.Trimesh) or len(loaded.faces) == 0:
        raise SceneError(scene_id, path, "the mesh has no faces", field="face")
    if loaded.visual.kind != "vertex":
        raise SceneError(scene_id, path, "the mesh has no vertex colours (red, green, blue)", field="vertex")
    vertices = np.asarray(loaded.vertices, dtype=np.float64)
    faces = np.asarray(loaded.faces, dtype=np.int64)
    _check_vertices(vertices, path, scene_id)
    _check_faces(vertices, faces, path, scene_id)
    colors = np.asarray(loaded.visual.vertex_colors, dtype=np.uint8)[:, :3]
    return Mesh(vertices, faces, colors)


def _check_vertices(vertices: np.ndarray, path: Path, scene_id: str) -> None:
    bad = np.flatnonzero(~np.isfinite(vertices).all(axis=1))
    if bad.size:
        raise SceneError(scene_id, path, f"{bad.size} non-finite vertices (first: vertex {bad[0]})", field="vertex")


def _check_faces(vertices: np.ndarray, faces: np.ndarray, path: Path, scene_id: str) -> None:
    out_of_range = np.flatnonzero(((faces < 0) | (faces >= len(vertices))).any(axis=1))
    if out_of_range.size:
        first = out_of_range[0]
        raise SceneError(scene_id, path, f"{out_of_range.size} faces index vertices outside 0..{len(vertices) - 1} "
                         f"(first: face {first} = {faces[first].tolist()})", field="face.vertex_indices")
    a, b, c = (vertices[faces[:, k]] for k in range(3))
    doubled_area = np.linalg.norm(np.cross(b - a, c - a), axis=1)
    if not (doubled_area > 0).any():
        raise SceneError(scene_id, path, f"all {len(faces)} faces are degenerate (zero area)", field="face")
