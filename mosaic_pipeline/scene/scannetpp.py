"""The ScanNet++ scene reader: one scene folder of a release (``<release>/data/<scene_id>/``) -> Scene.

Real releases and the synthetic writer share this layout (docs/scannetpp.md), so this is the only reader.
Every problem with a scene's files is a SceneError naming the scene, the file and, where it applies,
the field; nothing else is affected. The release-level files it consults, all optional: the label
mapping's map file and class list (``scannetpp.label_mapping``, :mod:`.labels`) and
``metadata/source.txt`` (``scannetpp`` or ``synthetic``; absent means ``scannetpp``).
"""
from __future__ import annotations

from collections import Counter
from pathlib import Path

from ..errors import FileInputError, SceneError
from ..params import ScanNetppParams, default_params
from .annotations import read_instances, read_segments
from .iphone import read_iphone_frames
from .labels import LabelMapping, LabelStatus, release_label_mapping
from .layout import IPHONE_RGB_DIR, IPHONE_RGB_VIDEO, MESH, REQUIRED, SEGMENTS, SEGMENTS_ANNO
from .ply import read_mesh
from .types import Scene

SOURCE = Path("metadata/source.txt")
SOURCES = ("scannetpp", "synthetic")


def release_root(scene_dir: Path) -> Path:
    """``<release>`` of ``<release>/data/<scene_id>``."""
    return Path(scene_dir).parent.parent


def validate_scene_files(scene_dir: Path) -> None:
    """Raise one SceneError listing every required file the scene lacks (RGB: ``iphone/rgb/`` or ``rgb.mkv``)."""
    scene_dir = Path(scene_dir)
    if not scene_dir.is_dir():
        raise SceneError(scene_dir.name, scene_dir, "scene folder not found", field="scene folder")
    missing = [str(rel) for rel in REQUIRED if not (scene_dir / rel).is_file()]
    if not (scene_dir / IPHONE_RGB_DIR).is_dir() and not (scene_dir / IPHONE_RGB_VIDEO).is_file():
        missing.append(f"{IPHONE_RGB_DIR}/ or {IPHONE_RGB_VIDEO}")
    if missing:
        raise SceneError(scene_dir.name, scene_dir, f"missing required files: {', '.join(missing)}",
                         field="required files")


def load_scene(scene_dir: Path, *, params: ScanNetppParams | None = None, label_mapping: LabelMapping | None = None,
               extract_frames: bool = True) -> Scene:
    """Read and validate a scene. Labels go through ``label_mapping`` (default: the release's, from
    ``params.label_mapping``). RGB frames are extracted from ``iphone/rgb.mkv`` first when ``iphone/rgb/``
    is absent; with ``extract_frames=False`` the video is only probed (``mosaic scenes check``)."""
    scene_dir = Path(scene_dir)
    params = params or default_params().scannetpp
    validate_scene_files(scene_dir)
    scene_id = scene_dir.name
    mapping = label_mapping if label_mapping is not None else scene_label_mapping(scene_dir, params)
    mesh = read_mesh(scene_dir / MESH, scene_id)
    seg_indices = read_segments(scene_dir / SEGMENTS, scene_id, len(mesh.vertices))
    instances, vertex_instance, dropped = read_instances(scene_dir / SEGMENTS_ANNO, scene_id, seg_indices, mapping,
                                                         params.box_axes_tolerance)
    frames = read_iphone_frames(scene_dir, params, extract=extract_frames)
    return Scene(scene_id, scene_dir, mesh.vertices, mesh.faces, mesh.colors, vertex_instance, instances, frames,
                 source=read_source(scene_dir), dropped=dropped)


def scene_label_mapping(scene_dir: Path, params: ScanNetppParams) -> LabelMapping:
    """The label mapping of the scene's release; a bad map file or class list is a SceneError of the scene."""
    try:
        return release_label_mapping(release_root(scene_dir), params.label_mapping)
    except FileInputError as exc:
        raise SceneError(Path(scene_dir).name, exc.path, exc.message, field=exc.field) from exc


def read_source(scene_dir: Path) -> str:
    """``scannetpp`` or ``synthetic``, from the release's ``metadata/source.txt`` (absent: ``scannetpp``)."""
    path = release_root(scene_dir) / SOURCE
    if not path.is_file():
        return "scannetpp"
    source = path.read_text().strip()
    if source not in SOURCES:
        raise SceneError(Path(scene_dir).name, path, f"unknown source {source!r}; expected one of {SOURCES}",
                         field="line 1")
    return source


def scene_summary(scene: Scene) -> dict:
    """JSON-able counts of a loaded scene (what ``mosaic scenes check`` prints). ``labels`` counts the
    instances per mapped label; ``label_status`` the segGroups per LabelStatus; ``no_class_labels`` per
    status that is no class (unlisted, dropped, unmapped), the raw labels of those segGroups."""
    first = scene.frames[0].camera
    groups = [(inst.label_orig, inst.status) for inst in scene.instances.values()]
    groups += [(d.label_orig, d.status) for d in scene.dropped.values()]
    status = Counter(s.value for _, s in groups)
    no_class = {s.value: dict(sorted(Counter(raw for raw, t in groups if t is s).items()))
                for s in LabelStatus if not s.is_class}
    return {
        "scene_id": scene.scene_id,
        "source": scene.source,
        "n_vertices": int(len(scene.vertices)),
        "n_faces": int(len(scene.faces)),
        "n_instances": len(scene.instances),
        "labels": dict(sorted(Counter(inst.label for inst in scene.instances.values()).items())),
        "label_status": {s.value: status.get(s.value, 0) for s in LabelStatus},
        "no_class_labels": no_class,
        "n_frames": len(scene.frames),
        "image_size": [first.width, first.height],
    }
