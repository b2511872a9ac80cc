"""The ScanNet++ scene reader: one scene folder of a release (``<release>/data/<scene_id>/``) -> Scene.

Real releases and the synthetic writer share this layout (docs/scenes.md), so this is the only reader.
Every problem with a scene's files is a SceneError naming the scene, the file and, where it applies,
the field; nothing else is affected. The release-level files it consults, both optional:
``metadata/instance_classes.txt`` (the label vocabulary) and ``metadata/source.txt`` (``scannetpp``
or ``synthetic``; absent means ``scannetpp``).
"""
from __future__ import annotations

from collections import Counter
from pathlib import Path

from ..errors import SceneError
from ..params import ScanNetppParams, default_params
from .annotations import read_instances, read_segments, read_vocabulary
from .iphone import read_iphone_frames
from .layout import IPHONE_RGB_DIR, IPHONE_RGB_VIDEO, MESH, REQUIRED, SEGMENTS, SEGMENTS_ANNO
from .ply import read_mesh
from .types import Scene

VOCABULARY = Path("metadata/instance_classes.txt")
SOURCE = Path("metadata/source.txt")
SOURCES = ("scannetpp", "synthetic")


def release_root(scene_dir: Path) -> Path:
    """``<release>`` of ``<release>/data/<scene_id>``."""
    return Path(scene_dir).parent.parent


def validate_scene_files(scene_dir: Path) -> None:
    """Raise one SceneError listing every required file the scene lacks (RGB: ``iphone/rgb/`` or ``rgb.mkv``)."""
    scene_dir = Path(scene_dir)
    if not scene_dir.is_dir():
        raise SceneError(scene_dir.name, scene_dir, "scene folder not found")
    missing = [str(rel) for rel in REQUIRED if not (scene_dir / rel).is_file()]
    if not (scene_dir / IPHONE_RGB_DIR).is_dir() and not (scene_dir / IPHONE_RGB_VIDEO).is_file():
        missing.append(f"{IPHONE_RGB_DIR}/ or {IPHONE_RGB_VIDEO}")
    if missing:
        raise SceneError(scene_dir.name, scene_dir, f"missing required files: {', '.join(missing)}")


def load_scene(scene_dir: Path, *, label_vocabulary: set[str] | None = None,
               params: ScanNetppParams | None = None) -> Scene:
    """Read and validate a scene. Labels are checked against ``label_vocabulary`` or, when None, the
    release's ``metadata/instance_classes.txt`` if it exists. RGB frames are extracted from
    ``iphone/rgb.mkv`` first when ``iphone/rgb/`` is absent."""
    scene_dir = Path(scene_dir)
    params = params or default_params().scannetpp
    validate_scene_files(scene_dir)
    scene_id = scene_dir.name
    mesh = read_mesh(scene_dir / MESH, scene_id)
    seg_indices = read_segments(scene_dir / SEGMENTS, scene_id, len(mesh.vertices))
    vocabulary = label_vocabulary if label_vocabulary is not None else _release_vocabulary(scene_dir)
    instances, vertex_instance = read_instances(scene_dir / SEGMENTS_ANNO, scene_id, seg_indices, vocabulary,
                                                params.box_axes_tolerance)
    frames = read_iphone_frames(scene_dir, params)
    return Scene(scene_id, scene_dir, mesh.vertices, mesh.faces, mesh.colors, vertex_instance, instances, frames,
                 source=read_source(scene_dir))


def _release_vocabulary(scene_dir: Path) -> set[str] | None:
    path = release_root(scene_dir) / VOCABULARY
    return read_vocabulary(path) if path.is_file() else None


def read_source(scene_dir: Path) -> str:
    """``scannetpp`` or ``synthetic``, from the release's ``metadata/source.txt`` (absent: ``scannetpp``)."""
    path = release_root(scene_dir) / SOURCE
    if not path.is_file():
        return "scannetpp"
    source = path.read_text().strip()
    if source not in SOURCES:
        raise SceneError(Path(scene_dir).name, path, f"unknown source {source!r}; expected one of {SOURCES}")
    return source


def scene_summary(scene: Scene) -> dict:
    """JSON-able counts of a loaded scene (what ``mosaic scenes check`` prints)."""
    first = scene.frames[0].camera
    return {
        "scene_id": scene.scene_id,
        "source": scene.source,
        "n_vertices": int(len(scene.vertices)),
        "n_faces": int(len(scene.faces)),
        "n_instances": len(scene.instances),
        "labels": dict(sorted(Counter(inst.label for inst in scene.instances.values()).items())),
        "n_frames": len(scene.frames),
        "image_size": [first.width, first.height],
    }
