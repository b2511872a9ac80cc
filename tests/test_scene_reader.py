"""The ScanNet++ reader on a real-layout scene written by hand (tests/scenes_by_hand.py, no project code)."""
from __future__ import annotations

import json
import shutil

import numpy as np
import open3d as o3d
import pytest
import trimesh
from click.testing import CliRunner
from PIL import Image
from scenes_by_hand import (
    CX,
    CY,
    DEPTH_MM,
    DEPTH_SIZE,
    DISTORTION,
    FX,
    FY,
    HEIGHT,
    WIDTH,
    frame_pixels,
    segments_anno,
    write_hand_scene,
    write_video,
)
from scipy.spatial.distance import cdist

from mosaic_cli import main
from mosaic_pipeline.errors import SceneError
from mosaic_pipeline.params import load_params
from mosaic_pipeline.scene.dslr import dslr_pinhole, read_dslr_cameras
from mosaic_pipeline.scene.geometry import project
from mosaic_pipeline.scene.iphone import extract_iphone_frames, read_depth
from mosaic_pipeline.scene.ply import _binary_triangles, read_header, read_mesh
from mosaic_pipeline.scene.scannetpp import load_scene, scene_summary
from mosaic_pipeline.synth import CATEGORIES, generate_scene, write_release_metadata

MIN_PSNR_DB = 30.0  # extracted JPEG vs the image encoded into the video


@pytest.fixture
def hand(tmp_path):
    return write_hand_scene(tmp_path / "release")


def test_mesh_and_instances(hand):
    scene = load_scene(hand.scene_dir)
    assert scene.scene_id == hand.scene_id and scene.source == "scannetpp"
    np.testing.assert_allclose(scene.vertices, hand.vertices)
    np.testing.assert_array_equal(scene.faces, hand.faces)
    np.testing.assert_array_equal(scene.vertex_colors, hand.colors)
    annotated = [b for b in hand.boxes if b.object_id is not None]
    assert set(scene.instances) == {b.object_id for b in annotated}  # instance ids are the objectIds
    for b in annotated:
        inst = scene.instances[b.object_id]
        assert inst.label == b.label
        np.testing.assert_array_equal(inst.vertex_ids, b.vertex_ids)
        np.testing.assert_array_equal(scene.vertex_instance[b.vertex_ids], b.object_id)
    assert (scene.vertex_instance[hand.box("crate").vertex_ids] == -1).all()  # unannotated stays background


def test_box_rotation_convention(hand):
    """R = reshape(normalizedAxes, 3, 3).T: its columns are the box axes, so the box corners are the mesh's."""
    scene = load_scene(hand.scene_dir)
    chair = hand.box("chair")
    box = scene.instances[chair.object_id].box
    yaw = np.deg2rad(chair.yaw_deg)
    np.testing.assert_allclose(box.rotation[:, 0], [np.cos(yaw), np.sin(yaw), 0.0], atol=1e-12)
    np.testing.assert_allclose(box.rotation[:, 1], [-np.sin(yaw), np.cos(yaw), 0.0], atol=1e-12)
    nearest = cdist(box.corners(), scene.vertices[chair.vertex_ids]).min(axis=1)
    assert nearest.max() < 1e-6  # float32 PLY precision


def test_frames_sorted_with_camera_and_paths(hand):
    scene = load_scene(hand.scene_dir)
    assert [f.frame_id for f in scene.frames] == ["frame_000000", "frame_000010", "frame_000020"]
    for f in scene.frames:
        cam = f.camera
        assert (cam.width, cam.height, cam.fx, cam.fy, cam.cx, cam.cy) == (WIDTH, HEIGHT, FX, FY, CX, CY)
        assert cam.model == "OPENCV" and cam.distortion == pytest.approx(DISTORTION)  # kept, not applied
        assert f.image_path == hand.scene_dir / "iphone/rgb" / f"{f.frame_id}.jpg" and f.image_path.is_file()
        assert f.depth_path == hand.scene_dir / "iphone/depth" / f"{f.frame_id}.png"


def test_pose_conventions(hand):
    """A point ahead of the camera has z > 0, the look-at target lands on the principal point, a point
    to the camera's right has larger u and a point above has smaller v."""
    scene = load_scene(hand.scene_dir)
    for hf in hand.frames:
        frame = scene.frame(f"frame_{hf.index:06d}")
        np.testing.assert_allclose(frame.center, hf.eye, atol=1e-9)
        forward = (hf.target - hf.eye) / np.linalg.norm(hf.target - hf.eye)
        right = np.cross(forward, [0.0, 0.0, 1.0])
        right /= np.linalg.norm(right)
        points = np.stack([hf.target, hf.target + 0.3 * right, hf.target + [0.0, 0.0, 0.3]])
        uv, z = project(frame.camera, frame.world_to_cam, points)
        assert (z > 0).all()
        np.testing.assert_allclose(uv[0], [CX, CY], atol=1e-6)
        assert uv[1, 0] > uv[0, 0] + 1 and uv[2, 1] < uv[0, 1] - 1


def test_read_depth_in_metres(hand):
    frame = load_scene(hand.scene_dir).frames[0]
    depth = read_depth(frame)
    assert depth.dtype == np.float32 and depth.shape == DEPTH_SIZE[::-1]
    np.testing.assert_allclose(depth, DEPTH_MM / 1000.0, rtol=1e-6)


def test_smallest_instance_wins(hand):
    """lamp (5 vertices) takes its vertices from table and chair; sofa ties table at 8 vertices and
    loses the shared ones to the lower objectId (table, 3)."""
    table, chair, crate = hand.box("table"), hand.box("chair"), hand.box("crate")
    anno = segments_anno(hand.scene_id, hand.boxes)
    lamp_vertices = [*table.vertex_ids[:4], chair.vertex_ids[0]]
    sofa_vertices = [*table.vertex_ids[4:], *crate.vertex_ids[:4]]
    for oid, label, vertices in ((9, "lamp", lamp_vertices), (5, "sofa", sofa_vertices)):
        group = json.loads(json.dumps(anno["segGroups"][1]))
        group.update(id=oid, objectId=oid, label=label, segments=[int(v) for v in vertices])
        anno["segGroups"].append(group)
    (hand.scene_dir / "scans/segments_anno.json").write_text(json.dumps(anno))
    scene = load_scene(hand.scene_dir)
    expected = {9: lamp_vertices, 3: table.vertex_ids[4:], 7: chair.vertex_ids[1:], 5: crate.vertex_ids[:4],
                1: hand.box("floor").vertex_ids}
    for oid, vertices in expected.items():
        np.testing.assert_array_equal(scene.instances[oid].vertex_ids, sorted(vertices))
    assert (scene.vertex_instance >= 0).sum() == sum(len(v) for v in expected.values())  # a partition


def test_segments_map_vertices_through_seg_indices(hand):
    """ScanNet-style segments (several vertices per segment id) give the same instances as per-vertex ids."""
    seg_of_vertex = (np.arange(len(hand.vertices)) // 4) * 10 + 3  # segment ids 3, 13, 23, ...
    (hand.scene_dir / "scans/segments.json").write_text(json.dumps({"segIndices": seg_of_vertex.tolist()}))
    anno = segments_anno(hand.scene_id, hand.boxes)
    for group in anno["segGroups"]:
        group["segments"] = sorted({int(seg_of_vertex[v]) for v in group["segments"]})
    (hand.scene_dir / "scans/segments_anno.json").write_text(json.dumps(anno))
    scene = load_scene(hand.scene_dir)
    for b in hand.boxes:
        if b.object_id is not None:
            np.testing.assert_array_equal(scene.instances[b.object_id].vertex_ids, b.vertex_ids)


def test_source_marker(hand):
    (hand.scene_dir.parent.parent / "metadata/source.txt").write_text("synthetic\n")
    assert load_scene(hand.scene_dir).source == "synthetic"


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(float) - b.astype(float)) ** 2)
    return float(10 * np.log10(255.0 ** 2 / mse))


def test_frames_extracted_from_video_when_rgb_folder_is_absent(hand):
    iphone = hand.scene_dir / "iphone"
    shutil.rmtree(iphone / "rgb")
    n_video = 25
    write_video(iphone / "rgb.mkv", n_video)
    scene = load_scene(hand.scene_dir)
    assert sorted(p.name for p in (iphone / "rgb").iterdir()) == [f"{f.frame_id}.jpg" for f in scene.frames]
    candidates = [frame_pixels(i) for i in range(n_video)]
    for f in scene.frames:
        got = np.asarray(Image.open(f.image_path).convert("RGB"))
        index = int(f.frame_id.split("_")[1])
        scores = [_psnr(got, c) for c in candidates]
        assert scores[index] > MIN_PSNR_DB and int(np.argmax(scores)) == index
    assert not [p for p in iphone.iterdir() if p.name.startswith(".")]  # no temporary leftovers


def test_extraction_past_the_end_of_the_video_fails_cleanly(hand):
    iphone = hand.scene_dir / "iphone"
    shutil.rmtree(iphone / "rgb")
    write_video(iphone / "rgb.mkv", 15)  # frame_000020 is registered but the video stops at 14
    with pytest.raises(SceneError, match="frame_000020 is beyond its end") as err:
        extract_iphone_frames(hand.scene_dir, ["frame_000000", "frame_000010", "frame_000020"], jpeg_quality=90)
    assert err.value.scene_id == hand.scene_id and err.value.path.name == "rgb.mkv"
    assert sorted(p.name for p in iphone.iterdir()) == ["colmap", "depth", "rgb.mkv"]  # nothing half-written


def test_dslr_cameras_fisheye_refused_until_undistorted(hand):
    colmap = hand.scene_dir / "dslr/colmap"
    colmap.mkdir(parents=True)
    (colmap / "cameras.txt").write_text("1 OPENCV_FISHEYE 1752 1168 790.0 791.0 876.0 584.0 0.01 -0.02 0.003 0.0\n")
    (colmap / "images.txt").write_text("1 1 0 0 0 0.5 -0.2 1.0 1 DSC00001.JPG\n\n")
    dslr = read_dslr_cameras(hand.scene_dir)
    assert dslr.cameras[1].model == "OPENCV_FISHEYE" and dslr.image_camera == {"DSC00001.JPG": 1}
    np.testing.assert_allclose(dslr.poses["DSC00001.JPG"][:3, 3], [0.5, -0.2, 1.0])
    with pytest.raises(SceneError, match="fisheye not supported, undistort first"):
        dslr_pinhole(dslr, 1)
    ns = hand.scene_dir / "dslr/nerfstudio"
    ns.mkdir(parents=True)
    (ns / "transforms_undistorted.json").write_text(json.dumps(
        {"camera_model": "PINHOLE", "w": 1752, "h": 1168, "fl_x": 700.5, "fl_y": 701.0, "cx": 876.0, "cy": 584.0,
         "frames": []}))
    cam = dslr_pinhole(read_dslr_cameras(hand.scene_dir), 1)
    assert (cam.width, cam.height, cam.fx, cam.fy, cam.model) == (1752, 1168, 700.5, 701.0, "PINHOLE")


def test_simple_pinhole_camera(hand):
    (hand.scene_dir / "iphone/colmap/cameras.txt").write_text(f"1 SIMPLE_PINHOLE {WIDTH} {HEIGHT} 55.5 31.0 23.0\n")
    cam = load_scene(hand.scene_dir).frames[0].camera
    assert (cam.fx, cam.fy, cam.cx, cam.cy, cam.model, cam.distortion) == (55.5, 55.5, 31.0, 23.0, "PINHOLE", ())


def test_cli_check_prints_summary(hand):
    result = CliRunner().invoke(main, ["scenes", "check", str(hand.scene_dir)])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary == scene_summary(load_scene(hand.scene_dir))
    assert summary["n_vertices"] == len(hand.vertices) and summary["n_faces"] == len(hand.faces)
    assert summary["labels"] == {"chair": 1, "floor": 1, "table": 1} and summary["n_instances"] == 3
    assert summary["n_frames"] == 3 and summary["image_size"] == [WIDTH, HEIGHT]


def test_cli_check_fails_on_a_bad_scene(hand):
    (hand.scene_dir / "scans/segments_anno.json").unlink()
    result = CliRunner().invoke(main, ["scenes", "check", str(hand.scene_dir)])
    assert result.exit_code == 1
    assert hand.scene_id in result.stderr and "segments_anno.json" in result.stderr


# ---- round trip on a generated synthetic scene (the generator writes the same layout) ----

SYNTH_SMALL = {"n_frames": 8, "image_width": 160, "image_height": 120, "depth_width": 256, "depth_height": 192}
NEAR_M = 0.1  # vertices closer than this to the camera are skipped
DEPTH_TOLERANCE_M = 0.03  # "agree with the rendered depth within a few cm"
MIN_AGREEMENT = 0.95  # share of first-surface vertices that must agree (the rest: depth-map quantization at corners)


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    params = load_params(overrides={"synthetic": SYNTH_SMALL}).synthetic
    root = tmp_path_factory.mktemp("synthetic")
    scene_dir = generate_scene(root, "synth_0000", seed=3, index=0, params=params)
    write_release_metadata(root, {"train": ["synth_0000"]})
    return load_scene(scene_dir), params


def test_synthetic_scene_round_trip(synthetic):
    scene, params = synthetic
    assert scene.source == "synthetic"
    ply = trimesh.load(scene.root / "scans/mesh_aligned_0.05.ply", file_type="ply", process=False)
    np.testing.assert_allclose(scene.vertices, ply.vertices)
    np.testing.assert_array_equal(scene.faces, ply.faces)
    groups = json.loads((scene.root / "scans/segments_anno.json").read_text())["segGroups"]
    assert {g["objectId"]: g["label"] for g in groups} == {i: inst.label for i, inst in scene.instances.items()}
    assert set(inst.label for inst in scene.instances.values()) <= set(CATEGORIES)
    expected_ids = [f"frame_{i * params.frame_stride:06d}" for i in range(params.n_frames)]
    assert [f.frame_id for f in scene.frames] == expected_ids
    for f in scene.frames:
        assert (f.camera.width, f.camera.height) == (params.image_width, params.image_height)
        assert f.depth_path is not None and read_depth(f).shape == (params.depth_height, params.depth_width)
    for inst in scene.instances.values():  # the box convention, on generated data: vertices lie in their box
        local = (scene.vertices[inst.vertex_ids] - inst.box.centroid) @ inst.box.rotation
        assert (np.abs(local) <= inst.box.axes_lengths / 2 + 1e-4).all(), inst.label


def _first_surface(scene, frame, points: np.ndarray) -> np.ndarray:
    """Points not hidden by the mesh from the camera centre (open3d ray casting, independent of the reader)."""
    caster = o3d.t.geometry.RaycastingScene()
    caster.add_triangles(o3d.core.Tensor(scene.vertices.astype(np.float32)),
                         o3d.core.Tensor(scene.faces.astype(np.uint32)))
    offsets = points - frame.center
    dist = np.linalg.norm(offsets, axis=1)
    rays = np.hstack([np.broadcast_to(frame.center, points.shape), offsets / dist[:, None]]).astype(np.float32)
    t_hit = caster.cast_rays(o3d.core.Tensor(rays))["t_hit"].numpy()
    return t_hit >= dist - 1e-3 * (1 + dist)


def test_mesh_projects_onto_the_rendered_depth(synthetic):
    """Mesh vertices projected with the colmap pose land where the depth PNG has their depth."""
    scene, params = synthetic
    agree, total = 0, 0
    for frame in scene.frames:
        depth = read_depth(frame)
        cam = frame.camera.scaled(depth.shape[1], depth.shape[0])
        uv, z = project(cam, frame.world_to_cam, scene.vertices)
        inside = (z > NEAR_M) & (uv[:, 0] >= 1) & (uv[:, 1] >= 1) \
            & (uv[:, 0] < cam.width - 1) & (uv[:, 1] < cam.height - 1)
        idx = np.flatnonzero(inside)
        idx = idx[_first_surface(scene, frame, scene.vertices[idx])]
        col, row = np.floor(uv[idx]).astype(int).T
        # the vertex's pixel or one of its 8 neighbours holds its depth (a vertex sits on pixel borders at corners)
        diffs = np.stack([np.abs(depth[row + dr, col + dc] - z[idx]) for dr in (-1, 0, 1) for dc in (-1, 0, 1)])
        agree += int((diffs.min(axis=0) < DEPTH_TOLERANCE_M).sum())
        total += idx.size
    assert total > 100
    assert agree / total >= MIN_AGREEMENT, f"{agree}/{total} first-surface vertices agree with the depth PNGs"


def test_binary_ply_read_directly_equals_trimesh(tmp_path):
    """The numpy fast path (binary triangles) gives trimesh's arrays, with extra vertex properties, big-endian
    too; ASCII goes through trimesh."""
    rng = np.random.default_rng(0)
    xyz, rgb = rng.normal(size=(50, 3)).astype(np.float32), rng.integers(0, 256, (50, 3)).astype(np.uint8)
    faces = rng.integers(0, 50, (80, 3))
    for fmt, order in (("binary_little_endian", "<"), ("binary_big_endian", ">")):
        path = tmp_path / f"{fmt}.ply"
        header = (f"ply\nformat {fmt} 1.0\nelement vertex 50\nproperty float x\nproperty float y\nproperty float z\n"
                  "property float nx\nproperty uchar red\nproperty uchar green\nproperty uchar blue\nproperty uchar alpha\n"
                  "element face 80\nproperty list uchar int vertex_indices\nend_header\n")
        v = np.zeros(50, dtype=[("xyz", order + "f4", 3), ("nx", order + "f4"), ("rgba", "u1", 4)])
        v["xyz"], v["rgba"][:, :3], v["rgba"][:, 3] = xyz, rgb, 255
        f = np.zeros(80, dtype=[("n", "u1"), ("idx", order + "i4", 3)])
        f["n"], f["idx"] = 3, faces
        path.write_bytes(header.encode() + v.tobytes() + f.tobytes())
        assert _binary_triangles(path, read_header(path)) is not None
        mesh, ref = read_mesh(path, "s"), trimesh.load(path, file_type="ply", process=False)
        np.testing.assert_array_equal(mesh.vertices, ref.vertices)
        np.testing.assert_array_equal(mesh.faces, ref.faces)
        np.testing.assert_array_equal(mesh.colors, np.asarray(ref.visual.vertex_colors)[:, :3])
    ascii_path = tmp_path / "ascii.ply"
    ascii_path.write_text("ply\nformat ascii 1.0\nelement vertex 3\nproperty float x\nproperty float y\n"
                          "property float z\nproperty uchar red\nproperty uchar green\nproperty uchar blue\n"
                          "element face 1\nproperty list uchar int vertex_indices\nend_header\n"
                          "0 0 0 1 2 3\n1 0 0 1 2 3\n0 1 0 1 2 3\n3 0 1 2\n")
    assert _binary_triangles(ascii_path, read_header(ascii_path)) is None
    assert read_mesh(ascii_path, "s").faces.tolist() == [[0, 1, 2]]
