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

# numpy types of the PLY scalar types (the PLY spec's names and their sized aliases)
PLY_TYPES = {"char": "i1", "uchar": "u1", "int8": "i1", "uint8": "u1", "short": "i2", "ushort": "u2", "int16": "i2",
             "uint16": "u2", "int": "i4", "uint": "u4", "int32": "i4", "uint32": "u4", "float": "f4",
             "float32": "f4", "double": "f8", "float64": "f8"}
BYTE_ORDER = {"binary_little_endian": "<", "binary_big_endian": ">"}
END_HEADER = b"end_header"
COLOURS = ("red", "green", "blue")
FACE_CHUNK = 65536  # faces per step of the degenerate-face check (bounds its memory, not a threshold)


@dataclass(frozen=True)
class Mesh:
    vertices: np.ndarray  # (N, 3) float64, metres
    faces: np.ndarray  # (M, 3) int64
    colors: np.ndarray  # (N, 3) uint8


@dataclass(frozen=True)
class PlyElement:
    name: str
    count: int
    scalars: tuple[tuple[str, str], ...]  # (property name, PLY type)
    lists: tuple[tuple[str, str, str], ...]  # (property name, count type, item type)


@dataclass(frozen=True)
class PlyHeader:
    format: str  # ascii, binary_little_endian, binary_big_endian
    elements: tuple[PlyElement, ...]
    data_offset: int  # bytes before the first element's data


def read_mesh(path: Path, scene_id: str) -> Mesh:
    """Read the PLY (vertex order and faces as in the file) and validate it. A binary triangle mesh is read
    straight into numpy (docs/scannetpp.md: a ScanNet++-size mesh in a fraction of trimesh's time and
    memory); anything else (ASCII, polygons, extra face properties) through trimesh."""
    header = read_header(path)
    arrays = _binary_triangles(path, header) if header is not None else None
    vertices, faces, colors = arrays if arrays is not None else _with_trimesh(path, scene_id)
    if len(faces) == 0:
        raise SceneError(scene_id, path, "the mesh has no faces", field="face")
    if colors is None:
        raise SceneError(scene_id, path, "the mesh has no vertex colours (red, green, blue)", field="vertex")
    _check_vertices(vertices, path, scene_id)
    _check_faces(vertices, faces, path, scene_id)
    return Mesh(vertices, faces, colors)


def _with_trimesh(path: Path, scene_id: str) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    try:
        loaded = trimesh.load(path, file_type="ply", process=False)
    except Exception as exc:  # trimesh raises ValueError, IndexError, KeyError, ... on malformed files
        raise SceneError(scene_id, path, f"unreadable or truncated PLY ({type(exc).__name__}: {exc})",
                         field=broken_part(path)) from exc
    if not isinstance(loaded, trimesh.Trimesh):
        return np.zeros((0, 3)), np.zeros((0, 3), np.int64), None
    colors = np.asarray(loaded.visual.vertex_colors, dtype=np.uint8)[:, :3] if loaded.visual.kind == "vertex" else None
    return np.asarray(loaded.vertices, dtype=np.float64), np.asarray(loaded.faces, dtype=np.int64), colors


def _binary_triangles(path: Path, header: PlyHeader) -> tuple[np.ndarray, np.ndarray, np.ndarray | None] | None:
    """(vertices, faces, colours or None) of a binary PLY holding exactly a vertex element of scalars and a
    face element of one triangle list, its size as the header says; None for anything else."""
    order = BYTE_ORDER.get(header.format)
    names = [e.name for e in header.elements]
    if order is None or names != ["vertex", "face"]:
        return None
    vertex, face = header.elements
    if vertex.lists or face.scalars or len(face.lists) != 1 or not {"x", "y", "z"} <= {n for n, _ in vertex.scalars}:
        return None
    try:
        vdtype = np.dtype([(n, order + PLY_TYPES[t]) for n, t in vertex.scalars])
        _, count_type, item_type = face.lists[0]
        fdtype = np.dtype([("n", order + PLY_TYPES[count_type]), ("idx", order + PLY_TYPES[item_type], 3)])
    except (KeyError, TypeError):
        return None
    if path.stat().st_size != header.data_offset + vertex.count * vdtype.itemsize + face.count * fdtype.itemsize:
        return None  # truncated, or polygons: trimesh reads or diagnoses it
    with open(path, "rb") as f:
        f.seek(header.data_offset)
        v = np.fromfile(f, dtype=vdtype, count=vertex.count)
        fa = np.fromfile(f, dtype=fdtype, count=face.count)
    if (fa["n"] != 3).any():
        return None
    vertices = np.column_stack([v["x"], v["y"], v["z"]]).astype(np.float64)
    has_colours = set(COLOURS) <= set(vdtype.names)
    colors = np.column_stack([v[c] for c in COLOURS]).astype(np.uint8) if has_colours else None
    return vertices, fa["idx"].astype(np.int64), colors


def read_header(path: Path) -> PlyHeader | None:
    """The PLY header, or None when the file does not start like one or has no end_header line."""
    try:
        with open(path, "rb") as f:
            lines = []
            for raw in f:
                if not lines and not raw.startswith(b"ply"):
                    return None
                lines.append(raw.decode("ascii", "replace").strip())
                if raw.startswith(END_HEADER):
                    return _parse_header(lines, f.tell())
    except OSError:
        return None
    return None


def _parse_header(lines: list[str], offset: int) -> PlyHeader:
    fmt, elements = "", []
    for line in lines:
        tok = line.split()
        if tok[:1] == ["format"] and len(tok) > 1:
            fmt = tok[1]
        elif tok[:1] == ["element"] and len(tok) == 3 and tok[2].isdigit():
            elements.append(PlyElement(tok[1], int(tok[2]), (), ()))
        elif tok[:1] == ["property"] and elements:
            e = elements[-1]
            if tok[1:2] == ["list"] and len(tok) == 5:
                elements[-1] = PlyElement(e.name, e.count, e.scalars, (*e.lists, (tok[4], tok[2], tok[3])))
            elif len(tok) == 3:
                elements[-1] = PlyElement(e.name, e.count, (*e.scalars, (tok[2], tok[1])), e.lists)
    return PlyHeader(fmt, tuple(elements), offset)


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
    for start in range(0, len(faces), FACE_CHUNK):  # a chunk at a time: stops at the first face with an area
        a, b, c = (vertices[faces[start:start + FACE_CHUNK, k]] for k in range(3))
        if (np.linalg.norm(np.cross(b - a, c - a), axis=1) > 0).any():
            return
    raise SceneError(scene_id, path, f"all {len(faces)} faces are degenerate (zero area)", field="face")


def broken_part(path: Path) -> str:
    """Where a PLY that cannot be read is broken: ``header``, or the first element (``element vertex``,
    ``element face``) whose rows a binary file is too short to hold (faces counted as triangles), else
    ``element data``."""
    header = read_header(path)
    if header is None:
        return "header"
    if header.format not in BYTE_ORDER:
        return "element data"
    offset, size = header.data_offset, path.stat().st_size
    for e in header.elements:
        types = [t for _, t in e.scalars] + [t for _, c, i in e.lists for t in (c, i)]
        if any(t not in PLY_TYPES for t in types):
            return "header"
        offset += e.count * (sum(_size(t) for _, t in e.scalars) + sum(_size(c) + 3 * _size(i) for _, c, i in e.lists))
        if size < offset:
            return f"element {e.name}"
    return "element data"


def _size(ply_type: str) -> int:
    return np.dtype(PLY_TYPES[ply_type]).itemsize
