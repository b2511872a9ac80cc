"""Every bad input of issue 3 gives a SceneError naming the scene, the file and (where it applies) the
field; a bad scene fails alone. Each case corrupts a fresh copy of the hand-written scene."""
from __future__ import annotations

import json
import shutil
from typing import Callable

import numpy as np
import pytest
from PIL import Image
from scenes_by_hand import HandScene, segments_anno, write_hand_scene, write_ply, write_video

from mosaic_pipeline.errors import SceneError
from mosaic_pipeline.scene.scannetpp import load_scene

MESH = "scans/mesh_aligned_0.05.ply"
ANNO = "scans/segments_anno.json"
IMAGES = "iphone/colmap/images.txt"


def _rewrite_mesh(h: HandScene, vertices=None, faces=None) -> None:
    write_ply(h.scene_dir / MESH, h.vertices if vertices is None else vertices, h.colors,
              h.faces if faces is None else faces)


def _edit_anno(h: HandScene, edit: Callable[[dict], None]) -> None:
    anno = segments_anno(h.scene_id, h.boxes)
    edit(anno)
    (h.scene_dir / ANNO).write_text(json.dumps(anno))


def _edit_image_line(h: HandScene, frame_name: str, edit: Callable[[list[str]], None]) -> None:
    path = h.scene_dir / IMAGES
    lines = path.read_text().splitlines()
    for i, line in enumerate(lines):
        if line.endswith(frame_name):
            tok = line.split()
            edit(tok)
            lines[i] = " ".join(tok)
    path.write_text("\n".join(lines) + "\n")


def _truncate(h: HandScene) -> None:
    data = (h.scene_dir / MESH).read_bytes()
    (h.scene_dir / MESH).write_bytes(data[: len(data) - 40])


def _truncate_in_vertices(h: HandScene) -> None:
    data = (h.scene_dir / MESH).read_bytes()
    (h.scene_dir / MESH).write_bytes(data[: data.index(b"end_header\n") + 11 + 15 * 5])  # 5 of 32 vertex rows


def _point_cloud(h: HandScene) -> None:
    """A PLY of vertex positions and colours only: no face element at all."""
    header = ("ply\nformat ascii 1.0\nelement vertex 3\nproperty float x\nproperty float y\nproperty float z\n"
              "property uchar red\nproperty uchar green\nproperty uchar blue\nend_header\n")
    (h.scene_dir / MESH).write_text(header + "0 0 0 9 9 9\n1 0 0 9 9 9\n0 1 0 9 9 9\n")


def _video_only(h: HandScene, content: bytes | int) -> None:
    """Frames only in iphone/rgb.mkv: ``content`` bytes, or a real video of that many frames."""
    shutil.rmtree(h.scene_dir / "iphone/rgb")
    if isinstance(content, int):
        write_video(h.scene_dir / "iphone/rgb.mkv", content)
    else:
        (h.scene_dir / "iphone/rgb.mkv").write_bytes(content)


def _scale_quaternion(tok: list[str]) -> None:
    tok[1:5] = [repr(1.5 * float(v)) for v in tok[1:5]]


def _drop_colours(h: HandScene) -> None:
    path = h.scene_dir / MESH
    header = ("ply\nformat ascii 1.0\nelement vertex 3\nproperty float x\nproperty float y\nproperty float z\n"
              "element face 1\nproperty list uchar int vertex_indices\nend_header\n")
    path.write_text(header + "0 0 0\n1 0 0\n0 1 0\n3 0 1 2\n")


def _degenerate_faces(h: HandScene) -> None:
    faces = h.faces.copy()
    faces[:, 2] = faces[:, 1]
    _rewrite_mesh(h, faces=faces)


def _nan_vertex(h: HandScene) -> None:
    vertices = h.vertices.copy()
    vertices[5, 1] = np.nan
    _rewrite_mesh(h, vertices=vertices)


def _faces_out_of_range(h: HandScene) -> None:
    faces = h.faces.copy()
    faces[7] = [0, 1, len(h.vertices) + 100]
    _rewrite_mesh(h, faces=faces)


def _vertex_ids_out_of_range(anno: dict) -> None:
    anno["segGroups"][1]["segments"].append(10_000)


def _first_group(key: str, value) -> Callable[[dict], None]:
    def edit(anno: dict) -> None:
        anno["segGroups"][0][key] = value
    return edit


def _obb(key: str, value) -> Callable[[dict], None]:
    def edit(anno: dict) -> None:
        if value is None:
            del anno["segGroups"][1]["obb"][key]
        else:
            anno["segGroups"][1]["obb"][key] = value
    return edit


def _wrong_image_size(h: HandScene) -> None:
    Image.new("RGB", (32, 24)).save(h.scene_dir / "iphone/rgb/frame_000010.jpg")


# (case id, corruption, name of the file in the error (the scene folder for missing files),
#  text the message must contain)
CASES = [
    ("missing segments_anno", lambda h: (h.scene_dir / ANNO).unlink(), "0a1b2c3d4e", "segments_anno.json"),
    ("missing rgb and video", lambda h: shutil.rmtree(h.scene_dir / "iphone/rgb"), "0a1b2c3d4e", "iphone/rgb.mkv"),
    ("truncated ply", _truncate, "mesh_aligned_0.05.ply", "field 'element face': unreadable or truncated PLY"),
    ("ply truncated in vertices", _truncate_in_vertices, "mesh_aligned_0.05.ply", "field 'element vertex'"),
    ("ply with vertex colours only", _point_cloud, "mesh_aligned_0.05.ply", "field 'face': the mesh has no faces"),
    ("not a ply", lambda h: (h.scene_dir / MESH).write_bytes(b"\x00garbage"), "mesh_aligned_0.05.ply", "unreadable"),
    ("faces out of range", _faces_out_of_range, "mesh_aligned_0.05.ply", "face.vertex_indices"),
    ("only degenerate faces", _degenerate_faces, "mesh_aligned_0.05.ply", "degenerate"),
    ("no faces", lambda h: _rewrite_mesh(h, faces=np.zeros((0, 3), int)), "mesh_aligned_0.05.ply", "no faces"),
    ("nan vertex", _nan_vertex, "mesh_aligned_0.05.ply", "non-finite vertices (first: vertex 5)"),
    ("no vertex colours", _drop_colours, "mesh_aligned_0.05.ply", "no vertex colours"),
    ("segIndices length", lambda h: (h.scene_dir / "scans/segments.json").write_text('{"segIndices": [0, 1, 2]}'),
     "segments.json", "field 'segIndices'"),
    ("nan pose", lambda h: _edit_image_line(h, "frame_000010.jpg", lambda t: t.__setitem__(6, "nan")),
     "images.txt", "frame_000010.jpg"),
    ("non-rigid pose", lambda h: _edit_image_line(h, "frame_000000.jpg", _scale_quaternion),
     "images.txt", "non-rigid pose: quaternion norm 1.5"),
    ("malformed image line", lambda h: _edit_image_line(h, "frame_000020.jpg", lambda t: t.__setitem__(3, "x")),
     "images.txt", "field 'line 3'"),
    ("fisheye iphone camera", lambda h: (h.scene_dir / "iphone/colmap/cameras.txt").write_text(
        "1 OPENCV_FISHEYE 64 48 50 50 32 24 0 0 0 0\n"), "cameras.txt", "fisheye not supported"),
    ("image of the wrong size", _wrong_image_size, "frame_000010.jpg", "field 'size'"),
    ("registered frame without image", lambda h: (h.scene_dir / "iphone/rgb/frame_000020.jpg").unlink(),
     "rgb", "field 'frame_000020.jpg'"),
    ("colmap without images", lambda h: (h.scene_dir / IMAGES).write_text("# IMAGE_ID, QW, ...\n"), "images.txt",
     "field 'images': no registered frames"),
    ("unreadable video", lambda h: _video_only(h, b"\x1aE\xdf\xa3 not a matroska file"), "rgb.mkv",
     "field 'video stream': undecodable video"),
    ("video shorter than the frames", lambda h: _video_only(h, 15), "rgb.mkv",
     "field 'frames': the video has 15 frames; registered frame frame_000020 is beyond its end"),
    ("vertex ids out of range", lambda h: _edit_anno(h, _vertex_ids_out_of_range), "segments_anno.json",
     "segGroups[1] (objectId 3).segments"),
    ("empty scene", lambda h: _edit_anno(h, lambda a: a.__setitem__("segGroups", [])), "segments_anno.json",
     "empty scene"),
    ("no annotated vertex", lambda h: _edit_anno(h, lambda a: [g.__setitem__("segments", []) for g in a["segGroups"]]),
     "segments_anno.json", "empty scene"),
    ("label not a string", lambda h: _edit_anno(h, _first_group("label", 7)), "segments_anno.json",
     "segGroups[0] (objectId 1).label"),
    ("duplicate objectId", lambda h: _edit_anno(h, _first_group("objectId", 3)), "segments_anno.json",
     "objectId 3 appears twice"),
    ("missing obb field", lambda h: _edit_anno(h, _obb("axesLengths", None)), "segments_anno.json",
     "segGroups[1] (objectId 3).obb.axesLengths"),
    ("nan obb", lambda h: _edit_anno(h, _obb("centroid", [0.0, float("nan"), 1.0])), "segments_anno.json",
     "obb.centroid"),
    ("sheared obb axes", lambda h: _edit_anno(h, _obb("normalizedAxes", [1, 0, 0, 1, 1, 0, 0, 0, 1])),
     "segments_anno.json", "not orthonormal"),
    ("invalid json", lambda h: (h.scene_dir / ANNO).write_text('{"segGroups": ['), "segments_anno.json",
     "field 'line 1 column 16': unreadable JSON"),
    ("unknown source", lambda h: (h.scene_dir.parent.parent / "metadata/source.txt").write_text("mars\n"),
     "source.txt", "unknown source"),
]


@pytest.mark.parametrize("corrupt, file_name, text", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_names_scene_file_and_field(tmp_path, corrupt, file_name, text):
    hand = write_hand_scene(tmp_path / "release")
    corrupt(hand)
    with pytest.raises(SceneError) as err:
        load_scene(hand.scene_dir)
    message = str(err.value)
    assert err.value.scene_id == hand.scene_id and f"scene {hand.scene_id}" in message
    assert err.value.path is not None and err.value.path.name == file_name
    assert err.value.field and f"field '{err.value.field}'" in message
    assert text in message, message
    assert sorted(p.name for p in hand.scene_dir.iterdir()) == ["iphone", "scans"]  # nothing written beside


@pytest.mark.parametrize("content, text", [
    (b"\x1aE\xdf\xa3 not a matroska file", "field 'video stream': undecodable video"),
    (15, "field 'frames': the video has about 15 frames; registered frame frame_000020 is beyond its end"),
], ids=["unreadable video", "video shorter than the frames"])
def test_probing_a_bad_video_names_it(tmp_path, content, text):
    """What `mosaic scenes check` does: the video is probed, not decoded, and the same faults are named."""
    hand = write_hand_scene(tmp_path / "release")
    _video_only(hand, content)
    with pytest.raises(SceneError, match=text) as err:
        load_scene(hand.scene_dir, extract_frames=False)
    assert err.value.path.name == "rgb.mkv" and not (hand.scene_dir / "iphone/rgb").exists()


def test_missing_files_are_listed_together(tmp_path):
    hand = write_hand_scene(tmp_path / "release")
    (hand.scene_dir / ANNO).unlink()
    (hand.scene_dir / IMAGES).unlink()
    with pytest.raises(SceneError, match=r"missing required files: scans/segments_anno.json, iphone/colmap/images.txt"):
        load_scene(hand.scene_dir)


def test_a_bad_scene_fails_alone(tmp_path):
    good = write_hand_scene(tmp_path / "release", "0000000001")
    bad = write_hand_scene(tmp_path / "release", "0000000002")
    _truncate(bad)
    with pytest.raises(SceneError, match="0000000002"):
        load_scene(bad.scene_dir)
    assert len(load_scene(good.scene_dir).instances) == 3
