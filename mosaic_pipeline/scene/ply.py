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

# bytes of the PLY scalar types (the PLY spec's names and their sized aliases)
PLY_SIZES = {"char": 1, "uchar": 1, "int8": 1, "uint8": 1, "short": 2, "ushort": 2, "int16": 2, "uint16": 2,
             "int": 4, "uint": 4, "int32": 4, "uint32": 4, "float": 4, "float32": 4, "double": 8, "float64": 8}
END_HEADER = b"end_header"


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
        raise SceneError(scene_id, path, f"unreadable or truncated PLY ({type(exc).__name__}: {exc})",
                         field=broken_part(path)) from exc
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


def broken_part(path: Path) -> str:
    """Where a PLY that cannot be read is broken: ``header``, or the first element (``element vertex``,
    ``element face``) whose rows a binary file is too short to hold (faces counted as triangles), else
    ``element data``."""
    try:
        data = path.read_bytes()
    except OSError:
        return "file"
    end = data.find(END_HEADER)
    if not data.startswith(b"ply") or end < 0:
        return "header"
    lines = data[:end].decode("ascii", "replace").splitlines()
    if not any(line.startswith("format binary") for line in lines):
        return "element data"
    offset = data.find(b"\n", end) + 1
    for name, count, row_bytes in _elements(lines):
        if row_bytes is None:
            return "header"
        offset += count * row_bytes
        if len(data) < offset:
            return f"element {name}"
    return "element data"


def _elements(header: list[str]) -> list[tuple[str, int, int | None]]:
    """(name, count, bytes per row or None when a type is unknown) of every element of a PLY header."""
    elements: list[tuple[str, int, int | None]] = []
    for line in header:
        tok = line.split()
        if tok[:1] == ["element"] and len(tok) == 3 and tok[2].isdigit():
            elements.append((tok[1], int(tok[2]), 0))
        elif tok[:1] == ["property"] and elements:
            name, count, size = elements[-1]
            if tok[1] == "list" and len(tok) == 5:  # list COUNT_TYPE ITEM_TYPE: a triangle, 3 items
                n, item = PLY_SIZES.get(tok[2]), PLY_SIZES.get(tok[3])
                add = None if n is None or item is None else n + 3 * item
            else:
                add = PLY_SIZES.get(tok[1])
            elements[-1] = (name, count, None if size is None or add is None else size + add)
    return elements
